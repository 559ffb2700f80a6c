// A device's health report: Wi-Fi RSSI, free heap and its fragmentation, uptime, reset reason
// and firmware version, sent at boot (once connected) and every kHealthIntervalMs. Two wire
// forms: the M2 `HEALTH {json}` line (attributes, docs/protocol.md) and the ThingsBoard
// client-attributes JSON object. Formatting writes into caller buffers and never allocates;
// the sketch reads the values from the core (WiFi.RSSI(), ESP.getFreeHeap()...) and passes
// them in, with the time.
#ifndef IOTCHAT_HEALTH_H
#define IOTCHAT_HEALTH_H

#include <stddef.h>
#include <stdint.h>

namespace iotchat {

// The version the sketch reports (health `fw`, ThingsBoard `current_fw_version`) and compares
// OTA targets with: a compile-time define, so a build can be stamped (`make FW_VERSION=2.0.0`
// on the host, `-DIOTCHAT_FW_VERSION=...` in build.extra_flags on the chip).
#ifndef IOTCHAT_FW_VERSION
#define IOTCHAT_FW_VERSION "0.1.0"  // as library.properties
#endif
static const char kFirmwareVersion[] = IOTCHAT_FW_VERSION;
static const uint32_t kHealthIntervalMs = 5UL * 60UL * 1000UL;  // as fake-device's default
static const size_t kHealthMax = 160;  // one HEALTH line, NUL included (the server echoes it)

struct Health {
  int32_t rssi;        // dBm (WiFi.RSSI())
  uint32_t heap;       // free heap, bytes (ESP.getFreeHeap())
  uint32_t frag;       // heap fragmentation, % (ESP.getHeapFragmentation())
  uint32_t uptime_s;   // seconds since boot (millis() / 1000, wraps at ~49 days)
  const char* reset;   // reset reason (ESP.getResetReason().c_str()): JSON-escaped here
  const char* fw;      // firmware version
};

// `"rssi":-61,"heap":31240,"frag":12,"uptime":3600,"reset":"Power On","fw":"0.1.0"` wrapped
// in `{}`; the length, or 0 if it does not fit `cap` (NUL included).
size_t formatHealthJson(char* out, size_t cap, const Health& h);

// `HEALTH {...}` as above; the length, or 0 if it does not fit.
size_t formatHealthLine(char* out, size_t cap, const Health& h);

// Copies the reset reason (ESP.getResetReason().c_str()) at boot, so the report needs no
// heap later; cut to `cap - 1` bytes.
void copyResetReason(char* out, size_t cap, const char* reason);

// When a report is due: at the first chance after boot or a (re)connect, then every interval.
class HealthTimer {
 public:
  explicit HealthTimer(uint32_t interval_ms = kHealthIntervalMs) : interval_ms_(interval_ms) {}
  // Connected (and greeted): a report is due now.
  void onConnected() { due_now_ = true; }
  bool due(uint32_t now) const { return due_now_ || (int32_t)(now - next_at_) >= 0; }
  // A report was sent at `now`: the next is one interval later.
  void sent(uint32_t now) {
    due_now_ = false;
    next_at_ = now + interval_ms_;
  }

 private:
  uint32_t interval_ms_;
  uint32_t next_at_ = 0;
  bool due_now_ = true;
};

}  // namespace iotchat

#endif
