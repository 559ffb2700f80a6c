// The M2 device as a sans-IO state machine, a fixed-size copy of src/fleet/device.rs: the
// sketch passes `now` (millis) in, writes the lines it is handed, feeds back the lines it
// reads, and tells it when the connection opened or ended. No sockets, no clock, no heap.
//
// Rules (the device contract, as in device.rs):
// - On connecting, send `HELLO <name>`, or `HELLO <name> <token>` when the device has a token
//   (a server with --auth-tokens wants it first); the echo is `HELLO <NAME>` either way (the
//   server never sends the token back), and it means the server knows us. An `error: ` in its
//   place (wrong token, server full) is a refusal: close, and retry after the backoff.
// - Every interval (±10 %) the sketch takes a reading; it goes into a bounded buffer of
//   unacknowledged readings. When the buffer is full the oldest reading is dropped.
// - Readings are sent oldest first, at most kMaxInFlight ahead of the replies. Replies come in
//   order: the line upper-cased acknowledges it; `error: ` means not stored (resend an interval
//   later); `notice: ` means the server is closing; `operator: ` and `rpc: ` answer nothing;
//   anything else is a mismatch and the connection is restarted. A reply later than the ack
//   timeout means the connection is dead.
// - `rpc: <id> <method> <params>` is a server-side RPC (iotchat_rpc.h): the device answers at
//   once with `RPC <id> <result>`, whose echo it expects in order like any line it sends. An
//   answer is not a reading: it is never buffered or resent. Malformed requests are ignored.
// - `attr: <json>` is a ThingsBoard shared-attribute update (through serve's bridge): it
//   answers nothing; a valid `interval` in it applies as setInterval's does.
// - `ota: <version> <url>` tells the device to update (iotchat_ota.h); it answers nothing
//   here: the sketch fetches the image and, on failure, sends `OTA FAILED <reason>` as chat.
// - When a connection ends, the readings in flight go back to the buffer and are resent after
//   the next HELLO with the same line (same ts), so the server stores each once.
// - Reconnect after a capped exponential backoff with jitter, reset by an acknowledged HELLO.
// - Chat lines (typed on the serial console) are sent between readings; a chat line containing
//   CLOSE SOCKET closes the connection, and the device reconnects at its next reading.
#ifndef IOTCHAT_TCP_DEVICE_H
#define IOTCHAT_TCP_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "iotchat_backoff.h"
#include "iotchat_rpc.h"
#include "iotchat_sample.h"

namespace iotchat {

class TcpDevice {
 public:
  static const size_t kSlots = 32;        // unacknowledged readings kept
  static const size_t kLineMax = 80;      // one reading line, NUL included
  static const size_t kNameMax = 65;      // device name (1..64) + NUL
  static const size_t kTokenMax = 65;     // device token (1..64 printable ASCII) + NUL
  static const size_t kMaxInFlight = 8;   // readings sent ahead of their replies
  static const size_t kFifo = kMaxInFlight + 8;  // + HELLO, chat lines and RPC answers
  static const uint32_t kBackoffInitialMs = 100;
  static const uint32_t kBackoffMaxMs = 5000;
  static const uint32_t kAckTimeoutMs = 10000;

  enum Event { EV_NONE, EV_GREETED, EV_ACK, EV_REFUSED, EV_LATE_ACK, EV_CHAT_REPLY, EV_NOTICE,
               EV_OPERATOR, EV_MISMATCH,
               EV_RPC,          // a request: write rpcAnswer() now, before any other line
               EV_RPC_IGNORED,  // a malformed request, or one that came while closing or busy
               EV_RPC_ACK,      // the echo of an answer
               EV_ATTRIBUTES,   // a shared-attribute update (interval() may have changed)
               EV_OTA,          // `ota: <version> <url>`: the sketch parses it (iotchat_ota.h)
               EV_OTA_IGNORED }; // an `ota:` line longer than the line buffer: cut, unusable

  struct Stats {
    uint32_t produced, sent, resent, acked, dropped, refused, reconnects, mismatches;
    uint32_t rpcs, rpcs_ignored;
  };

  // `name` is copied (truncated to 64 bytes). The first reading and connect are due at `now`.
  // `token` (copied; "" = none) goes into the HELLO only: no accessor ever hands it back, so
  // the sketch cannot print it. A token that is not 1 to 64 printable ASCII characters without
  // spaces is not used at all (tokenRejected() says so): a cut or spaced token could only fail.
  TcpDevice(const char* name, uint32_t interval_ms, uint32_t seed, uint32_t now,
            const char* token = "");

  uint32_t interval() const { return interval_ms_; }
  bool led() const { return led_; }
  const char* name() const { return hello_ + 6; }
  const Stats& stats() const { return stats_; }
  size_t unacked() const { return used_; }
  bool isUp() const { return link_ == UP; }
  bool isGreeted() const { return link_ == UP && greeted_; }
  bool hasToken() const { return has_token_; }
  bool tokenRejected() const { return token_rejected_; }
  // While down: ms until connectDue() (0 if due now).
  uint32_t retryIn(uint32_t now) const {
    return (link_ == DOWN && !reached(now, retry_at_)) ? retry_at_ - now : 0;
  }

  // --- readings
  bool readingDue(uint32_t now) const { return reached(now, next_reading_at_); }
  // Stores `values` + ` ts=<ts>` (ts = max(wall_ms, last + 1)) and schedules the next reading.
  // Returns false if the line does not fit kLineMax (nothing stored).
  bool produce(uint32_t now, int64_t wall_ms, const char* values);

  // --- link
  bool connectDue(uint32_t now) const { return link_ == DOWN && reached(now, retry_at_); }
  void onConnectFailed(uint32_t now);
  // Connected: returns the HELLO line (without LF) to write; it holds the token, if any, so
  // write it to the socket only.
  const char* onConnected(uint32_t now);
  // The next reading line (without LF) to write now, or nullptr. Call until nullptr.
  const char* nextLine(uint32_t now);
  // A chat line the sketch is about to write; false (do not write it) if not connected or too
  // many lines are in flight.
  bool sendChat(const char* text, uint32_t now);
  // One line from the server (without LF).
  Event onLine(const char* line, size_t len, uint32_t now);
  // After EV_RPC: the answer line (without LF). Its echo is expected next after everything
  // written before it, so the sketch must write it before asking nextLine() again.
  const char* rpcAnswer() const { return rpc_answer_; }
  // A line from the server longer than the line buffer; `head` is its start. Too long to be
  // the echo of anything we sent, but operator text and RPC params are the peer's to size.
  Event onOverlongLine(const char* head, size_t len, uint32_t now);
  // Notices an overdue reply.
  void handleTimeout(uint32_t now);
  // Whether the sketch must close the connection (overdue reply, mismatch, notice, refusal).
  bool wantsClose() const { return link_ == UP && dead_; }
  // The connection ended: readings in flight go back to the buffer; a reconnect is scheduled.
  void onClosed(uint32_t now);

 private:
  enum Link { DOWN, UP };
  enum Kind { K_HELLO, K_READING, K_DROPPED, K_CHAT, K_RPC };
  struct Slot {
    char line[kLineMax];
    uint32_t seq;   // production order, from 1; 0 = free
    bool in_flight;
    bool written;
  };
  struct InFlight {
    uint8_t kind;
    uint32_t seq;      // K_READING: the slot's seq
    uint32_t hash;     // K_DROPPED, K_RPC: hash of the line, upper-cased
    uint32_t sent_at;
  };

  Slot* findSeq(uint32_t seq);
  Slot* oldest(bool unsent_only);
  void dropOldest();
  void push(uint8_t kind, uint32_t seq, uint32_t hash, uint32_t now);
  void popFront();
  size_t readingsInFlight() const;
  void mismatch();
  Event onRpc(const char* line, size_t len, uint32_t now);
  Event onAttributes(const char* line, size_t len, uint32_t now);
  void setInterval(uint32_t ms, uint32_t now);
  uint32_t jittered(uint32_t ms);

  char hello_[6 + kNameMax];              // `HELLO <name>`: what the echo is matched against
  char greeting_[6 + kNameMax + kTokenMax];  // `HELLO <name> <token>`, sent when has_token_
  bool has_token_, token_rejected_;
  uint32_t interval_ms_;
  Rng rng_;
  Backoff backoff_;
  MonotonicTs ts_;
  Stats stats_;
  uint32_t next_reading_at_;
  uint32_t retry_at_;
  uint32_t hold_until_;
  bool holding_;
  Link link_;
  bool greeted_, dead_, ever_connected_, user_closed_, led_;
  Slot slots_[kSlots];
  size_t used_;
  uint32_t seq_;
  InFlight fifo_[kFifo];
  size_t fifo_head_, fifo_len_;
  char rpc_answer_[kRpcAnswerMax];  // written only by onRpc(), read by the sketch right after
};

// Whether `reply` is `sent` upper-cased (ASCII), as the server acknowledges our lines.
bool isAck(const char* reply, size_t reply_len, const char* sent);
// FNV-1a of a line, ASCII upper-cased.
uint32_t upperHash(const char* s, size_t len);
// Whether `text` contains CLOSE SOCKET in any ASCII case.
bool containsCloseSocket(const char* text);

}  // namespace iotchat

#endif
