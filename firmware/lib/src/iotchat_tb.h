// ThingsBoard device logic (M3), no I/O: the bounded telemetry backlog and the JSON batches
// that fit PubSubClient's buffer, server-side RPC (getInterval/setInterval/setLed) and
// shared-attribute updates. Payloads are (pointer, length) as PubSubClient hands them over:
// not NUL-terminated.
#ifndef IOTCHAT_TB_H
#define IOTCHAT_TB_H

#include <stddef.h>
#include <stdint.h>

#include "iotchat_sample.h"

namespace iotchat {

static const char kTbTelemetryTopic[] = "v1/devices/me/telemetry";
static const char kTbAttributesTopic[] = "v1/devices/me/attributes";
static const char kTbRpcRequestFilter[] = "v1/devices/me/rpc/request/+";
static const char kTbRpcRequestPrefix[] = "v1/devices/me/rpc/request/";
static const char kTbRpcResponsePrefix[] = "v1/devices/me/rpc/response/";

static const uint32_t kTbMinIntervalMs = 100;
static const uint32_t kTbMaxIntervalMs = 3600000;

// PubSubClient's packet overhead for a QoS 0 PUBLISH: fixed header (up to 5) + topic length (2).
size_t tbMaxPayload(size_t buffer_size, const char* topic);

// Samples not yet published, oldest first; when full the oldest is dropped.
class TbBacklog {
 public:
  static const size_t kCap = 64;
  struct Entry { int64_t ts; Sample s; };
  void push(int64_t ts, const Sample& s);
  size_t size() const { return len_; }
  const Entry& at(size_t i) const { return e_[(head_ + i) % kCap]; }
  void pop(size_t n);
  uint32_t dropped() const { return dropped_; }

 private:
  Entry e_[kCap];
  size_t head_ = 0, len_ = 0;
  uint32_t dropped_ = 0;
};

// Telemetry for the oldest entries that fit `cap` bytes: `{"ts":..,"values":{..}}` for one,
// `[{"ts":..,"values":{..}},...]` for several. Returns the length (0: nothing fits or empty)
// and sets *taken to the number of entries it holds.
size_t tbBuildTelemetry(const TbBacklog& b, char* out, size_t cap, size_t* taken);

// Device settings that RPC and shared attributes change.
struct TbSettings {
  uint32_t interval_ms;
  bool led;
};

// What an RPC did, so the sketch can apply it (LED pin) and log it.
enum TbRpcResult { TB_RPC_GET, TB_RPC_SET_INTERVAL, TB_RPC_SET_LED, TB_RPC_BAD_PARAMS,
                   TB_RPC_UNKNOWN };

// Handles `{"method":..,"params":..}`; writes the JSON reply (NUL-terminated) to `reply`.
TbRpcResult tbHandleRpc(const char* payload, size_t len, TbSettings& st, char* reply, size_t cap);

// Writes `v1/devices/me/rpc/response/<id>` for `v1/devices/me/rpc/request/<id>` (numeric id);
// false if the topic is not an RPC request or the result does not fit.
bool tbRpcResponseTopic(const char* request_topic, char* out, size_t cap);

// A shared-attribute push (`{"interval":5000}`) or attribute response (`{"shared":{..}}`):
// applies `interval` when valid. Returns true if the interval changed.
bool tbHandleAttributes(const char* payload, size_t len, TbSettings& st);

// Minimal JSON lookups over (payload, len), bounded by len.
// The value text after `"key":` (first occurrence as a key); nullptr if absent.
const char* jsonFind(const char* p, size_t len, const char* key, size_t* rest);
// Parses a non-negative integer (optionally quoted) at v; false if none or > max.
bool jsonUint(const char* v, size_t rest, uint32_t max, uint32_t* out);
// Parses true/false/1/0 (optionally quoted) at v.
bool jsonBool(const char* v, size_t rest, bool* out);

}  // namespace iotchat

#endif
