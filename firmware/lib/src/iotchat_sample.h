// One sensor sample and its two wire forms: the M2 `key=value` line and the ThingsBoard JSON
// values object. Formatting writes into caller buffers and never allocates.
#ifndef IOTCHAT_SAMPLE_H
#define IOTCHAT_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

namespace iotchat {

struct Sample {
  int32_t adc;          // raw analog reading, 0..1023 on the ESP8266's A0
  int32_t temp_tenths;  // temperature in 0.1 °C (LM35 on A0: 10 mV/°C, 3.3 V full scale)
  uint32_t count;       // readings taken since boot, from 1
};

// The sample an ADC value gives; integer maths only (no float printf needed on the chip).
Sample sampleFromAdc(int32_t adc, uint32_t count);

// `adc=512 temp=16.5 count=3` (TcpDevice::produce adds ` ts=..`); the length, or 0 if too long.
size_t formatReadingValues(char* out, size_t cap, const Sample& s);

// `adc=512 temp=16.5 count=3 ts=1763900000000`; returns the length, or 0 if it does not fit.
size_t formatReadingLine(char* out, size_t cap, const Sample& s, int64_t ts);

// `"adc":512,"temp":16.5,"count":3`; returns the length, or 0 if it does not fit.
size_t formatTbValues(char* out, size_t cap, const Sample& s);

// Decimal text of a signed 64-bit value (newlib-nano on the chip lacks %lld); returns length.
size_t formatI64(char* out, size_t cap, int64_t v);

// Timestamps that never go back: max(wall_ms, last + 1).
class MonotonicTs {
 public:
  int64_t next(int64_t wall_ms);

 private:
  int64_t last_ = -1;
};

// Unix milliseconds from `time()`'s whole seconds and millis(): the offset is taken at the
// moment the seconds tick over, so it is right to a loop's granularity (not up to 999 ms off).
// Call it every loop (not only when a reading is due), or the tick is seen late and the
// clock runs behind. Extends millis() past its 49-day wrap. Before NTP has set the clock
// (time() before 2020), returns -1.
class WallClock {
 public:
  int64_t ms(uint32_t now, int64_t unix_sec);

 private:
  int64_t extend(uint32_t now);
  uint32_t last_now_ = 0;
  int64_t wraps_ = 0;
  int64_t last_sec_ = -1;
  int64_t offset_ = 0;
};

}  // namespace iotchat

#endif
