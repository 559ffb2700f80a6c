#include <string.h>

#include "check.h"
#include "iotchat_tb.h"

using namespace iotchat;

TEST(tb_single_entry_is_an_object_with_ts) {
  TbBacklog b;
  b.push(1700000000000LL, sampleFromAdc(100, 1));
  char out[200];
  size_t taken;
  CHECK(tbBuildTelemetry(b, out, sizeof out, &taken) > 0);
  CHECK_EQ(taken, 1);
  CHECK_STR(out, "{\"ts\":1700000000000,\"values\":{\"adc\":100,\"temp\":32.3,\"count\":1}}");
}

TEST(tb_backlog_batches_fit_the_buffer) {
  TbBacklog b;
  for (uint32_t i = 1; i <= 10; i++) b.push(1700000000000LL + i, sampleFromAdc(100, i));
  size_t cap = tbMaxPayload(256, kTbTelemetryTopic);
  CHECK_EQ(cap, 256 - 7 - strlen(kTbTelemetryTopic));
  char out[256];
  size_t taken, total = 0;
  int batches = 0;
  while (b.size()) {
    size_t n = tbBuildTelemetry(b, out, cap, &taken);
    CHECK(n > 0 && n < cap);
    CHECK(taken >= 1);
    if (b.size() > 1) { CHECK(out[0] == '['); CHECK(out[n - 1] == ']'); }
    CHECK_EQ(strlen(out), n);
    total += taken;
    b.pop(taken);
    batches++;
  }
  CHECK_EQ(total, 10);
  CHECK(batches >= 4);
}

TEST(tb_nothing_fits_a_tiny_buffer) {
  TbBacklog b;
  b.push(1, sampleFromAdc(1, 1));
  char out[16];
  size_t taken;
  CHECK_EQ(tbBuildTelemetry(b, out, sizeof out, &taken), 0);
  CHECK_EQ(taken, 0);
}

TEST(tb_backlog_drops_oldest_when_full) {
  TbBacklog b;
  for (uint32_t i = 0; i < TbBacklog::kCap + 3; i++) b.push(i, sampleFromAdc(1, i));
  CHECK_EQ(b.size(), TbBacklog::kCap);
  CHECK_EQ(b.at(0).ts, 3);
  CHECK_EQ(b.dropped(), 3);
}

static TbRpcResult rpc(const char* p, TbSettings& st, char* reply) {
  return tbHandleRpc(p, strlen(p), st, reply, 128);
}

TEST(tb_rpc_methods) {
  TbSettings st = {1000, false};
  char r[128];
  CHECK_EQ(rpc("{\"method\":\"getInterval\",\"params\":{}}", st, r), TB_RPC_GET);
  CHECK_STR(r, "{\"interval\":1000}");
  CHECK_EQ(rpc("{\"method\":\"setInterval\",\"params\":5000}", st, r), TB_RPC_SET_INTERVAL);
  CHECK_EQ(st.interval_ms, 5000);
  CHECK_STR(r, "{\"interval\":5000}");
  CHECK_EQ(rpc("{\"method\": \"setInterval\", \"params\": {\"interval\": \"250\"}}", st, r),
           TB_RPC_SET_INTERVAL);
  CHECK_EQ(st.interval_ms, 250);
  CHECK_EQ(rpc("{\"method\":\"setInterval\",\"params\":5}", st, r), TB_RPC_BAD_PARAMS);
  CHECK_EQ(rpc("{\"method\":\"setInterval\",\"params\":1.5}", st, r), TB_RPC_BAD_PARAMS);
  CHECK_EQ(rpc("{\"method\":\"setInterval\",\"params\":99999999999}", st, r), TB_RPC_BAD_PARAMS);
  CHECK_EQ(st.interval_ms, 250);
  CHECK_EQ(rpc("{\"method\":\"setLed\",\"params\":true}", st, r), TB_RPC_SET_LED);
  CHECK(st.led);
  CHECK_STR(r, "{\"led\":true}");
  CHECK_EQ(rpc("{\"method\":\"setLed\",\"params\":{\"enabled\":false}}", st, r), TB_RPC_SET_LED);
  CHECK(!st.led);
  CHECK_EQ(rpc("{\"method\":\"reboot\"}", st, r), TB_RPC_UNKNOWN);
  CHECK_EQ(rpc("garbage", st, r), TB_RPC_UNKNOWN);
}

TEST(tb_rpc_payload_is_not_nul_terminated) {
  TbSettings st = {1000, false};
  char r[128];
  const char full[] = "{\"method\":\"setInterval\",\"params\":2000}";
  // Cut inside the number: only "20" is visible.
  size_t len = strlen(full) - 3;
  CHECK_EQ(tbHandleRpc(full, len, st, r, sizeof r), TB_RPC_BAD_PARAMS);
}

TEST(tb_rpc_response_topic) {
  char t[64];
  CHECK(tbRpcResponseTopic("v1/devices/me/rpc/request/42", t, sizeof t));
  CHECK_STR(t, "v1/devices/me/rpc/response/42");
  CHECK(!tbRpcResponseTopic("v1/devices/me/rpc/request/", t, sizeof t));
  CHECK(!tbRpcResponseTopic("v1/devices/me/attributes", t, sizeof t));
  CHECK(!tbRpcResponseTopic("v1/devices/me/rpc/request/1/x", t, sizeof t));
}

TEST(tb_shared_attribute_interval) {
  TbSettings st = {1000, false};
  const char* a = "{\"interval\":3000}";
  CHECK(tbHandleAttributes(a, strlen(a), st));
  CHECK_EQ(st.interval_ms, 3000);
  const char* s = "{\"shared\":{\"interval\":4000}}";
  CHECK(tbHandleAttributes(s, strlen(s), st));
  CHECK_EQ(st.interval_ms, 4000);
  const char* other = "{\"colour\":\"interval\"}";
  CHECK(!tbHandleAttributes(other, strlen(other), st));
  CHECK_EQ(st.interval_ms, 4000);
}
