#include <string.h>

#include "check.h"
#include "iotchat_tcp_device.h"

using namespace iotchat;

static TcpDevice::Event reply(TcpDevice& d, const char* line, uint32_t now) {
  return d.onLine(line, strlen(line), now);
}

static void upper(const char* in, char* out) {
  for (; *in; in++, out++) *out = (*in >= 'a' && *in <= 'z') ? (char)(*in - 32) : *in;
  *out = '\0';
}

static void ack(TcpDevice& d, const char* line, uint32_t now) {
  char up[128];
  upper(line, up);
  CHECK_EQ(reply(d, up, now), TcpDevice::EV_ACK);
}

static void greet(TcpDevice& d, uint32_t now) {
  CHECK(d.connectDue(now));
  CHECK_STR(d.onConnected(now), "HELLO esp-1");
  CHECK_EQ(reply(d, "HELLO ESP-1", now), TcpDevice::EV_GREETED);
  CHECK(d.isGreeted());
}

TEST(hello_then_readings_acked_in_order) {
  TcpDevice d("esp-1", 1000, 1, 0);
  greet(d, 0);
  CHECK(d.readingDue(0));
  CHECK(d.produce(0, 1000, "adc=1"));
  CHECK(d.produce(0, 1000, "adc=2"));
  char a[80], b[80];
  strcpy(a, d.nextLine(0));
  strcpy(b, d.nextLine(0));
  CHECK(d.nextLine(0) == nullptr);
  CHECK_STR(a, "adc=1 ts=1000");
  CHECK_STR(b, "adc=2 ts=1001");
  ack(d, a, 1);
  ack(d, b, 1);
  CHECK_EQ(d.unacked(), 0);
  CHECK_EQ(d.stats().acked, 2);
}

TEST(next_reading_is_an_interval_later_within_jitter) {
  TcpDevice d("esp-1", 1000, 3, 0);
  d.produce(0, 0, "x=1");
  CHECK(!d.readingDue(899));
  CHECK(d.readingDue(1100));
}

TEST(readings_before_connect_wait_in_the_buffer) {
  TcpDevice d("esp-1", 1000, 1, 0);
  d.produce(0, 5, "a=1");
  CHECK(d.nextLine(0) == nullptr);
  greet(d, 0);
  CHECK_STR(d.nextLine(0), "a=1 ts=5");
}

TEST(closed_connection_resends_in_flight_with_the_same_line) {
  TcpDevice d("esp-1", 1000, 1, 0);
  greet(d, 0);
  d.produce(0, 100, "a=1");
  d.produce(0, 100, "a=2");
  d.nextLine(0);
  d.nextLine(0);
  ack(d, "a=1 ts=100", 1);
  d.onClosed(2);
  CHECK(!d.connectDue(2));
  CHECK(d.connectDue(2 + TcpDevice::kBackoffInitialMs));
  greet(d, 200);
  CHECK_STR(d.nextLine(200), "a=2 ts=101");
  CHECK(d.nextLine(200) == nullptr);
  CHECK_EQ(d.stats().resent, 1);
  CHECK_EQ(d.stats().reconnects, 1);
}

TEST(error_reply_requeues_and_holds_for_an_interval) {
  TcpDevice d("esp-1", 1000, 1, 0);
  greet(d, 0);
  d.produce(0, 1, "a=1");
  d.nextLine(0);
  CHECK_EQ(reply(d, "error: `1e999` is not a finite number", 10), TcpDevice::EV_REFUSED);
  CHECK(!d.wantsClose());
  CHECK(d.nextLine(500) == nullptr);
  CHECK_STR(d.nextLine(1010), "a=1 ts=1");
}

TEST(error_then_later_acks_keep_order) {
  TcpDevice d("esp-1", 1000, 1, 0);
  greet(d, 0);
  d.produce(0, 1, "a=1");
  d.produce(0, 1, "a=2");
  d.nextLine(0);
  d.nextLine(0);
  reply(d, "error: no", 1);
  ack(d, "a=2 ts=2", 1);
  CHECK_EQ(d.unacked(), 1);
  CHECK_STR(d.nextLine(2000), "a=1 ts=1");
}

TEST(mismatch_notice_and_refused_hello_close_the_connection) {
  TcpDevice d("esp-1", 1000, 1, 0);
  greet(d, 0);
  d.produce(0, 1, "a=1");
  d.nextLine(0);
  CHECK_EQ(reply(d, "SOMETHING ELSE", 1), TcpDevice::EV_MISMATCH);
  CHECK(d.wantsClose());
  d.onClosed(1);
  CHECK_EQ(d.unacked(), 1);

  TcpDevice n("esp-1", 1000, 1, 0);
  greet(n, 0);
  CHECK_EQ(reply(n, "notice: server shutting down", 1), TcpDevice::EV_NOTICE);
  CHECK(n.wantsClose());

  TcpDevice r("esp-1", 1000, 1, 0);
  r.onConnected(0);
  CHECK_EQ(reply(r, "error: server full (limit: 1 clients); try again later", 0),
           TcpDevice::EV_REFUSED);
  CHECK(r.wantsClose());
}

TEST(operator_lines_answer_nothing) {
  TcpDevice d("esp-1", 1000, 1, 0);
  greet(d, 0);
  d.produce(0, 1, "a=1");
  d.nextLine(0);
  CHECK_EQ(reply(d, "operator: hi", 1), TcpDevice::EV_OPERATOR);
  ack(d, "a=1 ts=1", 1);
}

TEST(overdue_reply_kills_the_connection) {
  TcpDevice d("esp-1", 1000, 1, 0);
  greet(d, 0);
  d.produce(0, 1, "a=1");
  d.nextLine(0);
  d.handleTimeout(TcpDevice::kAckTimeoutMs - 1);
  CHECK(!d.wantsClose());
  d.handleTimeout(TcpDevice::kAckTimeoutMs);
  CHECK(d.wantsClose());
}

TEST(window_limits_readings_in_flight) {
  TcpDevice d("esp-1", 1000, 1, 0);
  greet(d, 0);
  for (int i = 0; i < 20; i++) d.produce(0, 1, "a=1");
  size_t sent = 0;
  while (d.nextLine(0)) sent++;
  CHECK_EQ(sent, TcpDevice::kMaxInFlight);
}

TEST(full_buffer_drops_the_oldest_even_in_flight_and_replies_still_line_up) {
  TcpDevice d("esp-1", 1000, 1, 0);
  greet(d, 0);
  d.produce(0, 1, "a=1");
  char first[80];
  strcpy(first, d.nextLine(0));
  for (size_t i = 1; i < TcpDevice::kSlots; i++) d.produce(0, 1, "b=1");
  CHECK_EQ(d.unacked(), TcpDevice::kSlots);
  d.produce(0, 1, "c=1");  // drops a=1 while it is in flight
  CHECK_EQ(d.stats().dropped, 1);
  CHECK_EQ(d.unacked(), TcpDevice::kSlots);
  char up[80];
  upper(first, up);
  CHECK_EQ(reply(d, up, 1), TcpDevice::EV_LATE_ACK);
  CHECK(!d.wantsClose());
  CHECK_STR(d.nextLine(1), "b=1 ts=2");
}

TEST(drops_at_full_buffer_while_disconnected_keep_the_newest) {
  TcpDevice d("esp-1", 1000, 1, 0);
  char v[16];
  for (int i = 0; i < (int)TcpDevice::kSlots + 5; i++) {
    snprintf(v, sizeof v, "n=%d", i);
    d.produce(0, 0, v);
  }
  greet(d, 0);
  CHECK_STR(d.nextLine(0), "n=5 ts=5");
}

TEST(chat_close_socket_stops_sending_and_reconnects_at_next_reading) {
  TcpDevice d("esp-1", 1000, 1, 0);
  greet(d, 0);
  d.produce(0, 1, "a=1");
  CHECK(d.sendChat("bye, close socket", 0));
  CHECK(d.nextLine(0) == nullptr);
  CHECK_EQ(reply(d, "BYE, CLOSE SOCKET", 1), TcpDevice::EV_CHAT_REPLY);
  d.onClosed(1);
  CHECK(!d.connectDue(800));
  CHECK(d.connectDue(1100));
  greet(d, 1100);
  CHECK_STR(d.nextLine(1100), "a=1 ts=1");
}

TEST(chat_replies_keep_reading_acks_aligned) {
  TcpDevice d("esp-1", 1000, 1, 0);
  greet(d, 0);
  d.produce(0, 1, "a=1");
  d.nextLine(0);
  CHECK(d.sendChat("hi there", 0));
  ack(d, "a=1 ts=1", 1);
  CHECK_EQ(reply(d, "HI THERE", 1), TcpDevice::EV_CHAT_REPLY);
  CHECK(!d.sendChat("x", 0) == false);
}

TEST(chat_refused_when_down) {
  TcpDevice d("esp-1", 1000, 1, 0);
  CHECK(!d.sendChat("hello", 0));
}

TEST(backoff_grows_on_failures_and_resets_on_hello) {
  TcpDevice d("esp-1", 1000, 1, 0);
  uint32_t now = 0;
  for (int i = 0; i < 10; i++) {
    d.onConnectFailed(now);
    uint32_t t = now;
    while (!d.connectDue(t)) t++;
    CHECK(t - now <= TcpDevice::kBackoffMaxMs);
    if (i == 9) CHECK(t - now >= TcpDevice::kBackoffMaxMs / 2);
    now = t;
  }
  greet(d, now);
  d.onClosed(now);
  CHECK(d.connectDue(now + TcpDevice::kBackoffInitialMs));
}

TEST(helpers_ack_and_close_socket) {
  CHECK(isAck("A=1 TS=2", 8, "a=1 ts=2"));
  CHECK(!isAck("a=1 ts=2", 8, "a=1 ts=2"));
  CHECK(containsCloseSocket("please Close Socket now"));
  CHECK(!containsCloseSocket("close  socket"));
}
