#include "iotchat_backoff.h"

namespace iotchat {

uint32_t Rng::next() {
  uint32_t x = s_;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  s_ = x;
  return x;
}

Backoff::Backoff(uint32_t initial_ms, uint32_t max_ms)
    : initial_(initial_ms), max_(max_ms), next_(initial_ms < max_ms ? initial_ms : max_ms) {}

uint32_t Backoff::nextDelay() {
  uint32_t d = next_;
  next_ = (next_ > max_ / 2) ? max_ : next_ * 2;
  return d;
}

uint32_t Backoff::nextJittered(Rng& rng) {
  uint32_t d = nextDelay();
  return d / 2 + rng.below(d / 2 + 1);
}

}  // namespace iotchat
