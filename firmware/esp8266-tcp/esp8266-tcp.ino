// iotchat M2 device: joins Wi-Fi, connects to `iotchat serve`, says HELLO <name> (with its
// token, IOTCHAT_DEVICE_TOKEN, when set: `serve --auth-tokens` wants it; the token is never
// printed on the serial console), sends an
// analog reading every interval as `adc=.. temp=.. count=.. ts=..`, and resends what the
// server has not acknowledged after a reconnect. Lines typed on the serial console are sent as
// chat; one containing CLOSE SOCKET closes the connection until the next reading. Answers the
// server's RPC requests (`rpc: <id> <method> <params>`): getInterval, setInterval, and setLed,
// which drives the on-board LED (LED_BUILTIN, lit when low). Follows the shared attribute
// `interval` that ThingsBoard sends through serve's bridge (`attr: {"interval":5000}`).
// Updates over the air when the server says `ota: <version> <url>`: ESPhttpUpdate fetches,
// checks (size, MD5) and writes the image, then reboots into it; a failure is reported as
// `OTA FAILED <reason>` once the device is greeted again (the update closes the other sockets).
//
// Thin glue: the rules live in firmware/lib (iotchat_tcp_device.h, iotchat_rpc.h). No heap use
// after boot. Static RAM (besides the core's): TcpDevice ~3.5 KB (32 unacked readings x 80-byte
// lines, a 16-entry in-flight FIFO, the HELLO lines with and without the token, a 128-byte RPC
// answer line), server line buffer 160 B, console line 128 B; stack peak in loop() ~1 KB
// (parsing RPC params nested 8 deep; ~0.3 KB otherwise). About 3.9 KB of the ESP8266's ~50 KB
// free heap/RAM. Reports its health (RSSI, heap, uptime, reset reason, firmware) as a
// `HEALTH {json}` line once greeted and every 5 minutes (iotchat_health.h).
#include <ESP8266WiFi.h>
#include <ESP8266httpUpdate.h>
#include <Updater.h>
#include <time.h>

#include "config.h"
#ifndef IOTCHAT_DEVICE_TOKEN  // a config.h written before tokens existed: no authentication
#define IOTCHAT_DEVICE_TOKEN ""
#endif
#include <iotchat_health.h>
#include <iotchat_line_reader.h>
#include <iotchat_ota.h>
#include <iotchat_sample.h>
#include <iotchat_tcp_device.h>

static const uint32_t kLoopDelayMs = 2;      // yields to the Wi-Fi stack; far below any timeout
static const size_t kRxPerLoop = 512;        // bytes handled per loop, so serial stays live

static WiFiClient client;
static iotchat::TcpDevice device(IOTCHAT_DEVICE_NAME, IOTCHAT_INTERVAL_MS, 0x1ce1u, millis(),
                                 IOTCHAT_DEVICE_TOKEN);
static iotchat::LineReader<160> serverLines;
static iotchat::LineReader<128> consoleLines;
static iotchat::WallClock wallClock;
static bool wifiUp = false;
static bool waitingForClock = false;
static iotchat::HealthTimer healthTimer;
static char resetReason[32];  // ESP.getResetReason(), copied at boot: no heap use later
static char otaFailed[96];    // `OTA FAILED <reason>`, waiting to be sent; "" if none

static void writeLine(const char* line);
static void maintainWifi(uint32_t now);
static void takeReading(uint32_t now);
static void connectServer(uint32_t now);
static void serviceServer(uint32_t now);
static void handleServerLine(const char* line, size_t len, uint32_t now);
static void closeConnection(uint32_t now, const char* why);
static void answerRpc(uint32_t interval_before);
static void applyLed();
static void serviceConsole(uint32_t now);
static void reportHealth(uint32_t now);
static void runOta(const char* line, size_t len);

void setup() {
  Serial.begin(115200);
  Serial.println();
  Serial.print("iotchat esp8266-tcp: device ");
  Serial.println(device.name());
  if (device.tokenRejected())
    Serial.println("auth: IOTCHAT_DEVICE_TOKEN is not 1 to 64 printable ASCII characters without "
                   "spaces; not sending it (fix config.h)");
  else
    Serial.println(device.hasToken() ? "auth: sending a device token" : "auth: no device token");
  iotchat::copyResetReason(resetReason, sizeof resetReason, ESP.getResetReason().c_str());
  Serial.printf("boot: firmware %s, reset reason %s\r\n", iotchat::kFirmwareVersion, resetReason);
  pinMode(LED_BUILTIN, OUTPUT);
  applyLed();
  WiFi.mode(WIFI_STA);
  WiFi.begin(IOTCHAT_WIFI_SSID, IOTCHAT_WIFI_PASSWORD);
  configTime(0, 0, "pool.ntp.org", "time.nist.gov");
}

void loop() {
  uint32_t now = millis();
  wallClock.ms(now, (int64_t)time(nullptr));  // catches the second's tick
  maintainWifi(now);
  if (device.readingDue(now)) takeReading(now);
  if (wifiUp && device.connectDue(now)) connectServer(now);
  if (device.isUp()) serviceServer(now);
  serviceConsole(now);
  delay(kLoopDelayMs);
}

// One write per line, so the server's idle window never splits it.
static void writeLine(const char* line) {
  char buf[iotchat::TcpDevice::kLineMax + 80];
  static_assert(sizeof buf >= 6 + iotchat::TcpDevice::kNameMax + iotchat::TcpDevice::kTokenMax,
                "HELLO <name> <token> must fit one write");
  size_t n = strlen(line);
  if (n + 1 > sizeof buf) n = sizeof buf - 1;
  memcpy(buf, line, n);
  buf[n] = '\n';
  client.write((const uint8_t*)buf, n + 1);
}

static void maintainWifi(uint32_t now) {
  bool up = WiFi.status() == WL_CONNECTED;
  if (up == wifiUp) return;
  wifiUp = up;
  if (up) {
    IPAddress ip = WiFi.localIP();
    Serial.printf("wifi: joined, ip %u.%u.%u.%u\r\n", ip[0], ip[1], ip[2], ip[3]);
  } else {
    Serial.println("wifi: lost; rejoining");
    closeConnection(now, "wifi lost");
  }
}

// Readings wait for NTP: a ts counted from boot could repeat after a reboot, and the server
// keeps one value per (device, key, ts), so a repeat would be taken for a resend and lost.
static void takeReading(uint32_t now) {
  int64_t wall = wallClock.ms(now, (int64_t)time(nullptr));
  if (wall < 0) {
    if (!waitingForClock) Serial.println("clock: waiting for NTP before taking readings");
    waitingForClock = true;
    return;
  }
  waitingForClock = false;
  iotchat::Sample s = iotchat::sampleFromAdc(analogRead(A0), device.stats().produced + 1);
  char values[48];
  if (iotchat::formatReadingValues(values, sizeof values, s)) device.produce(now, wall, values);
}

static void connectServer(uint32_t now) {
  Serial.printf("tcp: connecting to %s:%u\r\n", IOTCHAT_SERVER_HOST, (unsigned)IOTCHAT_SERVER_PORT);
  if (!client.connect(IOTCHAT_SERVER_HOST, IOTCHAT_SERVER_PORT)) {
    device.onConnectFailed(now);
    Serial.println("tcp: connect failed; backing off");
    return;
  }
  client.setNoDelay(true);
  serverLines.reset();
  writeLine(device.onConnected(now));
}

static void serviceServer(uint32_t now) {
  for (size_t i = 0; i < kRxPerLoop && client.available() > 0; i++) {
    int c = client.read();
    if (c < 0) break;
    switch (serverLines.push((uint8_t)c)) {
      case iotchat::LineReader<160>::LINE:
        handleServerLine(serverLines.line(), serverLines.length(), now);
        break;
      case iotchat::LineReader<160>::OVERLONG:
        switch (device.onOverlongLine(serverLines.line(), serverLines.length(), now)) {
          case iotchat::TcpDevice::EV_RPC_IGNORED:
            Serial.println("rpc: request longer than the line buffer; ignored");
            break;
          case iotchat::TcpDevice::EV_ATTRIBUTES:
            Serial.println("attributes: an attribute longer than the line buffer; ignored");
            break;
          case iotchat::TcpDevice::EV_OTA_IGNORED:
            Serial.println("ota: an update request longer than the line buffer; ignored");
            break;
          default:
            break;
        }
        break;
      default:
        break;
    }
  }
  device.handleTimeout(now);
  if (device.wantsClose()) return closeConnection(now, "restarting the connection");
  for (const char* line = device.nextLine(now); line; line = device.nextLine(now)) writeLine(line);
  if (device.isGreeted() && healthTimer.due(now)) reportHealth(now);
  if (otaFailed[0] && device.isGreeted() && device.sendChat(otaFailed, now)) {
    writeLine(otaFailed);
    otaFailed[0] = '\0';
  }
  if (!client.connected()) closeConnection(now, "server closed the connection");
}

static void handleServerLine(const char* line, size_t len, uint32_t now) {
  uint32_t interval_before = device.interval();
  switch (device.onLine(line, len, now)) {
    case iotchat::TcpDevice::EV_GREETED:
      Serial.printf("tcp: greeted as %s, %u unacked\r\n", device.name(), (unsigned)device.unacked());
      healthTimer.onConnected();
      break;
    case iotchat::TcpDevice::EV_ACK:
      break;
    case iotchat::TcpDevice::EV_CHAT_REPLY:
      Serial.printf("< %.*s\r\n", (int)len, line);
      break;
    case iotchat::TcpDevice::EV_RPC:
      answerRpc(interval_before);
      break;
    case iotchat::TcpDevice::EV_RPC_ACK:
      break;
    case iotchat::TcpDevice::EV_RPC_IGNORED:
      Serial.printf("rpc: ignored %.*s\r\n", (int)len, line);
      break;
    case iotchat::TcpDevice::EV_ATTRIBUTES:
      if (device.interval() != interval_before)
        Serial.printf("attributes: interval now %lu ms\r\n", (unsigned long)device.interval());
      break;
    case iotchat::TcpDevice::EV_OTA:
      runOta(line, len);
      // The core stops every other socket before writing an image: reconnect, then report.
      if (!client.connected()) closeConnection(millis(), "closed by the update");
      break;
    case iotchat::TcpDevice::EV_REFUSED:
      Serial.printf("server: %.*s\r\n", (int)len, line);
      if (!device.isGreeted() && len >= 21 && memcmp(line, "error: authentication", 21) == 0)
        Serial.println("auth: HELLO refused; check IOTCHAT_DEVICE_NAME and IOTCHAT_DEVICE_TOKEN");
      break;
    default:
      Serial.printf("server: %.*s\r\n", (int)len, line);
      break;
  }
}

// Written at once: the device expects its echo right after the lines already written.
static void answerRpc(uint32_t interval_before) {
  writeLine(device.rpcAnswer());
  Serial.printf("rpc: answered %s\r\n", device.rpcAnswer());
  if (device.interval() != interval_before)
    Serial.printf("rpc: interval now %lu ms\r\n", (unsigned long)device.interval());
  applyLed();
}

// Health as attributes (docs/protocol.md): `HEALTH {json}`, echoed in order like a chat line.
static void reportHealth(uint32_t now) {
  iotchat::Health h = {WiFi.RSSI(), ESP.getFreeHeap(), ESP.getHeapFragmentation(), now / 1000,
                       resetReason, iotchat::kFirmwareVersion};
  char line[iotchat::kHealthMax];
  if (iotchat::formatHealthLine(line, sizeof line, h) == 0) return;
  if (!device.sendChat(line, now)) return;  // too many lines in flight: next loop
  writeLine(line);
  healthTimer.sent(now);
}

// Blocks while the image downloads, as on the chip; on success ESPhttpUpdate reboots into it
// and does not return. The URL holds the rollout's key: never printed.
static void runOta(const char* line, size_t len) {
  iotchat::OtaCommand cmd;
  if (!iotchat::parseOtaLine(line, len, &cmd)) {
    Serial.println("ota: ignored a malformed update request");
    return;
  }
  Serial.printf("ota: updating from %s to %s\r\n", iotchat::kFirmwareVersion, cmd.version);
  if (Update.isRunning()) Update.end();  // a failed attempt's leftover: not finished, dropped
  WiFiClient otaClient;
  t_httpUpdate_return r = ESPhttpUpdate.update(otaClient, cmd.url, iotchat::kFirmwareVersion);
  if (r == HTTP_UPDATE_NO_UPDATES) {
    Serial.printf("ota: already running %s\r\n", iotchat::kFirmwareVersion);
  } else if (r == HTTP_UPDATE_FAILED) {
    snprintf(otaFailed, sizeof otaFailed, "OTA FAILED %s", ESPhttpUpdate.getLastErrorString().c_str());
    Serial.printf("ota: %s\r\n", otaFailed);
  }
}

static void applyLed() { digitalWrite(LED_BUILTIN, device.led() ? LOW : HIGH); }  // active low

static void closeConnection(uint32_t now, const char* why) {
  if (!device.isUp()) return;
  client.stop();
  device.onClosed(now);
  const iotchat::TcpDevice::Stats& s = device.stats();
  Serial.printf("tcp: closed (%s); acked %lu, unacked %u, dropped %lu; retry in %lu ms\r\n", why,
                (unsigned long)s.acked, (unsigned)device.unacked(), (unsigned long)s.dropped,
                (unsigned long)device.retryIn(now));
}

static void serviceConsole(uint32_t now) {
  while (Serial.available() > 0) {
    int c = Serial.read();
    if (c < 0) break;
    iotchat::LineReader<128>::Result r = consoleLines.push((uint8_t)c);
    if (r == iotchat::LineReader<128>::OVERLONG) Serial.println("console: line too long, dropped");
    if (r != iotchat::LineReader<128>::LINE || consoleLines.length() == 0) continue;
    if (device.sendChat(consoleLines.line(), now)) {
      writeLine(consoleLines.line());
    } else {
      Serial.println("console: not connected; line dropped");
    }
  }
}
