#include "iotchat_tb.h"

#include <stdio.h>
#include <string.h>

namespace iotchat {

size_t tbMaxPayload(size_t buffer_size, const char* topic) {
  size_t overhead = 5 + 2 + strlen(topic);
  return buffer_size > overhead ? buffer_size - overhead : 0;
}

void TbBacklog::push(int64_t ts, const Sample& s) {
  if (len_ == kCap) { pop(1); dropped_++; }
  Entry& e = e_[(head_ + len_) % kCap];
  e.ts = ts;
  e.s = s;
  len_++;
}

void TbBacklog::pop(size_t n) {
  if (n > len_) n = len_;
  head_ = (head_ + n) % kCap;
  len_ -= n;
}

// Appends `{"ts":T,"values":{V}}` at out+pos if it fits (leaving `reserve` bytes); new pos or 0.
static size_t appendEntry(char* out, size_t cap, size_t pos, size_t reserve,
                          const TbBacklog::Entry& e) {
  char ts[24], vals[96];
  if (!formatI64(ts, sizeof ts, e.ts) || !formatTbValues(vals, sizeof vals, e.s)) return 0;
  int n = snprintf(nullptr, 0, "{\"ts\":%s,\"values\":{%s}}", ts, vals);
  if (n < 0 || pos + (size_t)n + reserve + 1 > cap) return 0;
  snprintf(out + pos, cap - pos, "{\"ts\":%s,\"values\":{%s}}", ts, vals);
  return pos + (size_t)n;
}

size_t tbBuildTelemetry(const TbBacklog& b, char* out, size_t cap, size_t* taken) {
  *taken = 0;
  if (b.size() == 0 || cap == 0) return 0;
  if (b.size() > 1) {
    // Try an array of several; it must hold at least two to be worth the brackets.
    size_t pos = 1;
    if (cap < 3) return 0;
    out[0] = '[';
    size_t k = 0;
    while (k < b.size()) {
      size_t at = pos + (k ? 1 : 0);
      size_t next = appendEntry(out, cap, at, 1, b.at(k));
      if (!next) break;
      if (k) out[pos] = ',';
      pos = next;
      k++;
    }
    if (k >= 2) {
      out[pos++] = ']';
      out[pos] = '\0';
      *taken = k;
      return pos;
    }
  }
  size_t n = appendEntry(out, cap, 0, 0, b.at(0));
  if (n) *taken = 1;
  return n;
}

static bool isWs(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

const char* jsonFind(const char* p, size_t len, const char* key, size_t* rest) {
  size_t kn = strlen(key);
  for (size_t i = 0; i + kn + 2 <= len; i++) {
    if (p[i] != '"' || memcmp(p + i + 1, key, kn) != 0 || p[i + 1 + kn] != '"') continue;
    size_t j = i + kn + 2;
    while (j < len && isWs(p[j])) j++;
    if (j >= len || p[j] != ':') continue;  // a string value equal to the key, not a key
    j++;
    while (j < len && isWs(p[j])) j++;
    if (j >= len) return nullptr;
    *rest = len - j;
    return p + j;
  }
  return nullptr;
}

bool jsonUint(const char* v, size_t rest, uint32_t max, uint32_t* out) {
  size_t i = 0;
  bool quoted = rest > 0 && v[0] == '"';
  if (quoted) i++;
  if (i >= rest || v[i] < '0' || v[i] > '9') return false;
  uint64_t n = 0;
  while (i < rest && v[i] >= '0' && v[i] <= '9') {
    n = n * 10 + (uint64_t)(v[i] - '0');
    if (n > max) return false;
    i++;
  }
  if (i < rest && (v[i] == '.' || v[i] == 'e' || v[i] == 'E')) return false;
  if (quoted && (i >= rest || v[i] != '"')) return false;
  *out = (uint32_t)n;
  return true;
}

bool jsonBool(const char* v, size_t rest, bool* out) {
  size_t q = (rest > 0 && v[0] == '"') ? 1 : 0;
  v += q;
  rest -= q;
  if (rest >= 4 && memcmp(v, "true", 4) == 0) { *out = true; return true; }
  if (rest >= 5 && memcmp(v, "false", 5) == 0) { *out = false; return true; }
  if (rest >= 1 && (v[0] == '1' || v[0] == '0')) { *out = v[0] == '1'; return true; }
  return false;
}

static bool methodIs(const char* m, size_t rest, const char* name) {
  size_t n = strlen(name);
  return rest >= n + 2 && m[0] == '"' && memcmp(m + 1, name, n) == 0 && m[n + 1] == '"';
}

// params may be the value itself or an object holding it under `key`.
static const char* paramValue(const char* p, size_t len, const char* key, size_t* rest) {
  const char* v = jsonFind(p, len, "params", rest);
  if (v && *rest > 0 && v[0] == '{') return jsonFind(v, *rest, key, rest);
  return v;
}

TbRpcResult tbHandleRpc(const char* p, size_t len, TbSettings& st, char* reply, size_t cap) {
  size_t rest = 0;
  const char* m = jsonFind(p, len, "method", &rest);
  if (m && methodIs(m, rest, "getInterval")) {
    snprintf(reply, cap, "{\"interval\":%lu}", (unsigned long)st.interval_ms);
    return TB_RPC_GET;
  }
  if (m && methodIs(m, rest, "setInterval")) {
    const char* v = paramValue(p, len, "interval", &rest);
    uint32_t ms;
    if (!v || !jsonUint(v, rest, kTbMaxIntervalMs, &ms) || ms < kTbMinIntervalMs) {
      snprintf(reply, cap, "{\"error\":\"interval must be %lu..%lu ms\"}",
               (unsigned long)kTbMinIntervalMs, (unsigned long)kTbMaxIntervalMs);
      return TB_RPC_BAD_PARAMS;
    }
    st.interval_ms = ms;
    snprintf(reply, cap, "{\"interval\":%lu}", (unsigned long)ms);
    return TB_RPC_SET_INTERVAL;
  }
  if (m && methodIs(m, rest, "setLed")) {
    const char* v = paramValue(p, len, "enabled", &rest);
    bool on;
    if (!v || !jsonBool(v, rest, &on)) {
      snprintf(reply, cap, "{\"error\":\"params must be true or false\"}");
      return TB_RPC_BAD_PARAMS;
    }
    st.led = on;
    snprintf(reply, cap, "{\"led\":%s}", on ? "true" : "false");
    return TB_RPC_SET_LED;
  }
  snprintf(reply, cap, "{\"error\":\"unknown method\"}");
  return TB_RPC_UNKNOWN;
}

bool tbRpcResponseTopic(const char* request_topic, char* out, size_t cap) {
  size_t pn = sizeof kTbRpcRequestPrefix - 1;
  if (strncmp(request_topic, kTbRpcRequestPrefix, pn) != 0) return false;
  const char* id = request_topic + pn;
  if (!*id) return false;
  for (const char* c = id; *c; c++)
    if (*c < '0' || *c > '9') return false;
  int n = snprintf(out, cap, "%s%s", kTbRpcResponsePrefix, id);
  return n > 0 && (size_t)n < cap;
}

bool tbHandleAttributes(const char* p, size_t len, TbSettings& st) {
  size_t rest = 0;
  const char* v = jsonFind(p, len, "interval", &rest);
  uint32_t ms;
  if (!v || !jsonUint(v, rest, kTbMaxIntervalMs, &ms) || ms < kTbMinIntervalMs) return false;
  bool changed = ms != st.interval_ms;
  st.interval_ms = ms;
  return changed;
}

}  // namespace iotchat
