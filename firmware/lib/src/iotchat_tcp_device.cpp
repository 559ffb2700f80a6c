#include "iotchat_tcp_device.h"

#include <string.h>

#include "iotchat_ota.h"

namespace iotchat {

static const char kError[] = "error: ";
static const char kNotice[] = "notice: ";
static const char kOperator[] = "operator: ";
static const char kRpc[] = "rpc:";
static const char kAttributes[] = "attr: ";

static bool startsWith(const char* s, size_t len, const char* prefix) {
  size_t n = strlen(prefix);
  return len >= n && memcmp(s, prefix, n) == 0;
}

static char upper(char c) { return (c >= 'a' && c <= 'z') ? (char)(c - 32) : c; }

bool isAck(const char* reply, size_t reply_len, const char* sent) {
  size_t n = strlen(sent);
  if (n != reply_len) return false;
  for (size_t i = 0; i < n; i++)
    if (reply[i] != upper(sent[i])) return false;
  return true;
}

uint32_t upperHash(const char* s, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)upper(s[i])) * 16777619u;
  return h;
}

bool containsCloseSocket(const char* text) {
  static const char needle[] = "CLOSE SOCKET";
  size_t n = sizeof needle - 1;
  for (const char* p = text; *p; p++) {
    size_t i = 0;
    while (i < n && p[i] && upper(p[i]) == needle[i]) i++;
    if (i == n) return true;
  }
  return false;
}

// What the server accepts as a token (src/protocol/auth.rs), within the device's 64 bytes.
static bool validToken(const char* token) {
  size_t n = strlen(token);
  if (n == 0 || n > TcpDevice::kTokenMax - 1) return false;
  for (size_t i = 0; i < n; i++)
    if (token[i] < 0x21 || token[i] > 0x7e) return false;
  return true;
}

TcpDevice::TcpDevice(const char* name, uint32_t interval_ms, uint32_t seed, uint32_t now,
                     const char* token)
    : has_token_(false),
      token_rejected_(false),
      interval_ms_(interval_ms ? interval_ms : 1),
      rng_(seed),
      backoff_(kBackoffInitialMs, kBackoffMaxMs),
      stats_(),
      next_reading_at_(now),
      retry_at_(now),
      hold_until_(0),
      holding_(false),
      link_(DOWN),
      greeted_(false),
      dead_(false),
      ever_connected_(false),
      user_closed_(false),
      led_(false),
      slots_(),
      used_(0),
      seq_(0),
      fifo_(),
      fifo_head_(0),
      fifo_len_(0),
      rpc_answer_() {
  memcpy(hello_, "HELLO ", 6);
  size_t n = strlen(name);
  if (n > kNameMax - 1) n = kNameMax - 1;
  memcpy(hello_ + 6, name, n);
  hello_[6 + n] = '\0';
  greeting_[0] = '\0';
  if (!token || !*token) return;
  if (!validToken(token)) {
    token_rejected_ = true;
    return;
  }
  size_t t = strlen(token);
  memcpy(greeting_, hello_, 6 + n);
  greeting_[6 + n] = ' ';
  memcpy(greeting_ + 6 + n + 1, token, t + 1);
  has_token_ = true;
}

uint32_t TcpDevice::jittered(uint32_t ms) {
  // ±10 %: ms * (0.9 .. 1.1)
  uint32_t span = ms / 5;
  return ms - ms / 10 + rng_.below(span + 1);
}

bool TcpDevice::produce(uint32_t now, int64_t wall_ms, const char* values) {
  // Keep the rhythm, but never try to catch up after a stall.
  uint32_t next = next_reading_at_ + jittered(interval_ms_);
  next_reading_at_ = reached(now, next) ? now + jittered(interval_ms_) : next;
  char line[kLineMax];
  size_t vn = strlen(values);
  if (vn + 5 >= kLineMax) return false;
  memcpy(line, values, vn);
  memcpy(line + vn, " ts=", 4);
  char digits[24];
  int64_t ts = ts_.next(wall_ms);
  size_t dn = 0;
  {
    // ts >= 0 on any sane clock; clamp so the server never refuses it.
    uint64_t u = ts < 0 ? 0 : (uint64_t)ts;
    char tmp[24];
    do { tmp[dn++] = (char)('0' + u % 10); u /= 10; } while (u);
    for (size_t i = 0; i < dn; i++) digits[i] = tmp[dn - 1 - i];
  }
  if (vn + 4 + dn + 1 > kLineMax) return false;
  memcpy(line + vn + 4, digits, dn);
  line[vn + 4 + dn] = '\0';
  stats_.produced++;
  if (used_ >= kSlots) dropOldest();
  Slot* free_slot = nullptr;
  for (size_t i = 0; i < kSlots && !free_slot; i++)
    if (slots_[i].seq == 0) free_slot = &slots_[i];
  memcpy(free_slot->line, line, vn + 4 + dn + 1);
  free_slot->seq = ++seq_;
  free_slot->in_flight = false;
  free_slot->written = false;
  used_++;
  return true;
}

TcpDevice::Slot* TcpDevice::findSeq(uint32_t seq) {
  for (size_t i = 0; i < kSlots; i++)
    if (slots_[i].seq == seq) return &slots_[i];
  return nullptr;
}

TcpDevice::Slot* TcpDevice::oldest(bool unsent_only) {
  Slot* best = nullptr;
  for (size_t i = 0; i < kSlots; i++) {
    Slot& s = slots_[i];
    if (s.seq == 0 || (unsent_only && s.in_flight)) continue;
    if (!best || s.seq < best->seq) best = &s;
  }
  return best;
}

void TcpDevice::dropOldest() {
  Slot* s = oldest(false);
  if (!s) return;
  if (s->in_flight) {
    // Its reply is still to come: keep its place so later replies still line up.
    for (size_t i = 0; i < fifo_len_; i++) {
      InFlight& f = fifo_[(fifo_head_ + i) % kFifo];
      if (f.kind == K_READING && f.seq == s->seq) {
        f.kind = K_DROPPED;
        f.hash = upperHash(s->line, strlen(s->line));
      }
    }
  }
  s->seq = 0;
  used_--;
  stats_.dropped++;
}

void TcpDevice::push(uint8_t kind, uint32_t seq, uint32_t hash, uint32_t now) {
  InFlight& f = fifo_[(fifo_head_ + fifo_len_) % kFifo];
  f.kind = kind;
  f.seq = seq;
  f.hash = hash;
  f.sent_at = now;
  fifo_len_++;
}

void TcpDevice::popFront() {
  fifo_head_ = (fifo_head_ + 1) % kFifo;
  fifo_len_--;
}

size_t TcpDevice::readingsInFlight() const {
  size_t n = 0;
  for (size_t i = 0; i < fifo_len_; i++) {
    uint8_t k = fifo_[(fifo_head_ + i) % kFifo].kind;
    if (k == K_READING || k == K_DROPPED) n++;
  }
  return n;
}

void TcpDevice::onConnectFailed(uint32_t now) {
  link_ = DOWN;
  retry_at_ = now + backoff_.nextJittered(rng_);
}

const char* TcpDevice::onConnected(uint32_t now) {
  link_ = UP;
  greeted_ = dead_ = user_closed_ = false;
  holding_ = false;
  if (ever_connected_) stats_.reconnects++;
  ever_connected_ = true;
  fifo_head_ = fifo_len_ = 0;
  push(K_HELLO, 0, 0, now);
  return has_token_ ? greeting_ : hello_;
}

const char* TcpDevice::nextLine(uint32_t now) {
  if (link_ != UP || dead_ || user_closed_) return nullptr;
  if (holding_ && !reached(now, hold_until_)) return nullptr;
  holding_ = false;
  if (readingsInFlight() >= kMaxInFlight || fifo_len_ >= kFifo) return nullptr;
  Slot* s = oldest(true);
  if (!s) return nullptr;
  if (s->written) stats_.resent++; else stats_.sent++;
  s->written = true;
  s->in_flight = true;
  push(K_READING, s->seq, 0, now);
  return s->line;
}

bool TcpDevice::sendChat(const char* text, uint32_t now) {
  if (link_ != UP || dead_ || user_closed_ || fifo_len_ >= kFifo) return false;
  push(K_CHAT, 0, 0, now);
  if (containsCloseSocket(text)) user_closed_ = true;
  return true;
}

TcpDevice::Event TcpDevice::onLine(const char* line, size_t len, uint32_t now) {
  if (startsWith(line, len, kNotice)) {
    // The server closes after a notice and answers nothing more: no reason to wait.
    if (link_ == UP) dead_ = true;
    return EV_NOTICE;
  }
  if (startsWith(line, len, kOperator)) return EV_OPERATOR;
  if (startsWith(line, len, kRpc)) return onRpc(line, len, now);
  if (startsWith(line, len, kAttributes)) return onAttributes(line, len, now);
  if (isOtaLine(line, len)) return EV_OTA;
  if (fifo_len_ == 0) { mismatch(); return EV_MISMATCH; }
  InFlight front = fifo_[fifo_head_];
  popFront();
  bool is_error = startsWith(line, len, kError);
  switch (front.kind) {
    case K_HELLO:
      if (isAck(line, len, hello_)) {
        greeted_ = true;
        backoff_.reset();
        return EV_GREETED;
      }
      if (is_error) { dead_ = true; return EV_REFUSED; }
      break;
    case K_CHAT:
      return EV_CHAT_REPLY;
    case K_RPC:
      if (!is_error && upperHash(line, len) == front.hash) return EV_RPC_ACK;
      if (is_error) return EV_REFUSED;  // an answer is never resent
      break;
    case K_DROPPED:
      if (!is_error && upperHash(line, len) == front.hash) return EV_LATE_ACK;
      if (is_error) return EV_REFUSED;
      break;
    case K_READING: {
      Slot* s = findSeq(front.seq);
      if (!s) break;
      if (isAck(line, len, s->line)) {
        s->seq = 0;
        used_--;
        stats_.acked++;
        return EV_ACK;
      }
      s->in_flight = false;  // back to the buffer; oldest-first order is by seq
      if (is_error) {
        stats_.refused++;
        holding_ = true;
        hold_until_ = now + interval_ms_;
        return EV_REFUSED;
      }
      break;
    }
  }
  mismatch();
  return EV_MISMATCH;
}

TcpDevice::Event TcpDevice::onRpc(const char* line, size_t len, uint32_t now) {
  RpcRequest req;
  // Nothing written after CLOSE SOCKET is read; a dead link is about to close.
  bool can_answer = link_ == UP && !dead_ && !user_closed_ && fifo_len_ < kFifo;
  if (!parseRpcLine(line, len, &req) || !can_answer) {
    stats_.rpcs_ignored++;
    return EV_RPC_IGNORED;
  }
  RpcSettings st = {interval_ms_, led_};
  if (runRpc(req, st, rpc_answer_, sizeof rpc_answer_) == RPC_NO_ROOM) {
    stats_.rpcs_ignored++;
    return EV_RPC_IGNORED;
  }
  setInterval(st.interval_ms, now);
  led_ = st.led;
  push(K_RPC, 0, upperHash(rpc_answer_, strlen(rpc_answer_)), now);
  stats_.rpcs++;
  return EV_RPC;
}

TcpDevice::Event TcpDevice::onAttributes(const char* line, size_t len, uint32_t now) {
  const size_t skip = sizeof kAttributes - 1;
  uint32_t ms;
  if (parseIntervalParams(line + skip, len - skip, &ms)) setInterval(ms, now);
  return EV_ATTRIBUTES;
}

void TcpDevice::setInterval(uint32_t ms, uint32_t now) {
  if (ms == interval_ms_) return;
  // As on M3: the next reading comes one new interval from now, not at the old time.
  interval_ms_ = ms;
  next_reading_at_ = now + jittered(interval_ms_);
}

TcpDevice::Event TcpDevice::onOverlongLine(const char* head, size_t len, uint32_t now) {
  if (startsWith(head, len, kOperator)) return EV_OPERATOR;
  // Cut off: whatever it set cannot be read.
  if (startsWith(head, len, kAttributes)) return EV_ATTRIBUTES;
  if (isOtaLine(head, len)) return EV_OTA_IGNORED;
  if (startsWith(head, len, kRpc)) {
    // Its params were cut off: not a request we can run.
    stats_.rpcs_ignored++;
    return EV_RPC_IGNORED;
  }
  if (startsWith(head, len, kNotice) || startsWith(head, len, kError))
    return onLine(head, len, now);
  mismatch();
  return EV_MISMATCH;
}

void TcpDevice::mismatch() {
  stats_.mismatches++;
  // Replies no longer line up with what was sent: only a fresh connection can tell.
  if (link_ == UP) dead_ = true;
}

void TcpDevice::handleTimeout(uint32_t now) {
  if (link_ == UP && !dead_ && fifo_len_ > 0 &&
      reached(now, fifo_[fifo_head_].sent_at + kAckTimeoutMs))
    dead_ = true;
}

void TcpDevice::onClosed(uint32_t now) {
  if (link_ != UP) return;
  for (size_t i = 0; i < kSlots; i++) slots_[i].in_flight = false;
  fifo_head_ = fifo_len_ = 0;
  holding_ = false;
  link_ = DOWN;
  // Closed on request (CLOSE SOCKET): come back at the next reading, as in M0.
  retry_at_ = user_closed_ ? next_reading_at_ : now + backoff_.nextJittered(rng_);
  user_closed_ = false;
}

}  // namespace iotchat
