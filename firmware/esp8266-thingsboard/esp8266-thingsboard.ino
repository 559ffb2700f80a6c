// iotchat M3 device: a ThingsBoard MQTT device (username = access token). Sends an analog
// reading every interval as telemetry with its own ts; readings taken while offline wait in
// a bounded backlog and go out as `[{"ts":..,"values":{..}},...]` batches that fit the MQTT
// buffer. Publishes client attributes on connect, answers server-side RPC (getInterval,
// setInterval, setLed) and follows the shared attribute `interval`. Reports its health (RSSI,
// heap, uptime, reset reason, firmware) as client attributes on connect and every 5 minutes. A refused token is
// reported on the console and retried with a capped backoff.
//
// Thin glue: the rules live in firmware/lib (iotchat_tb.h). Static RAM (besides the core's):
// backlog 64 readings x 24 B = 1.5 KB; settings/backoff/clocks < 100 B; the PubSubClient and
// WiFiClient objects ~0.1 KB. Heap: PubSubClient v2.8 mallocs 256 B for its buffer in its
// constructor (static init) and setBufferSize() in setup() reallocs it to 512 B, once. Stack
// peak ~0.8 KB (one telemetry batch is built on the stack in publishBacklog()). About 2.2 KB
// in all.
#include <ESP8266WiFi.h>
#include <PubSubClient.h>
#include <time.h>

#include "config.h"
#include <iotchat_backoff.h>
#include <iotchat_health.h>
#include <iotchat_sample.h>
#include <iotchat_tb.h>

using iotchat::kFirmwareVersion;
static const uint16_t kMqttBufferSize = 512;  // fits RPC requests and telemetry batches
static const uint16_t kKeepAliveS = 15;
static const uint32_t kBackoffInitialMs = 1000;
static const uint32_t kBackoffMaxMs = 60000;
static const uint32_t kLoopDelayMs = 2;  // far below the keepalive: loop() runs often
static const char kAttrResponsePrefix[] = "v1/devices/me/attributes/response/";

static WiFiClient wifiClient;
static PubSubClient mqtt(wifiClient);
static iotchat::TbBacklog backlog;
static iotchat::TbSettings settings = {IOTCHAT_INTERVAL_MS, false};
static iotchat::Backoff backoff(kBackoffInitialMs, kBackoffMaxMs);
static iotchat::Rng rng(0x7b1u);
static iotchat::MonotonicTs tsClock;
static iotchat::WallClock wallClock;
static uint32_t nextReadingAt = 0;
static uint32_t retryAt = 0;
static uint32_t readingsTaken = 0;
static bool wifiUp = false;
static bool waitingForClock = false;
static iotchat::HealthTimer healthTimer;
static char resetReason[32];  // ESP.getResetReason(), copied at boot: no heap use later

static const char* stateText(int state);
static void maintainWifi();
static void takeReading(uint32_t now);
static void connectBroker(uint32_t now);
static void publishBacklog();
static void onMessage(char* topic, uint8_t* payload, unsigned int len);
static void handleRpc(const char* topic, const char* payload, size_t len);
static void applyLed();
static void reportHealth(uint32_t now);

void setup() {
  Serial.begin(115200);
  Serial.println();
  Serial.printf("iotchat esp8266-thingsboard %s: device %s\r\n", kFirmwareVersion, IOTCHAT_DEVICE_NAME);
  iotchat::copyResetReason(resetReason, sizeof resetReason, ESP.getResetReason().c_str());
  Serial.printf("boot: reset reason %s\r\n", resetReason);
  pinMode(LED_BUILTIN, OUTPUT);
  applyLed();
  WiFi.mode(WIFI_STA);
  WiFi.begin(IOTCHAT_WIFI_SSID, IOTCHAT_WIFI_PASSWORD);
  configTime(0, 0, "pool.ntp.org", "time.nist.gov");
  mqtt.setServer(IOTCHAT_TB_HOST, IOTCHAT_TB_PORT);
  mqtt.setCallback(onMessage);
  mqtt.setBufferSize(kMqttBufferSize);
  mqtt.setKeepAlive(kKeepAliveS);
  nextReadingAt = millis();
  retryAt = millis();
}

void loop() {
  uint32_t now = millis();
  wallClock.ms(now, (int64_t)time(nullptr));  // catches the second's tick
  maintainWifi();
  if (iotchat::reached(now, nextReadingAt)) takeReading(now);
  if (wifiUp && !mqtt.connected() && iotchat::reached(now, retryAt)) connectBroker(now);
  if (mqtt.connected()) {
    mqtt.loop();
    if (healthTimer.due(now)) reportHealth(now);
    publishBacklog();
  }
  delay(kLoopDelayMs);
}

static const char* stateText(int state) {
  switch (state) {
    case MQTT_CONNECTION_TIMEOUT: return "connection timeout";
    case MQTT_CONNECTION_LOST: return "connection lost";
    case MQTT_CONNECT_FAILED: return "connect failed";
    case MQTT_DISCONNECTED: return "disconnected";
    case MQTT_CONNECTED: return "connected";
    case MQTT_CONNECT_BAD_PROTOCOL: return "bad protocol";
    case MQTT_CONNECT_BAD_CLIENT_ID: return "bad client id";
    case MQTT_CONNECT_UNAVAILABLE: return "unavailable";
    case MQTT_CONNECT_BAD_CREDENTIALS: return "bad credentials (empty token?)";
    case MQTT_CONNECT_UNAUTHORIZED: return "not authorized (check the access token)";
    default: return "unknown";
  }
}

static void maintainWifi() {
  bool up = WiFi.status() == WL_CONNECTED;
  if (up == wifiUp) return;
  wifiUp = up;
  if (up) {
    IPAddress ip = WiFi.localIP();
    Serial.printf("wifi: joined, ip %u.%u.%u.%u\r\n", ip[0], ip[1], ip[2], ip[3]);
  } else {
    Serial.println("wifi: lost; rejoining");
  }
}

// Readings wait for NTP: ThingsBoard would file a ts counted from boot in 1970.
static void takeReading(uint32_t now) {
  int64_t wall = wallClock.ms(now, (int64_t)time(nullptr));
  if (wall < 0) {
    if (!waitingForClock) Serial.println("clock: waiting for NTP before taking readings");
    waitingForClock = true;
    return;
  }
  waitingForClock = false;
  nextReadingAt = now + settings.interval_ms;
  backlog.push(tsClock.next(wall), iotchat::sampleFromAdc(analogRead(A0), ++readingsTaken));
}

static void connectBroker(uint32_t now) {
  Serial.printf("mqtt: connecting to %s:%u\r\n", IOTCHAT_TB_HOST, (unsigned)IOTCHAT_TB_PORT);
  if (!mqtt.connect(IOTCHAT_DEVICE_NAME, IOTCHAT_TB_TOKEN, nullptr)) {
    uint32_t wait = backoff.nextJittered(rng);
    retryAt = now + wait;
    Serial.printf("mqtt: refused, state %d (%s); retrying in %lu ms\r\n", mqtt.state(),
                  stateText(mqtt.state()), (unsigned long)wait);
    return;
  }
  backoff.reset();
  mqtt.subscribe(iotchat::kTbRpcRequestFilter);
  mqtt.subscribe(iotchat::kTbAttributesTopic);
  mqtt.subscribe("v1/devices/me/attributes/response/+");
  IPAddress ip = WiFi.localIP();
  char attrs[160];
  snprintf(attrs, sizeof attrs,
           "{\"fw_version\":\"%s\",\"ip\":\"%u.%u.%u.%u\",\"rssi\":%d,\"interval\":%lu}",
           kFirmwareVersion, ip[0], ip[1], ip[2], ip[3], (int)WiFi.RSSI(),
           (unsigned long)settings.interval_ms);
  mqtt.publish(iotchat::kTbAttributesTopic, attrs);
  mqtt.publish("v1/devices/me/attributes/request/1", "{\"sharedKeys\":\"interval\"}");
  healthTimer.onConnected();
  Serial.printf("mqtt: connected, %u readings in the backlog\r\n", (unsigned)backlog.size());
}

// One batch per loop, so RPC and keepalive are never starved by a long backlog.
static void publishBacklog() {
  char payload[kMqttBufferSize];
  size_t taken = 0;
  size_t cap = iotchat::tbMaxPayload(mqtt.getBufferSize(), iotchat::kTbTelemetryTopic);
  if (cap > sizeof payload) cap = sizeof payload;
  size_t n = iotchat::tbBuildTelemetry(backlog, payload, cap, &taken);
  if (n == 0) return;
  if (mqtt.publish(iotchat::kTbTelemetryTopic, (const uint8_t*)payload, n)) backlog.pop(taken);
}

static void onMessage(char* topic, uint8_t* payload, unsigned int len) {
  const char* p = (const char*)payload;
  if (strncmp(topic, iotchat::kTbRpcRequestPrefix, sizeof iotchat::kTbRpcRequestPrefix - 1) == 0) {
    handleRpc(topic, p, len);
  } else if (strcmp(topic, iotchat::kTbAttributesTopic) == 0 ||
             strncmp(topic, kAttrResponsePrefix, sizeof kAttrResponsePrefix - 1) == 0) {
    if (iotchat::tbHandleAttributes(p, len, settings)) {
      nextReadingAt = millis() + settings.interval_ms;
      Serial.printf("attributes: interval now %lu ms\r\n", (unsigned long)settings.interval_ms);
    }
  }
}

static void handleRpc(const char* topic, const char* payload, size_t len) {
  char responseTopic[64];
  if (!iotchat::tbRpcResponseTopic(topic, responseTopic, sizeof responseTopic)) return;
  uint32_t before = settings.interval_ms;
  char reply[96];
  iotchat::TbRpcResult r = iotchat::tbHandleRpc(payload, len, settings, reply, sizeof reply);
  if (r == iotchat::TB_RPC_SET_LED) applyLed();
  if (settings.interval_ms != before) nextReadingAt = millis() + settings.interval_ms;
  // The payload points into PubSubClient's buffer: it is not used after this publish.
  mqtt.publish(responseTopic, reply);
  Serial.printf("rpc: %s -> %s\r\n", responseTopic + sizeof iotchat::kTbRpcResponsePrefix - 1, reply);
}

// Health as client attributes: RSSI, heap, uptime, reset reason, firmware.
static void reportHealth(uint32_t now) {
  iotchat::Health h = {WiFi.RSSI(), ESP.getFreeHeap(), ESP.getHeapFragmentation(), now / 1000,
                       resetReason, kFirmwareVersion};
  char attrs[iotchat::kHealthMax];
  if (iotchat::formatHealthJson(attrs, sizeof attrs, h) == 0) return;
  if (mqtt.publish(iotchat::kTbAttributesTopic, attrs)) healthTimer.sent(now);
}

static void applyLed() { digitalWrite(LED_BUILTIN, settings.led ? LOW : HIGH); }  // active low
