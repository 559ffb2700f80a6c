// The M2 `ota: <version> <url>` line (OTA contract point 2) and the hex helpers.
#include <string.h>

#include "check.h"
#include "iotchat_ota.h"
#include "iotchat_tcp_device.h"

using namespace iotchat;

static const char kKey[] = "0123456789abcdef0123456789abcdef";

static bool parse(const char* line, OtaCommand* out) { return parseOtaLine(line, strlen(line), out); }

TEST(ota_line_parses_version_and_url) {
  OtaCommand c;
  char line[160];
  snprintf(line, sizeof line, "ota: 2.0.0 http://10.0.0.5:12080/ota/%s", kKey);
  CHECK(parse(line, &c));
  CHECK_STR(c.version, "2.0.0");
  CHECK(strncmp(c.url, "http://10.0.0.5:12080/ota/", 26) == 0);
  CHECK_STR(c.url + 26, kKey);
  snprintf(line, sizeof line, "ota: v-1+build.7 http://iot.example:80/ota/%s", kKey);
  CHECK(parse(line, &c));
  CHECK_STR(c.version, "v-1+build.7");
}

TEST(ota_line_refuses_malformed_input) {
  struct Case { const char* name; const char* fmt; };
  static const Case cases[] = {
      {"no prefix space", "ota:2.0.0 http://h:1/ota/%s"},
      {"upper-case prefix (an echo)", "OTA: 2.0.0 http://h:1/ota/%s"},
      {"no url", "ota: 2.0.0%s"},
      {"two spaces", "ota: 2.0.0  http://h:1/ota/%s"},
      {"trailing space", "ota: 2.0.0 http://h:1/ota/%s "},
      {"extra token", "ota: 2.0.0 http://h:1/ota/%s x"},
      {"https", "ota: 2.0.0 https://h:1/ota/%s"},
      {"no port", "ota: 2.0.0 http://h/ota/%s"},
      {"port 0", "ota: 2.0.0 http://h:0/ota/%s"},
      {"port too big", "ota: 2.0.0 http://h:65536/ota/%s"},
      {"empty host", "ota: 2.0.0 http://:1/ota/%s"},
      {"other path", "ota: 2.0.0 http://h:1/fw/%s"},
      {"key too long", "ota: 2.0.0 http://h:1/ota/%s0"},
      {"upper-case key", "ota: 2.0.0 http://h:1/ota/%.31sA"},
      {"tab in version", "ota: 2.0\t0 http://h:1/ota/%s"},
      {"version over 32", "ota: 0123456789abcdef0123456789abcdefX http://h:1/ota/%s"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char line[200];
    snprintf(line, sizeof line, cases[i].fmt, kKey);
    OtaCommand c;
    memset(&c, 'z', sizeof c);
    bool ok = parse(line, &c);
    if (ok) check::fail(__FILE__, __LINE__, cases[i].name);
    CHECK(c.version[0] == 'z');  // untouched on refusal
  }
  OtaCommand c;
  CHECK(!parseOtaLine("ota: 1 http://h:1/ota/", 5, &c));  // cut short by len
}

// The parser's bounds; the sketch's 160-byte line buffer is tighter (a 32-character version
// leaves 71 characters of host name): a longer line arrives cut, as EV_OTA_IGNORED.
TEST(ota_line_bounds_are_32_char_version_and_127_char_url) {
  char host[80];
  memset(host, 'h', sizeof host);
  // 127 = 7 (http://) + host + 6 (:65535) + 5 (/ota/) + 32
  host[127 - 7 - 6 - 5 - 32] = '\0';
  char line[200];
  snprintf(line, sizeof line, "ota: 0123456789abcdef0123456789abcdef http://%s:65535/ota/%s", host, kKey);
  OtaCommand c;
  CHECK(parse(line, &c));
  CHECK_EQ(strlen(c.url), 127);
  CHECK_EQ(strlen(c.version), 32);
  CHECK_EQ(strlen(line), 165);  // over the sketch's line buffer: see above
  snprintf(line, sizeof line, "ota: 1 http://%sh:65535/ota/%s", host, kKey);
  CHECK(!parse(line, &c));  // 128: over
}

TEST(tcp_device_hands_ota_lines_to_the_sketch_and_keeps_the_link) {
  TcpDevice d("esp-1", 1000, 1, 0);
  d.onConnected(0);
  CHECK_EQ(d.onLine("HELLO ESP-1", 11, 1), TcpDevice::EV_GREETED);
  const char line[] = "ota: 2.0.0 http://h:1/ota/0123456789abcdef0123456789abcdef";
  CHECK_EQ(d.onLine(line, sizeof line - 1, 2), TcpDevice::EV_OTA);
  CHECK(!d.wantsClose());  // not taken for a mismatched echo
  CHECK_EQ(d.onOverlongLine("ota: 2.0.0 http://", 18, 3), TcpDevice::EV_OTA_IGNORED);
  CHECK(!d.wantsClose());
}

TEST(hex_helpers) {
  const uint8_t d[3] = {0x00, 0xab, 0x7f};
  char hex[7];
  toHex(d, 3, hex);
  CHECK_STR(hex, "00ab7f");
  CHECK(hexMatches("00AB7f", d, 3));
  CHECK(!hexMatches("00ab7e", d, 3));
  CHECK(!hexMatches("00ab7", d, 3));
  CHECK(!hexMatches("00ab7fx", d, 3));
  CHECK(!hexMatches("0gab7f", d, 3));
  char out[8];
  CHECK_EQ(jsonSafeCopy(out, sizeof out, "a\"b\\c\nde"), 7);
  CHECK_STR(out, "a?b?c?d");
}
