#include "iotchat_rpc.h"

#include <string.h>

namespace iotchat {

static const char kRpcPrefix[] = "rpc:";
static const int kMaxDepth = 8;

static bool isBlank(char c) { return c == ' ' || c == '\t'; }

bool parseRpcLine(const char* line, size_t len, RpcRequest* out) {
  size_t pn = sizeof kRpcPrefix - 1;
  if (len <= pn || memcmp(line, kRpcPrefix, pn) != 0 || !isBlank(line[pn])) return false;
  size_t i = pn;
  while (i < len && isBlank(line[i])) i++;
  size_t id_at = i;
  uint64_t id = 0;
  for (; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
    uint64_t d = (uint64_t)(line[i] - '0');
    if (id > (UINT64_MAX - d) / 10) return false;
    id = id * 10 + d;
  }
  if (i == id_at || i >= len || !isBlank(line[i])) return false;
  while (i < len && isBlank(line[i])) i++;
  size_t m_at = i;
  // Printable ASCII only: the name may be quoted back in a JSON string, cut to fit.
  while (i < len && line[i] > ' ' && line[i] < 0x7f) i++;
  size_t m_len = i - m_at;
  if (m_len == 0 || (i < len && !isBlank(line[i]))) return false;
  while (i < len && isBlank(line[i])) i++;
  size_t end = len;
  while (end > i && (isBlank(line[end - 1]) || line[end - 1] == '\r')) end--;
  if (end > i && !jsonValid(line + i, end - i)) return false;
  out->id = id;
  out->method = line + m_at;
  out->method_len = m_len;
  out->params = line + i;
  out->params_len = end - i;
  return true;
}

// --- JSON reading: a cursor over (p, n), recursive descent with a depth bound.

namespace {
struct Cur {
  const char* p;
  size_t n, i;
  bool more() const { return i < n; }
  char peek() const { return p[i]; }
  void ws() {
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')) i++;
  }
  bool eat(char c) {
    if (i < n && p[i] == c) { i++; return true; }
    return false;
  }
};
}  // namespace

static bool isDigit(char c) { return c >= '0' && c <= '9'; }
static bool isHex(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool jsonString(Cur& c) {
  if (!c.eat('"')) return false;
  while (c.more()) {
    unsigned char ch = (unsigned char)c.p[c.i++];
    if (ch == '"') return true;
    if (ch < 0x20) return false;
    if (ch != '\\') continue;
    if (!c.more()) return false;
    char e = c.p[c.i++];
    if (e == 'u') {
      for (int k = 0; k < 4; k++)
        if (!c.more() || !isHex(c.p[c.i++])) return false;
    } else if (!(e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                 e == 'r' || e == 't')) {
      return false;
    }
  }
  return false;
}

static bool jsonNumber(Cur& c) {
  c.eat('-');
  if (!c.more() || !isDigit(c.peek())) return false;
  if (!c.eat('0'))
    while (c.more() && isDigit(c.peek())) c.i++;
  if (c.eat('.')) {
    if (!c.more() || !isDigit(c.peek())) return false;
    while (c.more() && isDigit(c.peek())) c.i++;
  }
  if (c.more() && (c.peek() == 'e' || c.peek() == 'E')) {
    c.i++;
    if (!c.eat('+')) c.eat('-');
    if (!c.more() || !isDigit(c.peek())) return false;
    while (c.more() && isDigit(c.peek())) c.i++;
  }
  return true;
}

static bool jsonWord(Cur& c, const char* w) {
  size_t k = strlen(w);
  if (c.n - c.i < k || memcmp(c.p + c.i, w, k) != 0) return false;
  c.i += k;
  return true;
}

static bool jsonValue(Cur& c, int depth);

// An object or array at the cursor; `key` (top level only) is looked up among the members.
static bool jsonContainer(Cur& c, int depth, const char* key, const char** value, size_t* vlen,
                          int* hits) {
  if (depth > kMaxDepth || !c.more()) return false;
  bool object = c.peek() == '{';
  char close = object ? '}' : ']';
  if (!c.eat('{') && !c.eat('[')) return false;
  c.ws();
  if (c.eat(close)) return true;
  for (;;) {
    bool match = false;
    if (object) {
      size_t k_at = c.i;
      if (!jsonString(c)) return false;
      size_t k_len = c.i - k_at - 2;
      match = key && k_len == strlen(key) && memcmp(c.p + k_at + 1, key, k_len) == 0;
      c.ws();
      if (!c.eat(':')) return false;
      c.ws();
    }
    size_t v_at = c.i;
    if (!jsonValue(c, depth + 1)) return false;
    if (match) {
      (*hits)++;
      *value = c.p + v_at;
      *vlen = c.i - v_at;
    }
    c.ws();
    if (c.eat(close)) return true;
    if (!c.eat(',')) return false;
    c.ws();
  }
}

static bool jsonValue(Cur& c, int depth) {
  if (!c.more()) return false;
  char ch = c.peek();
  if (ch == '{' || ch == '[') return jsonContainer(c, depth, nullptr, nullptr, nullptr, nullptr);
  if (ch == '"') return jsonString(c);
  if (ch == '-' || isDigit(ch)) return jsonNumber(c);
  return jsonWord(c, "true") || jsonWord(c, "false") || jsonWord(c, "null");
}

bool jsonMember(const char* p, size_t len, const char* key, const char** value, size_t* vlen) {
  Cur c = {p, len, 0};
  int hits = 0;
  c.ws();
  if (!c.more() || c.peek() != '{') return false;
  if (!jsonContainer(c, 1, key, value, vlen, &hits)) return false;
  c.ws();
  return !c.more() && hits == 1;
}

bool jsonValid(const char* p, size_t len) {
  Cur c = {p, len, 0};
  c.ws();
  if (!jsonValue(c, 1)) return false;
  c.ws();
  return !c.more();
}

bool parseIntervalParams(const char* p, size_t len, uint32_t* ms) {
  const char* v;
  size_t vn;
  if (!jsonMember(p, len, "interval", &v, &vn)) return false;
  // A plain integer: no sign, fraction, exponent or leading zero; at most 7 digits.
  if (vn == 0 || vn > 7 || v[0] == '0') return false;
  uint32_t n = 0;
  for (size_t i = 0; i < vn; i++) {
    if (!isDigit(v[i])) return false;
    n = n * 10 + (uint32_t)(v[i] - '0');
  }
  if (n < kRpcMinIntervalMs || n > kRpcMaxIntervalMs) return false;
  *ms = n;
  return true;
}

bool parseLedParams(const char* p, size_t len, bool* on) {
  const char* v;
  size_t vn;
  if (!jsonMember(p, len, "on", &v, &vn)) return false;
  if (vn == 4 && memcmp(v, "true", 4) == 0) { *on = true; return true; }
  if (vn == 5 && memcmp(v, "false", 5) == 0) { *on = false; return true; }
  return false;
}

// --- Answers: a bounded writer that remembers whether everything fitted.

namespace {
struct Out {
  char* p;
  size_t cap, n;
  bool ok;
  void put(const char* s, size_t k) {
    if (!ok || n + k + 1 > cap) { ok = false; return; }
    memcpy(p + n, s, k);
    n += k;
    p[n] = '\0';
  }
  void put(const char* s) { put(s, strlen(s)); }
  void putU64(uint64_t v) {
    char tmp[20];
    size_t k = 0;
    do { tmp[k++] = (char)('0' + v % 10); v /= 10; } while (v);
    char d[20];
    for (size_t i = 0; i < k; i++) d[i] = tmp[k - 1 - i];
    put(d, k);
  }
};
}  // namespace

static bool methodIs(const RpcRequest& r, const char* name) {
  size_t k = strlen(name);
  return r.method_len == k && memcmp(r.method, name, k) == 0;
}

// Writes the method name as JSON string text, escaping `"` and `\`; stops before it would
// leave fewer than `keep` bytes free.
static void putMethodCut(Out& o, const RpcRequest& r, size_t keep) {
  for (size_t i = 0; i < r.method_len; i++) {
    char ch = r.method[i];
    bool esc = ch == '"' || ch == '\\';
    size_t k = esc ? 2 : 1;
    if (o.n + k + keep + 1 > o.cap) return;
    if (esc) o.put("\\", 1);
    o.put(&ch, 1);
  }
}

RpcOutcome runRpc(const RpcRequest& req, RpcSettings& st, char* out, size_t cap) {
  Out o = {out, cap, 0, cap > 0};
  if (cap > 0) out[0] = '\0';
  o.put("RPC ");
  o.putU64(req.id);
  o.put(" ");
  RpcSettings next = st;  // applied only with an answer to tell it
  RpcOutcome r;
  if (methodIs(req, "getInterval")) {
    o.put("{\"interval\":");
    o.putU64(st.interval_ms);
    o.put("}");
    r = RPC_GET_INTERVAL;
  } else if (methodIs(req, "setInterval")) {
    uint32_t ms;
    if (parseIntervalParams(req.params, req.params_len, &ms)) {
      next.interval_ms = ms;
      o.put("{\"interval\":");
      o.putU64(ms);
      o.put("}");
      r = RPC_SET_INTERVAL;
    } else {
      o.put("{\"error\":\"setInterval needs {\\\"interval\\\": 100..3600000 ms}\"}");
      r = RPC_BAD_PARAMS;
    }
  } else if (methodIs(req, "setLed")) {
    bool on;
    if (parseLedParams(req.params, req.params_len, &on)) {
      next.led = on;
      o.put(on ? "{\"on\":true}" : "{\"on\":false}");
      r = RPC_SET_LED;
    } else {
      o.put("{\"error\":\"setLed needs {\\\"on\\\": true or false}\"}");
      r = RPC_BAD_PARAMS;
    }
  } else {
    o.put("{\"error\":\"unknown method ");
    putMethodCut(o, req, 2);
    o.put("\"}");
    r = RPC_UNKNOWN;
  }
  if (!o.ok) return RPC_NO_ROOM;
  st = next;
  return r;
}

}  // namespace iotchat
