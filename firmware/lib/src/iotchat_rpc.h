// Server-side RPC over the M2 line protocol, no I/O and no heap: parses
// `rpc: <id> <method> <params-json>`, runs getInterval/setInterval/setLed against the device's
// settings and writes the answer line `RPC <id> <result-json>`. Lines are (pointer, length),
// not NUL-terminated. The JSON reader is a small strict one: it reads one object, skips the
// members it does not want (nesting bounded), and refuses anything that is not JSON.
#ifndef IOTCHAT_RPC_H
#define IOTCHAT_RPC_H

#include <stddef.h>
#include <stdint.h>

namespace iotchat {

static const uint32_t kRpcMinIntervalMs = 100;
static const uint32_t kRpcMaxIntervalMs = 3600000;
static const size_t kRpcAnswerMax = 128;   // one answer line, NUL included

// One request; the spans point into the line it was parsed from.
struct RpcRequest {
  uint64_t id;
  const char* method;
  size_t method_len;
  const char* params;
  size_t params_len;
};

// Parses `rpc: <id> <method> <params>`: id a decimal uint64, method printable ASCII without
// spaces, params the rest of the line: one JSON value (nesting up to 8 levels), or nothing,
// which means null (params_len 0). Fields are separated by blanks. False if the line is not
// such a request. (Same rules as src/fleet/rpc.rs, except that a method name there may be
// any UTF-8.)
bool parseRpcLine(const char* line, size_t len, RpcRequest* out);

// The settings an RPC reads and changes.
struct RpcSettings {
  uint32_t interval_ms;
  bool led;
};

enum RpcOutcome { RPC_GET_INTERVAL, RPC_SET_INTERVAL, RPC_SET_LED, RPC_BAD_PARAMS, RPC_UNKNOWN,
                  RPC_NO_ROOM };

// Runs `req` on `st` and writes the NUL-terminated answer line (without LF) to `out`. An unknown
// method's name is cut to fit. RPC_NO_ROOM (nothing usable in `out`) only if `cap` is smaller
// than kRpcAnswerMax.
RpcOutcome runRpc(const RpcRequest& req, RpcSettings& st, char* out, size_t cap);

// In the JSON text [p, p+len), which must be exactly one object (white space around and inside
// allowed, nesting up to 8 levels), finds the top-level member `key` and returns its value's
// span. False for anything that is not such an object, or if `key` is missing or repeated.
bool jsonMember(const char* p, size_t len, const char* key, const char** value, size_t* vlen);
// Whether [p, p+len) is exactly one JSON value (white space around allowed, nesting <= 8).
bool jsonValid(const char* p, size_t len);

// `{"interval":N}` with N an integer kRpcMinIntervalMs..=kRpcMaxIntervalMs (other members
// ignored); false otherwise (`500.0`, `"500"`, `5e2`, `null`, garbage).
bool parseIntervalParams(const char* p, size_t len, uint32_t* ms);

// `{"on":true}` or `{"on":false}` (other members ignored).
bool parseLedParams(const char* p, size_t len, bool* on);

}  // namespace iotchat

#endif
