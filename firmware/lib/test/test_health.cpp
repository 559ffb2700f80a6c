#include "check.h"
#include "iotchat_health.h"

using namespace iotchat;

TEST(health_line_is_attributes_json_after_the_keyword) {
  Health h = {-61, 31240, 12, 3600, "Power On", "0.1.0"};
  char buf[kHealthMax];
  size_t n = formatHealthLine(buf, sizeof buf, h);
  CHECK_STR(buf, "HEALTH {\"rssi\":-61,\"heap\":31240,\"frag\":12,\"uptime\":3600,"
                 "\"reset\":\"Power On\",\"fw\":\"0.1.0\"}");
  CHECK(n == strlen(buf));
  char json[kHealthMax];
  CHECK(formatHealthJson(json, sizeof json, h) == n - 7);
  CHECK_STR(json, buf + 7);
}

TEST(health_text_cannot_break_the_json_and_a_short_buffer_gives_zero) {
  Health h = {-90, 0, 100, 4294967, "a\"b\\c\n", nullptr};
  char buf[kHealthMax];
  CHECK(formatHealthLine(buf, sizeof buf, h) > 0);
  CHECK(strstr(buf, "\"reset\":\"a?b?c?\"") != nullptr);
  CHECK(strstr(buf, "\"fw\":\"\"") != nullptr);
  char small[20];
  CHECK(formatHealthLine(small, sizeof small, h) == 0);
  CHECK(formatHealthJson(small, sizeof small, h) == 0);
  CHECK(formatHealthLine(small, 5, h) == 0);
}

TEST(health_is_due_at_boot_and_each_connect_then_every_interval) {
  HealthTimer t(1000);
  CHECK(t.due(0));
  t.sent(5);
  CHECK(!t.due(1004));
  CHECK(t.due(1005));
  t.sent(1005);
  t.onConnected();
  CHECK(t.due(1006));
  t.sent(1006);
  CHECK(!t.due(2005));
  // millis() wraps after ~49 days: the schedule follows it.
  t.sent(0xFFFFFF00u);
  CHECK(!t.due(0xFFFFFFFFu));
  CHECK(t.due(0xFFFFFF00u + 1000));
}
