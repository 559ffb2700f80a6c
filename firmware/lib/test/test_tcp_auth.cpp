// The device token: `HELLO <name> <token>` goes out, the echo `HELLO <NAME>` (no token) is the
// ack, a refusal closes and backs off, and a token the server could never accept is not used.
#include <string.h>

#include "check.h"
#include "iotchat_tcp_device.h"

using namespace iotchat;

static TcpDevice::Event reply(TcpDevice& d, const char* line, uint32_t now) {
  return d.onLine(line, strlen(line), now);
}

TEST(a_token_goes_into_the_hello_and_its_echo_without_it_is_the_ack) {
  TcpDevice d("esp-1", 1000, 1, 0, "s3cret-T0ken");
  CHECK(d.hasToken());
  CHECK_STR(d.onConnected(0), "HELLO esp-1 s3cret-T0ken");
  CHECK_STR(d.name(), "esp-1");
  CHECK_EQ(reply(d, "HELLO ESP-1", 1), TcpDevice::EV_GREETED);
  CHECK(d.isGreeted());
  d.produce(1, 1000, "a=1");
  CHECK_STR(d.nextLine(1), "a=1 ts=1000");
  CHECK_EQ(reply(d, "A=1 TS=1000", 2), TcpDevice::EV_ACK);
}

TEST(the_echo_with_the_token_is_not_the_ack) {
  // The server never sends the token back; a reply that has it is not our HELLO's echo.
  TcpDevice d("esp-1", 1000, 1, 0, "tok");
  d.onConnected(0);
  CHECK_EQ(reply(d, "HELLO ESP-1 TOK", 1), TcpDevice::EV_MISMATCH);
  CHECK(d.wantsClose());
}

TEST(no_token_sends_the_plain_hello) {
  TcpDevice d("esp-1", 1000, 1, 0, "");
  CHECK(!d.hasToken());
  CHECK(!d.tokenRejected());
  CHECK_STR(d.onConnected(0), "HELLO esp-1");
  CHECK_EQ(reply(d, "HELLO ESP-1", 1), TcpDevice::EV_GREETED);
}

TEST(a_refused_token_closes_and_retries_after_a_growing_backoff) {
  TcpDevice d("esp-1", 1000, 7, 0, "wrong");
  uint32_t now = 0, last = 0;
  for (int i = 0; i < 4; i++) {
    CHECK(d.connectDue(now));
    d.onConnected(now);
    CHECK_EQ(reply(d, "error: authentication failed: unknown device name or wrong token; "
                      "check both and reconnect", now),
             TcpDevice::EV_REFUSED);
    CHECK(!d.isGreeted());
    CHECK(d.wantsClose());
    d.onClosed(now);
    uint32_t wait = d.retryIn(now);
    CHECK(wait >= TcpDevice::kBackoffInitialMs / 2);
    CHECK(wait >= last);  // equal jitter over a doubling delay never shrinks below the cap
    CHECK(!d.connectDue(now + wait - 1));
    last = wait;
    now += wait;
  }
  CHECK(last >= 4 * (TcpDevice::kBackoffInitialMs / 2));
  CHECK_EQ(d.stats().reconnects, 3);
}

TEST(tokens_the_server_cannot_accept_are_not_sent) {
  char long_token[TcpDevice::kTokenMax + 1];
  memset(long_token, 'a', sizeof long_token - 1);
  long_token[sizeof long_token - 1] = '\0';
  const char* bad[] = {"two words", long_token, "tab\there", "caf\xc3\xa9"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    TcpDevice d("esp-1", 1000, 1, 0, bad[i]);
    CHECK(d.tokenRejected());
    CHECK(!d.hasToken());
    CHECK_STR(d.onConnected(0), "HELLO esp-1");
  }
  long_token[TcpDevice::kTokenMax - 1] = '\0';  // 64 bytes: the longest the device keeps
  TcpDevice ok("esp-1", 1000, 1, 0, long_token);
  CHECK(ok.hasToken());
  CHECK_EQ(strlen(ok.onConnected(0)), strlen("HELLO esp-1 ") + 64);
}

TEST(a_token_fits_with_the_longest_name) {
  char name[TcpDevice::kNameMax], token[TcpDevice::kTokenMax];
  memset(name, 'n', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  memset(token, 't', sizeof token - 1);
  token[sizeof token - 1] = '\0';
  TcpDevice d(name, 1000, 1, 0, token);
  const char* hello = d.onConnected(0);
  CHECK_EQ(strlen(hello), 6 + 64 + 1 + 64);
  CHECK_EQ(strncmp(hello + 6 + 64, " tttt", 5), 0);
}
