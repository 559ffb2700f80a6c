// Server-side RPC on the M2 device (TcpDevice): requests answer nothing the device sent, the
// answers' echoes line up with the readings in flight, setInterval moves the schedule.
#include <string.h>

#include "check.h"
#include "iotchat_line_reader.h"
#include "iotchat_tcp_device.h"

using namespace iotchat;

static TcpDevice::Event line(TcpDevice& d, const char* l, uint32_t now) {
  return d.onLine(l, strlen(l), now);
}

static void upcase(const char* in, char* out) {
  for (; *in; in++, out++) *out = (*in >= 'a' && *in <= 'z') ? (char)(*in - 32) : *in;
  *out = '\0';
}

// The server's echo of `sent`.
static TcpDevice::Event echo(TcpDevice& d, const char* sent, uint32_t now) {
  char up[256];
  upcase(sent, up);
  return line(d, up, now);
}

static TcpDevice greeted(uint32_t interval_ms) {
  TcpDevice d("esp-1", interval_ms, 1, 0);
  d.onConnected(0);
  line(d, "HELLO ESP-1", 0);
  return d;
}

TEST(rpc_between_readings_in_flight_keeps_the_fifo_aligned) {
  TcpDevice d = greeted(1000);
  d.produce(0, 100, "a=1");
  d.produce(0, 100, "a=2");
  char a[80], b[80];
  strcpy(a, d.nextLine(0));
  strcpy(b, d.nextLine(0));
  CHECK_EQ(line(d, "rpc: 7 getInterval null", 1), TcpDevice::EV_RPC);
  char answer[kRpcAnswerMax];
  strcpy(answer, d.rpcAnswer());
  CHECK_STR(answer, "RPC 7 {\"interval\":1000}");
  d.produce(0, 100, "a=3");
  char c[80];
  strcpy(c, d.nextLine(2));  // written after the answer
  CHECK_EQ(echo(d, a, 3), TcpDevice::EV_ACK);
  CHECK_EQ(echo(d, b, 3), TcpDevice::EV_ACK);
  CHECK_EQ(echo(d, answer, 3), TcpDevice::EV_RPC_ACK);
  CHECK_EQ(echo(d, c, 3), TcpDevice::EV_ACK);
  CHECK(!d.wantsClose());
  CHECK_EQ(d.unacked(), 0);
  CHECK_EQ(d.stats().acked, 3);
  CHECK_EQ(d.stats().rpcs, 1);
  CHECK_EQ(d.stats().mismatches, 0);
}

TEST(rpc_answer_is_not_a_reading_and_is_not_resent) {
  TcpDevice d = greeted(1000);
  CHECK_EQ(line(d, "rpc: 1 getInterval null", 1), TcpDevice::EV_RPC);
  CHECK(d.nextLine(1) == nullptr);
  CHECK_EQ(d.unacked(), 0);
  d.onClosed(2);
  d.onConnected(200);
  line(d, "HELLO ESP-1", 200);
  CHECK(d.nextLine(200) == nullptr);
  CHECK_EQ(d.stats().sent + d.stats().resent, 0);
}

TEST(wrong_echo_of_an_answer_is_a_mismatch_and_error_is_not) {
  TcpDevice d = greeted(1000);
  line(d, "rpc: 1 getInterval null", 1);
  CHECK_EQ(line(d, "RPC 1 {\"INTERVAL\":999}", 2), TcpDevice::EV_MISMATCH);
  CHECK(d.wantsClose());

  TcpDevice e = greeted(1000);
  line(e, "rpc: 1 getInterval null", 1);
  CHECK_EQ(line(e, "error: line longer than 16 bytes", 2), TcpDevice::EV_REFUSED);
  CHECK(!e.wantsClose());
  CHECK_EQ(e.stats().refused, 0);  // that counts readings
}

TEST(set_interval_reschedules_the_next_reading) {
  TcpDevice d = greeted(10000);
  d.produce(0, 1, "a=1");
  CHECK(!d.readingDue(5000));  // the next one is ~10 s out
  CHECK_EQ(line(d, "rpc: 3 setInterval {\"interval\":200}", 1000), TcpDevice::EV_RPC);
  CHECK_STR(d.rpcAnswer(), "RPC 3 {\"interval\":200}");
  CHECK_EQ(d.interval(), 200);
  CHECK(!d.readingDue(1000 + 179));
  CHECK(d.readingDue(1000 + 220));
  // And the one after keeps the new spacing.
  d.produce(1220, 2, "a=2");
  CHECK(!d.readingDue(1220 + 179));
  CHECK(d.readingDue(1220 + 221));
  CHECK_EQ(echo(d, d.rpcAnswer(), 1300), TcpDevice::EV_RPC_ACK);
}

TEST(set_interval_with_bad_params_changes_nothing) {
  TcpDevice d = greeted(1000);
  d.produce(0, 1, "a=1");
  const char* bad[] = {
      "rpc: 4 setInterval {\"interval\":99}",
      "rpc: 4 setInterval {\"interval\":\"200\"}",
      "rpc: 4 setInterval null",
      "rpc: 4 setInterval",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_EQ(line(d, bad[i], 10), TcpDevice::EV_RPC);
    CHECK_STR(d.rpcAnswer(),
              "RPC 4 {\"error\":\"setInterval needs {\\\"interval\\\": 100..3600000 ms}\"}");
    CHECK_EQ(echo(d, d.rpcAnswer(), 10), TcpDevice::EV_RPC_ACK);
  }
  CHECK_EQ(d.interval(), 1000);
  CHECK(!d.readingDue(899));
  CHECK(!d.wantsClose());
}

TEST(unknown_method_and_set_led) {
  TcpDevice d = greeted(1000);
  CHECK_EQ(line(d, "rpc: 5 reboot {\"now\":true}", 1), TcpDevice::EV_RPC);
  CHECK_STR(d.rpcAnswer(), "RPC 5 {\"error\":\"unknown method reboot\"}");
  CHECK_EQ(echo(d, d.rpcAnswer(), 1), TcpDevice::EV_RPC_ACK);
  CHECK(!d.led());
  CHECK_EQ(line(d, "rpc: 6 setLed {\"on\":true}", 1), TcpDevice::EV_RPC);
  CHECK_STR(d.rpcAnswer(), "RPC 6 {\"on\":true}");
  CHECK(d.led());
}

TEST(malformed_rpc_lines_are_ignored_without_touching_the_fifo) {
  TcpDevice d = greeted(1000);
  d.produce(0, 1, "a=1");
  char a[80];
  strcpy(a, d.nextLine(0));
  const char* bad[] = {"rpc:", "rpc: x getInterval null", "rpc: 1 getInterval {", "rpc:1 a b"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ(line(d, bad[i], 1), TcpDevice::EV_RPC_IGNORED);
  CHECK_EQ(d.stats().rpcs_ignored, 4);
  CHECK_EQ(echo(d, a, 2), TcpDevice::EV_ACK);
  CHECK(!d.wantsClose());
}

TEST(rpc_is_not_answered_while_closing) {
  TcpDevice d = greeted(1000);
  CHECK(d.sendChat("close socket", 0));
  CHECK_EQ(line(d, "rpc: 1 getInterval null", 1), TcpDevice::EV_RPC_IGNORED);
  TcpDevice down("esp-1", 1000, 1, 0);
  CHECK_EQ(line(down, "rpc: 1 getInterval null", 1), TcpDevice::EV_RPC_IGNORED);
}

TEST(rpc_is_ignored_when_the_fifo_is_full) {
  TcpDevice d = greeted(1000);
  size_t answered = 0;
  for (size_t i = 0; i < TcpDevice::kFifo + 2; i++)
    if (line(d, "rpc: 1 getInterval null", 1) == TcpDevice::EV_RPC) answered++;
  CHECK_EQ(answered, TcpDevice::kFifo);
  CHECK_EQ(d.stats().rpcs_ignored, 2);
}

TEST(overdue_echo_of_an_answer_kills_the_connection) {
  TcpDevice d = greeted(1000);
  line(d, "rpc: 1 getInterval null", 100);
  d.handleTimeout(100 + TcpDevice::kAckTimeoutMs - 1);
  CHECK(!d.wantsClose());
  d.handleTimeout(100 + TcpDevice::kAckTimeoutMs);
  CHECK(d.wantsClose());
}

TEST(rpc_delivered_byte_by_byte_through_the_line_reader) {
  TcpDevice d = greeted(1000);
  d.produce(0, 1, "a=1");
  char a[80];
  strcpy(a, d.nextLine(0));
  char stream[256] = "rpc: 9 setInterval { \"interval\" : 300 }\r\n";
  char up[80];
  upcase(a, up);
  strcat(stream, up);
  strcat(stream, "\n");
  LineReader<160> r;
  TcpDevice::Event seen[4];
  size_t n = 0;
  for (const char* p = stream; *p; p++)
    if (r.push((uint8_t)*p) == LineReader<160>::LINE && n < 4) seen[n++] = d.onLine(r.line(), r.length(), 5);
  CHECK_EQ(n, 2);
  CHECK_EQ(seen[0], TcpDevice::EV_RPC);
  CHECK_EQ(seen[1], TcpDevice::EV_ACK);
  CHECK_EQ(d.interval(), 300);
  CHECK_STR(d.rpcAnswer(), "RPC 9 {\"interval\":300}");
  CHECK_EQ(echo(d, d.rpcAnswer(), 6), TcpDevice::EV_RPC_ACK);
}

TEST(overlong_server_lines_by_what_they_start_with) {
  TcpDevice d = greeted(1000);
  d.produce(0, 1, "a=1");
  char a[80];
  strcpy(a, d.nextLine(0));
  CHECK_EQ(d.onOverlongLine("operator: very long", 19, 1), TcpDevice::EV_OPERATOR);
  CHECK_EQ(d.onOverlongLine("rpc: 1 setInterval {\"pad\":\"", 27, 1), TcpDevice::EV_RPC_IGNORED);
  const char* long_attr = "attr: {\"interval\":500,\"pad\":\"";
  CHECK_EQ(d.onOverlongLine(long_attr, strlen(long_attr), 1), TcpDevice::EV_ATTRIBUTES);
  CHECK_EQ(d.interval(), 1000u);
  CHECK(!d.wantsClose());
  CHECK_EQ(echo(d, a, 2), TcpDevice::EV_ACK);
  CHECK_EQ(d.onOverlongLine("A=1 TS=1 AND MORE", 17, 3), TcpDevice::EV_MISMATCH);
  CHECK(d.wantsClose());
  TcpDevice n = greeted(1000);
  CHECK_EQ(n.onOverlongLine("notice: long", 12, 1), TcpDevice::EV_NOTICE);
  CHECK(n.wantsClose());
}

TEST(a_shared_attribute_interval_applies_at_once_and_answers_nothing) {
  TcpDevice d = greeted(1000);
  d.produce(0, 1, "a=1");
  char a[80];
  strcpy(a, d.nextLine(0));
  // Between a reading and its echo: the attribute line is not its reply.
  CHECK_EQ(line(d, "attr: {\"led\":true,\"interval\":5000}", 200), TcpDevice::EV_ATTRIBUTES);
  CHECK_EQ(d.interval(), 5000u);
  CHECK(!d.readingDue(4000));
  CHECK(d.readingDue(200 + 5500));
  CHECK(d.nextLine(300) == nullptr);  // nothing to answer
  CHECK_EQ(echo(d, a, 300), TcpDevice::EV_ACK);
  const char* ignored[] = {"attr: {\"interval\":99}", "attr: {\"interval\":\"500\"}", "attr: {\"led\":false}",
                           "attr: not json"};
  for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) {
    CHECK_EQ(line(d, ignored[i], 400), TcpDevice::EV_ATTRIBUTES);
    CHECK_EQ(d.interval(), 5000u);
  }
  CHECK_EQ(d.stats().mismatches, 0u);
  CHECK(!d.wantsClose());
}
