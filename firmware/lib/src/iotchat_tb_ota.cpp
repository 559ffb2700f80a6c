#include "iotchat_tb_ota.h"

#include <stdio.h>
#include <string.h>

#include "iotchat_backoff.h"
#include "iotchat_tb.h"

namespace iotchat {

static const char* const kFwKeys[] = {"fw_title", "fw_version", "fw_size", "fw_checksum",
                                      "fw_checksum_algorithm"};
static const size_t kFwKeyCount = sizeof kFwKeys / sizeof kFwKeys[0];

// A JSON string value at v (no escapes: none of ours need them) copied to out; false if it
// is not a string of 1..cap-1 printable characters.
static bool jsonToken(const char* v, size_t rest, char* out, size_t cap) {
  if (rest < 2 || v[0] != '"') return false;
  const char* end = (const char*)memchr(v + 1, '"', rest - 1);
  if (!end) return false;
  size_t n = (size_t)(end - v - 1);
  if (!isToken(v + 1, n, cap - 1) || memchr(v + 1, '\\', n)) return false;
  memcpy(out, v + 1, n);
  out[n] = '\0';
  return true;
}

static bool parseAlgo(const char* name, TbFwAlgo* algo, size_t* digits) {
  if (strcmp(name, "MD5") == 0) { *algo = TB_FW_MD5; *digits = 32; return true; }
  if (strcmp(name, "SHA256") == 0) { *algo = TB_FW_SHA256; *digits = 64; return true; }
  return false;
}

static bool allHex(const char* s) {
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
      return false;
  return true;
}

TbFwParse tbParseFirmware(const char* p, size_t len, TbFirmware* out, const char** why) {
  const char* v[kFwKeyCount];
  size_t rest[kFwKeyCount];
  size_t found = 0;
  for (size_t i = 0; i < kFwKeyCount; i++) {
    v[i] = jsonFind(p, len, kFwKeys[i], &rest[i]);
    if (v[i]) found++;
  }
  // fw_version alone is no target: it is also our own client attribute, which a broker that
  // echoes a client's publishes (mosquitto; ThingsBoard does not) hands back to us.
  if (found == 0 || (found == 1 && v[1])) return TB_FW_ABSENT;
  if (found < kFwKeyCount) return TB_FW_PARTIAL;
  TbFirmware fw = {};
  char algo[16];
  size_t digits = 0;
  *why = "fw_title or fw_version is not 1 to 32 printable characters";
  if (!jsonToken(v[0], rest[0], fw.title, sizeof fw.title) ||
      !jsonToken(v[1], rest[1], fw.version, sizeof fw.version))
    return TB_FW_BAD;
  *why = "fw_size is not a positive integer";
  if (!jsonUint(v[2], rest[2], 0xffffffffu, &fw.size) || fw.size == 0) return TB_FW_BAD;
  *why = "fw_checksum_algorithm is not MD5 or SHA256";
  if (!jsonToken(v[4], rest[4], algo, sizeof algo) || !parseAlgo(algo, &fw.algo, &digits))
    return TB_FW_BAD;
  *why = "fw_checksum is not the algorithm's hex digest";
  if (!jsonToken(v[3], rest[3], fw.checksum, sizeof fw.checksum) ||
      strlen(fw.checksum) != digits || !allHex(fw.checksum))
    return TB_FW_BAD;
  *out = fw;
  return TB_FW_OK;
}

// A decimal number at *p up to `stop` (or the end); advances *p past it.
static bool takeNumber(const char** p, char stop, uint32_t* out) {
  const char* s = *p;
  uint64_t n = 0;
  size_t digits = 0;
  for (; *s >= '0' && *s <= '9'; s++, digits++) {
    n = n * 10 + (uint64_t)(*s - '0');
    if (n > 0xffffffffu) return false;
  }
  if (digits == 0 || *s != stop) return false;
  *p = s;
  *out = (uint32_t)n;
  return true;
}

bool tbParseChunkTopic(const char* topic, uint32_t* request_id, uint32_t* chunk) {
  const size_t skip = sizeof kTbFwResponsePrefix - 1;
  if (strncmp(topic, kTbFwResponsePrefix, skip) != 0) return false;
  const char* p = topic + skip;
  uint32_t id, n;
  if (!takeNumber(&p, '/', &id) || strncmp(p, "/chunk/", 7) != 0) return false;
  p += 7;
  if (!takeNumber(&p, '\0', &n)) return false;
  *request_id = id;
  *chunk = n;
  return true;
}

bool tbChunkRequestTopic(char* out, size_t cap, uint32_t request_id, uint32_t chunk) {
  int n = snprintf(out, cap, "v2/fw/request/%lu/chunk/%lu", (unsigned long)request_id,
                   (unsigned long)chunk);
  return n > 0 && (size_t)n < cap;
}

const char* tbFwStateName(TbFwState s) {
  switch (s) {
    case FW_DOWNLOADING: return "DOWNLOADING";
    case FW_DOWNLOADED: return "DOWNLOADED";
    case FW_VERIFIED: return "VERIFIED";
    case FW_UPDATING: return "UPDATING";
    case FW_UPDATED: return "UPDATED";
    case FW_FAILED: return "FAILED";
  }
  return "FAILED";
}

size_t tbFwStateJson(char* out, size_t cap, TbFwState s, const char* error) {
  int n;
  if (s == FW_FAILED) {
    char safe[96];
    jsonSafeCopy(safe, sizeof safe, error ? error : "unknown");
    n = snprintf(out, cap, "{\"fw_state\":\"FAILED\",\"fw_error\":\"%s\"}", safe);
  } else {
    n = snprintf(out, cap, "{\"fw_state\":\"%s\"}", tbFwStateName(s));
  }
  return (n > 0 && (size_t)n < cap) ? (size_t)n : 0;
}

size_t tbCurrentFwJson(char* out, size_t cap, const char* title, const char* version) {
  char t[kOtaVersionMax], v[kOtaVersionMax];
  jsonSafeCopy(t, sizeof t, title);
  jsonSafeCopy(v, sizeof v, version);
  int n = snprintf(out, cap, "{\"current_fw_title\":\"%s\",\"current_fw_version\":\"%s\"}", t, v);
  return (n > 0 && (size_t)n < cap) ? (size_t)n : 0;
}

// Which target failed: its version and checksum, hashed (FNV-1a).
static uint32_t targetHash(const TbFirmware& fw) {
  uint32_t h = 2166136261u;
  for (const char* s = fw.version; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  for (const char* s = fw.checksum; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h | 1u;  // never 0, which means "none failed"
}

static bool sameTarget(const TbFirmware& a, const TbFirmware& b) {
  return strcmp(a.title, b.title) == 0 && strcmp(a.version, b.version) == 0 && a.size == b.size &&
         strcmp(a.checksum, b.checksum) == 0 && a.algo == b.algo;
}

TbOta::Offer TbOta::offer(const TbFirmware& fw, const char* title, const char* version) {
  if (active_ && sameTarget(fw, fw_)) return OFFER_IGNORED;
  if (strcmp(fw.title, title) != 0) return OFFER_WRONG_TITLE;
  if (strcmp(fw.version, version) == 0) {
    active_ = false;  // the target moved back to what runs: nothing left to download
    return OFFER_UP_TO_DATE;
  }
  if (targetHash(fw) == failed_hash_) return OFFER_IGNORED;
  fw_ = fw;
  id_++;
  next_ = 0;
  retries_ = 0;
  active_ = true;
  awaiting_ = false;
  bad_size_ = false;
  return OFFER_START;
}

uint32_t TbOta::chunkLength(uint32_t n) const {
  uint64_t start = (uint64_t)n * kChunkSize;
  if (start >= fw_.size) return 0;
  uint64_t left = fw_.size - start;
  return left < kChunkSize ? (uint32_t)left : kChunkSize;
}

bool TbOta::pollRequest(uint32_t* chunk) const {
  if (!active_ || !online_ || awaiting_) return false;
  *chunk = next_;
  return true;
}

void TbOta::requested(uint32_t now) {
  awaiting_ = true;
  deadline_ = now + kChunkTimeoutMs;
}

TbOta::Chunk TbOta::handleChunk(uint32_t request_id, uint32_t n, size_t len, uint32_t now) {
  if (!active_ || request_id != id_ || n != next_ || !awaiting_) return CHUNK_STALE;
  if (len != chunkLength(n)) {
    // As a lost answer: asked again at once, while retries last.
    bad_size_ = true;
    deadline_ = now;
    return CHUNK_STALE;
  }
  awaiting_ = false;
  retries_ = 0;
  bad_size_ = false;
  return n + 1 == chunkCount() ? CHUNK_LAST : CHUNK_WRITE;
}

void TbOta::chunkWritten() { next_++; }

bool TbOta::handleTimeout(uint32_t now) {
  if (!active_ || !online_ || !awaiting_ || !reached(now, deadline_)) return false;
  if (retries_ >= kMaxRetries) return true;
  retries_++;
  awaiting_ = false;  // pollRequest() hands the same chunk out again
  return false;
}

void TbOta::onDisconnected() {
  online_ = false;
  awaiting_ = false;  // the answer, if any, is lost with the connection
}

void TbOta::onConnected() { online_ = true; }

void TbOta::fail() {
  if (active_) failed_hash_ = targetHash(fw_);
  active_ = false;
  awaiting_ = false;
}

}  // namespace iotchat
