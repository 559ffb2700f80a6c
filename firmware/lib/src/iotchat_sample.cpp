#include "iotchat_sample.h"

#include <stdio.h>
#include <string.h>

namespace iotchat {

Sample sampleFromAdc(int32_t adc, uint32_t count) {
  if (adc < 0) adc = 0;
  if (adc > 1023) adc = 1023;
  Sample s;
  s.adc = adc;
  // mV = adc * 3300 / 1023; LM35 gives 10 mV per °C, so mV is the temperature in tenths.
  s.temp_tenths = (adc * 3300 + 511) / 1023;
  s.count = count;
  return s;
}

size_t formatI64(char* out, size_t cap, int64_t v) {
  char tmp[24];
  size_t n = 0;
  bool neg = v < 0;
  uint64_t u = neg ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (neg) tmp[n++] = '-';
  if (n + 1 > cap) return 0;
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  out[n] = '\0';
  return n;
}

static size_t finish(int n, size_t cap) { return (n < 0 || (size_t)n >= cap) ? 0 : (size_t)n; }

size_t formatReadingValues(char* out, size_t cap, const Sample& s) {
  int n = snprintf(out, cap, "adc=%ld temp=%ld.%ld count=%lu", (long)s.adc,
                   (long)(s.temp_tenths / 10), (long)(s.temp_tenths % 10), (unsigned long)s.count);
  return finish(n, cap);
}

size_t formatReadingLine(char* out, size_t cap, const Sample& s, int64_t ts) {
  char t[24];
  if (!formatI64(t, sizeof t, ts)) return 0;
  int n = snprintf(out, cap, "adc=%ld temp=%ld.%ld count=%lu ts=%s", (long)s.adc,
                   (long)(s.temp_tenths / 10), (long)(s.temp_tenths % 10), (unsigned long)s.count, t);
  return finish(n, cap);
}

size_t formatTbValues(char* out, size_t cap, const Sample& s) {
  int n = snprintf(out, cap, "\"adc\":%ld,\"temp\":%ld.%ld,\"count\":%lu", (long)s.adc,
                   (long)(s.temp_tenths / 10), (long)(s.temp_tenths % 10), (unsigned long)s.count);
  return finish(n, cap);
}

int64_t MonotonicTs::next(int64_t wall_ms) {
  int64_t ts = (last_ >= 0 && wall_ms <= last_) ? last_ + 1 : wall_ms;
  last_ = ts;
  return ts;
}

int64_t WallClock::extend(uint32_t now) {
  if (now < last_now_) wraps_++;
  last_now_ = now;
  return (wraps_ << 32) + now;
}

int64_t WallClock::ms(uint32_t now, int64_t unix_sec) {
  int64_t mono = extend(now);
  if (unix_sec < 1600000000) return -1;
  if (last_sec_ < 0 || unix_sec != last_sec_) {
    // First sight, or the second just ticked: unix_sec*1000 is at most a loop before now, so
    // the clock runs a little behind, never ahead. MonotonicTs keeps the readings' order.
    offset_ = unix_sec * 1000 - mono;
    last_sec_ = unix_sec;
  }
  return mono + offset_;
}

}  // namespace iotchat
