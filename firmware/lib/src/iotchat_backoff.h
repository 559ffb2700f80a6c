// Capped exponential backoff with "equal jitter", as a plain value: it hands out delays and
// never sleeps. Same rule as src/backoff.rs + Device::retry_delay in src/fleet/device.rs.
#ifndef IOTCHAT_BACKOFF_H
#define IOTCHAT_BACKOFF_H

#include <stdint.h>

namespace iotchat {

// xorshift32: a tiny seeded random source for jitter (no heap, no global state).
class Rng {
 public:
  explicit Rng(uint32_t seed = 1) : s_(seed ? seed : 0x9e3779b9u) {}
  uint32_t next();
  // Uniform in [0, n) for n > 0.
  uint32_t below(uint32_t n) { return n ? next() % n : 0; }

 private:
  uint32_t s_;
};

class Backoff {
 public:
  Backoff(uint32_t initial_ms, uint32_t max_ms);
  // The raw delay; the following one doubles, up to the cap.
  uint32_t nextDelay();
  // nextDelay() with equal jitter: between half of it and all of it.
  uint32_t nextJittered(Rng& rng);
  void reset() { next_ = initial_ < max_ ? initial_ : max_; }

 private:
  uint32_t initial_, max_, next_;
};

// Whether monotonic time `now` has reached `at` (wrap-safe for uint32 millis).
inline bool reached(uint32_t now, uint32_t at) { return (int32_t)(now - at) >= 0; }

}  // namespace iotchat

#endif
