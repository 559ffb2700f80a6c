// ThingsBoard OTA (M3): the fw_* attributes, the chunk topics and the download state machine.
#include <string.h>

#include "check.h"
#include "iotchat_tb_ota.h"

using namespace iotchat;

static const char kMd5[] = "0123456789abcdef0123456789ABCDEF";

static TbFwParse parse(const char* json, TbFirmware* fw, const char** why) {
  return tbParseFirmware(json, strlen(json), fw, why);
}

static TbFirmware target(const char* version, uint32_t size) {
  TbFirmware fw = {};
  strcpy(fw.title, "iotchat-m3");
  strcpy(fw.version, version);
  fw.size = size;
  strcpy(fw.checksum, kMd5);
  fw.algo = TB_FW_MD5;
  return fw;
}

TEST(tb_fw_attributes_flat_and_shared) {
  TbFirmware fw;
  const char* why = "";
  CHECK_EQ(parse("{\"fw_title\":\"iotchat-m3\",\"fw_version\":\"2.0.0\",\"fw_size\":3000,"
                 "\"fw_checksum\":\"0123456789abcdef0123456789ABCDEF\",\"fw_checksum_algorithm\":\"MD5\"}",
                 &fw, &why), TB_FW_OK);
  CHECK_STR(fw.title, "iotchat-m3");
  CHECK_STR(fw.version, "2.0.0");
  CHECK_EQ(fw.size, 3000);
  CHECK_EQ(fw.algo, TB_FW_MD5);
  char sha[200];
  snprintf(sha, sizeof sha, "{\"shared\":{\"fw_checksum_algorithm\":\"SHA256\",\"fw_size\":1,"
           "\"fw_checksum\":\"%s%s\",\"fw_version\":\"3\",\"fw_title\":\"t\",\"interval\":500}}", kMd5, kMd5);
  CHECK_EQ(parse(sha, &fw, &why), TB_FW_OK);
  CHECK_EQ(fw.algo, TB_FW_SHA256);
  CHECK_EQ(strlen(fw.checksum), 64);
}

TEST(tb_fw_attributes_absent_partial_and_bad) {
  TbFirmware fw;
  const char* why = "";
  CHECK_EQ(parse("{\"interval\":500}", &fw, &why), TB_FW_ABSENT);
  CHECK_EQ(parse("{\"fw_version\":\"0.1.0\",\"ip\":\"1.2.3.4\"}", &fw, &why), TB_FW_ABSENT);
  CHECK_EQ(parse("{\"fw_version\":\"2\",\"fw_checksum\":\"x\"}", &fw, &why), TB_FW_PARTIAL);
  struct Case { const char* name; const char* json; };
  static const Case bad[] = {
      {"CRC32", "{\"fw_title\":\"t\",\"fw_version\":\"2\",\"fw_size\":1,\"fw_checksum\":\"0123456789abcdef0123456789abcdef\",\"fw_checksum_algorithm\":\"CRC32\"}"},
      {"short md5", "{\"fw_title\":\"t\",\"fw_version\":\"2\",\"fw_size\":1,\"fw_checksum\":\"0123\",\"fw_checksum_algorithm\":\"MD5\"}"},
      {"non-hex", "{\"fw_title\":\"t\",\"fw_version\":\"2\",\"fw_size\":1,\"fw_checksum\":\"0123456789abcdef0123456789abcdeg\",\"fw_checksum_algorithm\":\"MD5\"}"},
      {"size 0", "{\"fw_title\":\"t\",\"fw_version\":\"2\",\"fw_size\":0,\"fw_checksum\":\"0123456789abcdef0123456789abcdef\",\"fw_checksum_algorithm\":\"MD5\"}"},
      {"size negative", "{\"fw_title\":\"t\",\"fw_version\":\"2\",\"fw_size\":-1,\"fw_checksum\":\"0123456789abcdef0123456789abcdef\",\"fw_checksum_algorithm\":\"MD5\"}"},
      {"version with space", "{\"fw_title\":\"t\",\"fw_version\":\"2 0\",\"fw_size\":1,\"fw_checksum\":\"0123456789abcdef0123456789abcdef\",\"fw_checksum_algorithm\":\"MD5\"}"},
      {"title not a string", "{\"fw_title\":7,\"fw_version\":\"2\",\"fw_size\":1,\"fw_checksum\":\"0123456789abcdef0123456789abcdef\",\"fw_checksum_algorithm\":\"MD5\"}"},
      {"version over 32", "{\"fw_title\":\"t\",\"fw_version\":\"0123456789abcdef0123456789abcdefX\",\"fw_size\":1,\"fw_checksum\":\"0123456789abcdef0123456789abcdef\",\"fw_checksum_algorithm\":\"MD5\"}"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    why = nullptr;
    if (parse(bad[i].json, &fw, &why) != TB_FW_BAD || !why) check::fail(__FILE__, __LINE__, bad[i].name);
  }
}

TEST(tb_fw_chunk_topics) {
  uint32_t id = 0, n = 0;
  CHECK(tbParseChunkTopic("v2/fw/response/3/chunk/17", &id, &n));
  CHECK_EQ(id, 3);
  CHECK_EQ(n, 17);
  CHECK(!tbParseChunkTopic("v2/fw/response/3/chunk/", &id, &n));
  CHECK(!tbParseChunkTopic("v2/fw/response/3/chunk/1x", &id, &n));
  CHECK(!tbParseChunkTopic("v2/fw/response/x/chunk/1", &id, &n));
  CHECK(!tbParseChunkTopic("v2/fw/response/99999999999/chunk/1", &id, &n));
  CHECK(!tbParseChunkTopic("v1/devices/me/attributes", &id, &n));
  char topic[40];
  CHECK(tbChunkRequestTopic(topic, sizeof topic, 3, 17));
  CHECK_STR(topic, "v2/fw/request/3/chunk/17");
  CHECK(!tbChunkRequestTopic(topic, 10, 3, 17));
}

TEST(tb_fw_state_json) {
  char out[160];
  CHECK(tbFwStateJson(out, sizeof out, FW_DOWNLOADING, nullptr) > 0);
  CHECK_STR(out, "{\"fw_state\":\"DOWNLOADING\"}");
  CHECK(tbFwStateJson(out, sizeof out, FW_FAILED, "bad \"sum\"") > 0);
  CHECK_STR(out, "{\"fw_state\":\"FAILED\",\"fw_error\":\"bad ?sum?\"}");
  CHECK_EQ(tbFwStateJson(out, 10, FW_UPDATED, nullptr), 0);
  CHECK(tbCurrentFwJson(out, sizeof out, "iotchat-m3", "1.0.0") > 0);
  CHECK_STR(out, "{\"current_fw_title\":\"iotchat-m3\",\"current_fw_version\":\"1.0.0\"}");
}

TEST(tb_ota_offers) {
  TbOta ota;
  CHECK_EQ(ota.offer(target("1.0.0", 10), "iotchat-m3", "1.0.0"), TbOta::OFFER_UP_TO_DATE);
  TbFirmware other = target("2.0.0", 10);
  strcpy(other.title, "someone-else");
  CHECK_EQ(ota.offer(other, "iotchat-m3", "1.0.0"), TbOta::OFFER_WRONG_TITLE);
  CHECK_EQ(ota.offer(target("2.0.0", 10), "iotchat-m3", "1.0.0"), TbOta::OFFER_START);
  CHECK(ota.downloading());
  // The same target again (attributes re-read after a reconnect): the download goes on.
  CHECK_EQ(ota.offer(target("2.0.0", 10), "iotchat-m3", "1.0.0"), TbOta::OFFER_IGNORED);
  uint32_t id = ota.requestId();
  CHECK_EQ(ota.offer(target("3.0.0", 10), "iotchat-m3", "1.0.0"), TbOta::OFFER_START);
  CHECK(ota.requestId() != id);  // answers to the old requests are stale
  ota.fail();
  CHECK_EQ(ota.offer(target("3.0.0", 10), "iotchat-m3", "1.0.0"), TbOta::OFFER_IGNORED);
  CHECK_EQ(ota.offer(target("4.0.0", 10), "iotchat-m3", "1.0.0"), TbOta::OFFER_START);
}

// Downloads 2500 bytes in 1024-byte chunks: 0, 1, then the last (452 bytes).
TEST(tb_ota_chunks_in_order_with_the_last_one_apart) {
  TbOta ota;
  uint32_t n = 99;
  CHECK_EQ(ota.offer(target("2.0.0", 2500), "iotchat-m3", "1.0.0"), TbOta::OFFER_START);
  CHECK(!ota.pollRequest(&n));  // offline
  ota.onConnected();
  CHECK_EQ(ota.chunkCount(), 3);
  CHECK_EQ(ota.chunkLength(2), 452);
  CHECK(ota.pollRequest(&n));
  CHECK_EQ(n, 0);
  ota.requested(100);
  CHECK(!ota.pollRequest(&n));  // one request at a time
  uint32_t id = ota.requestId();
  CHECK_EQ(ota.handleChunk(id, 1, 1024, 110), TbOta::CHUNK_STALE);      // not asked for
  CHECK_EQ(ota.handleChunk(id + 1, 0, 1024, 110), TbOta::CHUNK_STALE);  // another download
  CHECK_EQ(ota.handleChunk(id, 0, 1024, 110), TbOta::CHUNK_WRITE);
  CHECK_EQ(ota.handleChunk(id, 0, 1024, 111), TbOta::CHUNK_STALE);      // a duplicate
  ota.chunkWritten();
  CHECK(ota.pollRequest(&n));
  CHECK_EQ(n, 1);
  ota.requested(120);
  CHECK_EQ(ota.handleChunk(id, 1, 1024, 130), TbOta::CHUNK_WRITE);
  ota.chunkWritten();
  CHECK(ota.pollRequest(&n));
  ota.requested(140);
  CHECK_EQ(ota.handleChunk(id, 2, 452, 150), TbOta::CHUNK_LAST);
}

TEST(tb_ota_timeouts_retry_12_times_then_give_up) {
  TbOta ota;
  uint32_t n, now = 0;
  ota.offer(target("2.0.0", 2048), "iotchat-m3", "1.0.0");
  ota.onConnected();
  CHECK(ota.pollRequest(&n));
  ota.requested(now);
  CHECK(!ota.handleTimeout(now + TbOta::kChunkTimeoutMs - 1));
  CHECK(!ota.pollRequest(&n));
  for (int i = 0; i < TbOta::kMaxRetries; i++) {
    now += TbOta::kChunkTimeoutMs;
    CHECK(!ota.handleTimeout(now));
    CHECK(ota.pollRequest(&n));  // asked again
    CHECK_EQ(n, 0);
    ota.requested(now);
  }
  now += TbOta::kChunkTimeoutMs;
  CHECK(ota.handleTimeout(now));
  CHECK_STR(ota.giveUpReason(), "no answer");
}

TEST(tb_ota_an_answer_resets_the_retries_and_a_wrong_size_is_asked_again) {
  TbOta ota;
  uint32_t n, now = 0;
  ota.offer(target("2.0.0", 2048), "iotchat-m3", "1.0.0");
  ota.onConnected();
  ota.pollRequest(&n);
  ota.requested(now);
  for (int i = 0; i < 5; i++) {
    now += TbOta::kChunkTimeoutMs;
    ota.handleTimeout(now);
    ota.pollRequest(&n);
    ota.requested(now);
  }
  CHECK_EQ(ota.handleChunk(ota.requestId(), 0, 1000, now), TbOta::CHUNK_STALE);  // short
  CHECK(!ota.handleTimeout(now));
  CHECK(ota.pollRequest(&n));  // at once, not 5 s later
  CHECK_EQ(n, 0);
  ota.requested(now);
  CHECK_EQ(ota.handleChunk(ota.requestId(), 0, 1024, now), TbOta::CHUNK_WRITE);
  ota.chunkWritten();
  ota.pollRequest(&n);
  ota.requested(now);
  for (int i = 0; i < TbOta::kMaxRetries; i++) {  // a fresh 12 for chunk 1
    now += TbOta::kChunkTimeoutMs;
    CHECK(!ota.handleTimeout(now));
    ota.pollRequest(&n);
    ota.requested(now);
  }
}

TEST(tb_ota_resumes_after_a_dropped_connection_at_the_next_chunk) {
  TbOta ota;
  uint32_t n, now = 0;
  ota.offer(target("2.0.0", 4096), "iotchat-m3", "1.0.0");
  ota.onConnected();
  ota.pollRequest(&n);
  ota.requested(now);
  ota.handleChunk(ota.requestId(), 0, 1024, now);
  ota.chunkWritten();
  ota.pollRequest(&n);
  ota.requested(now);
  ota.onDisconnected();
  // Offline for a minute: no retries spent, nothing asked.
  for (int i = 0; i < 20; i++) CHECK(!ota.handleTimeout(now += TbOta::kChunkTimeoutMs));
  CHECK(!ota.pollRequest(&n));
  CHECK_EQ(ota.handleChunk(ota.requestId(), 1, 1024, now), TbOta::CHUNK_STALE);  // not awaited
  ota.onConnected();
  CHECK(ota.pollRequest(&n));
  CHECK_EQ(n, 1);
  CHECK(ota.downloading());
}
