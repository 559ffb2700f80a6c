// iotchat M3 device: a ThingsBoard MQTT device (username = access token). Sends an analog
// reading every interval as telemetry with its own ts; readings taken while offline wait in
// a bounded backlog and go out as `[{"ts":..,"values":{..}},...]` batches that fit the MQTT
// buffer. Publishes client attributes on connect, answers server-side RPC (getInterval,
// setInterval, setLed) and follows the shared attribute `interval`. Reports its health (RSSI,
// heap, uptime, reset reason, firmware) as client attributes on connect and every 5 minutes. A refused token is
// reported on the console and retried with a capped backoff.
//
// Firmware OTA as ThingsBoard's device API has it (rules in iotchat_tb_ota.h): the fw_*
// shared attributes name a target; the image comes in 1 KB chunks over MQTT, each written
// with Update.write() straight from PubSubClient's buffer, hashed (MD5 with MD5Builder,
// SHA-256 with BearSSL) as it passes; the last chunk is written only once the whole image's
// hash matches, so a bad image never completes; then Update.end() and a restart. fw_state
// telemetry: DOWNLOADING, DOWNLOADED, VERIFIED, UPDATING, then UPDATED from the new image,
// or FAILED with fw_error. current_fw_title/current_fw_version at each connect.
//
// Thin glue: the rules live in firmware/lib (iotchat_tb.h). Static RAM (besides the core's):
// backlog 64 readings x 24 B = 1.5 KB; settings/backoff/clocks < 100 B; the PubSubClient and
// WiFiClient objects ~0.1 KB. Heap: PubSubClient v2.8 mallocs 256 B for its buffer in its
// constructor (static init) and setBufferSize() in setup() reallocs it to 1120 B (a 1 KB OTA
// chunk, its topic and header), once; Update's 4 KB sector buffer only while an image is
// written. Static for OTA ~0.6 KB (TbOta 168 B, MD5 and SHA-256 contexts ~0.2 KB, a pending
// fw_state). Stack peak ~0.8 KB (one telemetry batch is built on the stack in
// publishBacklog()). About 2.8 KB static in all.
#include <ESP8266WiFi.h>
#include <MD5Builder.h>
#include <PubSubClient.h>
#include <Updater.h>
#include <bearssl/bearssl_hash.h>
#include <time.h>

#include "config.h"
#include <iotchat_backoff.h>
#include <iotchat_health.h>
#include <iotchat_sample.h>
#include <iotchat_tb.h>
#include <iotchat_tb_ota.h>

#ifndef IOTCHAT_FW_TITLE
#define IOTCHAT_FW_TITLE "iotchat-m3"  // ThingsBoard's OTA package title for this sketch
#endif

using iotchat::kFirmwareVersion;
using iotchat::TbOta;
static const char kFwTitle[] = IOTCHAT_FW_TITLE;
// One OTA chunk with its topic and header; RPC and attributes fit too.
static const uint16_t kMqttBufferSize = TbOta::kChunkSize + 96;
static const size_t kTelemetryMax = 512;  // one telemetry batch, built on the stack
static const uint32_t kRestartDelayMs = 500;  // lets UPDATING leave before the restart
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
static TbOta ota;
static MD5Builder fwMd5;
static br_sha256_context fwSha;
static bool mqttUp = false;
static bool updatedReported = false;  // UPDATED is said once per boot
static bool restartDue = false;
static uint32_t restartAt = 0;
static struct {
  bool due;
  iotchat::TbFwState state;
  char error[96];
} pendingFw;  // the latest fw_state that could not be published yet

static const char* stateText(int state);
static void maintainWifi();
static void takeReading(uint32_t now);
static void connectBroker(uint32_t now);
static void publishBacklog();
static void onMessage(char* topic, uint8_t* payload, unsigned int len);
static void handleRpc(const char* topic, const char* payload, size_t len);
static void applyLed();
static void reportHealth(uint32_t now);
static void onAttributes(const char* p, size_t len);
static void otaOffer(const iotchat::TbFirmware& fw);
static void otaChunk(const char* topic, uint8_t* payload, size_t len);
static void otaLastChunk(uint8_t* payload, size_t len);
static void otaFail(const char* why);
static void otaService(uint32_t now);
static void reportFwState(iotchat::TbFwState state, const char* error);

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
  otaService(now);
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
  mqtt.subscribe(iotchat::kTbFwResponseFilter);
  IPAddress ip = WiFi.localIP();
  char attrs[160];
  snprintf(attrs, sizeof attrs,
           "{\"fw_version\":\"%s\",\"ip\":\"%u.%u.%u.%u\",\"rssi\":%d,\"interval\":%lu}",
           kFirmwareVersion, ip[0], ip[1], ip[2], ip[3], (int)WiFi.RSSI(),
           (unsigned long)settings.interval_ms);
  mqtt.publish(iotchat::kTbAttributesTopic, attrs);
  char current[96];
  if (iotchat::tbCurrentFwJson(current, sizeof current, kFwTitle, kFirmwareVersion))
    mqtt.publish(iotchat::kTbTelemetryTopic, current);
  mqtt.publish("v1/devices/me/attributes/request/1", iotchat::kTbSharedKeysRequest);
  if (pendingFw.due) reportFwState(pendingFw.state, pendingFw.error);
  mqttUp = true;
  ota.onConnected();
  healthTimer.onConnected();
  Serial.printf("mqtt: connected, %u readings in the backlog\r\n", (unsigned)backlog.size());
}

// One batch per loop, so RPC and keepalive are never starved by a long backlog.
static void publishBacklog() {
  char payload[kTelemetryMax];
  size_t taken = 0;
  size_t cap = iotchat::tbMaxPayload(kTelemetryMax, iotchat::kTbTelemetryTopic);
  size_t n = iotchat::tbBuildTelemetry(backlog, payload, cap, &taken);
  if (n == 0) return;
  if (mqtt.publish(iotchat::kTbTelemetryTopic, (const uint8_t*)payload, n)) backlog.pop(taken);
}

static void onMessage(char* topic, uint8_t* payload, unsigned int len) {
  const char* p = (const char*)payload;
  if (strncmp(topic, iotchat::kTbFwResponsePrefix, sizeof iotchat::kTbFwResponsePrefix - 1) == 0) {
    otaChunk(topic, payload, len);
  } else if (strncmp(topic, iotchat::kTbRpcRequestPrefix, sizeof iotchat::kTbRpcRequestPrefix - 1) == 0) {
    handleRpc(topic, p, len);
  } else if (strcmp(topic, iotchat::kTbAttributesTopic) == 0 ||
             strncmp(topic, kAttrResponsePrefix, sizeof kAttrResponsePrefix - 1) == 0) {
    onAttributes(p, len);
  }
}

// The payload is read whole before anything is published: a publish reuses PubSubClient's
// buffer, which the payload points into.
static void onAttributes(const char* p, size_t len) {
  if (iotchat::tbHandleAttributes(p, len, settings)) {
    nextReadingAt = millis() + settings.interval_ms;
    Serial.printf("attributes: interval now %lu ms\r\n", (unsigned long)settings.interval_ms);
  }
  iotchat::TbFirmware fw;
  const char* why = "";
  switch (iotchat::tbParseFirmware(p, len, &fw, &why)) {
    case iotchat::TB_FW_OK: otaOffer(fw); break;
    case iotchat::TB_FW_PARTIAL:
      mqtt.publish("v1/devices/me/attributes/request/2", iotchat::kTbSharedKeysRequest);
      break;
    case iotchat::TB_FW_BAD: reportFwState(iotchat::FW_FAILED, why); break;
    case iotchat::TB_FW_ABSENT: break;
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

// --- firmware OTA (rules: iotchat_tb_ota.h)

static void otaOffer(const iotchat::TbFirmware& fw) {
  if (restartDue) return;  // an image is staged: nothing may begin another before the restart
  char why[96];
  switch (ota.offer(fw, kFwTitle, kFirmwareVersion)) {
    case TbOta::OFFER_IGNORED: return;
    case TbOta::OFFER_UP_TO_DATE:
      if (!updatedReported) reportFwState(iotchat::FW_UPDATED, nullptr);
      updatedReported = true;
      return;
    case TbOta::OFFER_WRONG_TITLE:
      snprintf(why, sizeof why, "fw_title %s is not this device's (%s)", fw.title, kFwTitle);
      return reportFwState(iotchat::FW_FAILED, why);
    case TbOta::OFFER_START: break;
  }
  if (Update.isRunning()) Update.end();  // another target's unfinished image: dropped
  if (!Update.begin(fw.size)) {
    snprintf(why, sizeof why, "Update.begin(%lu): %s", (unsigned long)fw.size, Update.getErrorString().c_str());
    return otaFail(why);
  }
  if (fw.algo == iotchat::TB_FW_MD5) Update.setMD5(fw.checksum);  // the core checks it again at end()
  fwMd5.begin();
  br_sha256_init(&fwSha);
  Serial.printf("ota: downloading %s %s, %lu bytes in %lu chunks\r\n", fw.title, fw.version,
                (unsigned long)fw.size, (unsigned long)ota.chunkCount());
  reportFwState(iotchat::FW_DOWNLOADING, nullptr);
}

// Not const: MD5Builder::add takes `uint8_t*` in older cores and `const uint8_t*` in newer ones.
static void hashChunk(uint8_t* data, size_t len) {
  if (ota.target().algo == iotchat::TB_FW_MD5) fwMd5.add(data, (uint16_t)len);
  else br_sha256_update(&fwSha, data, len);
}

// Straight from PubSubClient's buffer into Update: no copy of the image is ever held.
static void otaChunk(const char* topic, uint8_t* payload, size_t len) {
  uint32_t id, n;
  if (!iotchat::tbParseChunkTopic(topic, &id, &n)) return;
  TbOta::Chunk c = ota.handleChunk(id, n, len, millis());
  if (c == TbOta::CHUNK_STALE) return;
  hashChunk(payload, len);
  if (c == TbOta::CHUNK_LAST) return otaLastChunk(payload, len);
  if (Update.write(payload, len) != len) {
    char why[96];
    snprintf(why, sizeof why, "Update.write: %s", Update.getErrorString().c_str());
    return otaFail(why);
  }
  ota.chunkWritten();
  if (n % 64 == 0) Serial.printf("ota: chunk %lu of %lu\r\n", (unsigned long)n + 1, (unsigned long)ota.chunkCount());
}

// The image's hash is checked before its last bytes go to Update: a bad image never
// completes, so Update.end() cannot accept it.
static void otaLastChunk(uint8_t* payload, size_t len) {
  uint8_t digest[32];
  size_t n = 32;
  if (ota.target().algo == iotchat::TB_FW_MD5) {
    fwMd5.calculate();
    fwMd5.getBytes(digest);
    n = 16;
  } else {
    br_sha256_out(&fwSha, digest);
  }
  char why[96];
  if (!iotchat::hexMatches(ota.target().checksum, digest, n)) {
    char hex[65];
    iotchat::toHex(digest, n, hex);
    snprintf(why, sizeof why, "checksum mismatch: got %s", hex);
    return otaFail(why);
  }
  if (Update.write(payload, len) != len) {
    snprintf(why, sizeof why, "Update.write: %s", Update.getErrorString().c_str());
    return otaFail(why);
  }
  reportFwState(iotchat::FW_DOWNLOADED, nullptr);  // publishing reuses the buffer: only now
  reportFwState(iotchat::FW_VERIFIED, nullptr);
  if (!Update.end()) {
    snprintf(why, sizeof why, "Update.end: %s", Update.getErrorString().c_str());
    return otaFail(why);
  }
  ota.finish();
  reportFwState(iotchat::FW_UPDATING, nullptr);
  Serial.printf("ota: %s written and checked; restarting\r\n", ota.target().version);
  restartDue = true;
  restartAt = millis() + kRestartDelayMs;
}

static void otaFail(const char* why) {
  ota.fail();
  if (Update.isRunning()) Update.end();  // unfinished: dropped, nothing is staged
  Serial.printf("ota: failed: %s\r\n", why);
  reportFwState(iotchat::FW_FAILED, why);
}

// From loop(): chunk requests (first, retries, resume), timeouts, the restart.
static void otaService(uint32_t now) {
  bool up = mqtt.connected();
  if (mqttUp && !up) ota.onDisconnected();
  mqttUp = up;
  if (ota.handleTimeout(now)) {
    char why[96];
    snprintf(why, sizeof why, "chunk %lu: %s after %u retries", (unsigned long)ota.nextChunk(),
             ota.giveUpReason(), (unsigned)TbOta::kMaxRetries);
    otaFail(why);
  }
  uint32_t n;
  char topic[48], size[12];
  if (up && ota.pollRequest(&n) && iotchat::tbChunkRequestTopic(topic, sizeof topic, ota.requestId(), n)) {
    snprintf(size, sizeof size, "%lu", (unsigned long)TbOta::kChunkSize);
    if (mqtt.publish(topic, size)) ota.requested(now);
  }
  if (restartDue && iotchat::reached(now, restartAt)) {
    mqtt.disconnect();
    ESP.restart();
  }
}

// fw_state telemetry; kept for the next connect when it cannot go now (only the latest).
static void reportFwState(iotchat::TbFwState state, const char* error) {
  char json[160];
  size_t n = iotchat::tbFwStateJson(json, sizeof json, state, error);
  bool sent = n > 0 && mqtt.connected() && mqtt.publish(iotchat::kTbTelemetryTopic, json);
  pendingFw.due = !sent;
  if (sent) return;
  pendingFw.state = state;
  if (error != pendingFw.error) snprintf(pendingFw.error, sizeof pendingFw.error, "%s", error ? error : "");
}

static void applyLed() { digitalWrite(LED_BUILTIN, settings.led ? LOW : HIGH); }  // active low
