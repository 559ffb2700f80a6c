// Host PubSubClient over libmosquitto (see PubSubClient.h); behaviour follows v2.8's
// src/PubSubClient.cpp as summarised in shared/reference/thingsboard-esp8266.md §5.
#include "PubSubClient.h"

#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void libInit() {
  static bool ready = false;
  if (!ready) {
    mosquitto_lib_init();
    ready = true;
  }
}

// Bytes the MQTT "remaining length" takes.
static size_t varintLen(size_t n) { return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4; }

PubSubClient::PubSubClient() {
  libInit();
  setBufferSize(MQTT_MAX_PACKET_SIZE);
}

PubSubClient::PubSubClient(Client& client) : PubSubClient() { setClient(client); }

PubSubClient::PubSubClient(IPAddress addr, uint16_t port, Client& client) : PubSubClient(client) {
  setServer(addr, port);
}

PubSubClient::PubSubClient(const char* domain, uint16_t port, Client& client) : PubSubClient(client) {
  setServer(domain, port);
}

PubSubClient::PubSubClient(const char* domain, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client& client)
    : PubSubClient(domain, port, client) {
  setCallback(callback);
}

PubSubClient::~PubSubClient() {
  drop(MQTT_DISCONNECTED);
  free(buffer_);
}

PubSubClient& PubSubClient::setServer(IPAddress ip, uint16_t port) {
  snprintf(domain_, sizeof domain_, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
  port_ = port;
  return *this;
}

PubSubClient& PubSubClient::setServer(uint8_t* ip, uint16_t port) {
  return setServer(IPAddress(ip[0], ip[1], ip[2], ip[3]), port);
}

PubSubClient& PubSubClient::setServer(const char* domain, uint16_t port) {
  snprintf(domain_, sizeof domain_, "%s", domain);
  port_ = port;
  return *this;
}

PubSubClient& PubSubClient::setCallback(MQTT_CALLBACK_SIGNATURE) {
  this->callback = callback;
  return *this;
}

PubSubClient& PubSubClient::setClient(Client& client) {
  client_ = &client;
  return *this;
}

PubSubClient& PubSubClient::setStream(Stream&) { return *this; }

PubSubClient& PubSubClient::setKeepAlive(uint16_t keepAlive) {
  keepAlive_ = keepAlive;
  return *this;
}

PubSubClient& PubSubClient::setSocketTimeout(uint16_t timeout) {
  socketTimeout_ = timeout;
  return *this;
}

boolean PubSubClient::setBufferSize(uint16_t size) {
  if (size == 0) return false;
  uint8_t* b = (uint8_t*)realloc(buffer_, size);
  if (!b) return false;
  buffer_ = b;
  bufferSize_ = size;
  return true;
}

uint16_t PubSubClient::getBufferSize() { return bufferSize_; }

boolean PubSubClient::connect(const char* id) { return connect(id, nullptr, nullptr, 0, 0, 0, 0, 1); }

boolean PubSubClient::connect(const char* id, const char* user, const char* pass) {
  return connect(id, user, pass, 0, 0, 0, 0, 1);
}

boolean PubSubClient::connect(const char* id, const char* willTopic, uint8_t willQos,
                              boolean willRetain, const char* willMessage) {
  return connect(id, nullptr, nullptr, willTopic, willQos, willRetain, willMessage, 1);
}

boolean PubSubClient::connect(const char* id, const char* user, const char* pass,
                              const char* willTopic, uint8_t willQos, boolean willRetain,
                              const char* willMessage) {
  return connect(id, user, pass, willTopic, willQos, willRetain, willMessage, 1);
}

boolean PubSubClient::connect(const char* id, const char* user, const char* pass,
                              const char* willTopic, uint8_t willQos, boolean willRetain,
                              const char* willMessage, boolean cleanSession) {
  if (connected()) return true;
  drop(state_);
  mosq_ = mosquitto_new(id, cleanSession, this);
  if (!mosq_) {
    state_ = MQTT_CONNECT_FAILED;
    return false;
  }
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_connect_callback_set(mosq_, onConnect);
  mosquitto_disconnect_callback_set(mosq_, onDisconnect);
  mosquitto_message_callback_set(mosq_, onMessage);
  if (user) mosquitto_username_pw_set(mosq_, user, pass);
  if (willTopic)
    mosquitto_will_set(mosq_, willTopic, willMessage ? (int)strlen(willMessage) : 0, willMessage,
                       willQos, willRetain);
  connack_ = -1;
  if (mosquitto_connect(mosq_, domain_, port_, keepAlive_) != MOSQ_ERR_SUCCESS) {
    drop(MQTT_CONNECT_FAILED);
    return false;
  }
  // v2.8 blocks until CONNACK or the socket timeout.
  unsigned long start = millis();
  while (connack_ < 0) {
    if (millis() - start >= (unsigned long)socketTimeout_ * 1000UL) {
      drop(MQTT_CONNECTION_TIMEOUT);
      return false;
    }
    if (mosquitto_loop(mosq_, 50, 1) != MOSQ_ERR_SUCCESS && connack_ < 0) {
      drop(MQTT_CONNECT_FAILED);
      return false;
    }
  }
  if (connack_ != 0) {
    drop(connack_ >= 1 && connack_ <= 5 ? connack_ : MQTT_CONNECT_UNAVAILABLE);
    return false;
  }
  state_ = MQTT_CONNECTED;
  return true;
}

void PubSubClient::drop(int new_state) {
  if (mosq_) {
    mosquitto_destroy(mosq_);
    mosq_ = nullptr;
  }
  state_ = new_state;
}

void PubSubClient::disconnect() {
  if (mosq_ && state_ == MQTT_CONNECTED) {
    mosquitto_disconnect(mosq_);
    mosquitto_loop(mosq_, 0, 1);
  }
  drop(MQTT_DISCONNECTED);
}

void PubSubClient::onConnect(struct mosquitto*, void* self, int rc) {
  static_cast<PubSubClient*>(self)->connack_ = rc;
}

void PubSubClient::onDisconnect(struct mosquitto*, void* self, int) {
  PubSubClient* c = static_cast<PubSubClient*>(self);
  if (c->state_ == MQTT_CONNECTED) c->state_ = MQTT_CONNECTION_LOST;
}

void PubSubClient::onMessage(struct mosquitto*, void* self, const struct mosquitto_message* m) {
  PubSubClient* c = static_cast<PubSubClient*>(self);
  size_t tl = strlen(m->topic);
  size_t remaining = 2 + tl + (m->qos > 0 ? 2 : 0) + (size_t)m->payloadlen;
  size_t packet = 1 + varintLen(remaining) + remaining;
  // v2.8 reads the packet into its buffer; one that does not fit is drained and dropped.
  if (packet > c->bufferSize_ || !c->callback) return;
  memcpy(c->buffer_, m->topic, tl + 1);
  uint8_t* payload = c->buffer_ + tl + 1;
  memcpy(payload, m->payload, (size_t)m->payloadlen);
  c->inCallback_ = true;
  c->callback((char*)c->buffer_, payload, (unsigned int)m->payloadlen);
  c->inCallback_ = false;
}

boolean PubSubClient::publish(const char* topic, const char* payload) {
  return publish(topic, (const uint8_t*)payload, payload ? strnlen(payload, bufferSize_) : 0, false);
}

boolean PubSubClient::publish(const char* topic, const char* payload, boolean retained) {
  return publish(topic, (const uint8_t*)payload, payload ? strnlen(payload, bufferSize_) : 0, retained);
}

boolean PubSubClient::publish(const char* topic, const uint8_t* payload, unsigned int plength) {
  return publish(topic, payload, plength, false);
}

boolean PubSubClient::publish(const char* topic, const uint8_t* payload, unsigned int plength,
                              boolean retained) {
  if (!connected()) return false;
  if (bufferSize_ < MQTT_MAX_HEADER_SIZE + 2 + strnlen(topic, bufferSize_) + plength) return false;
  int rc = mosquitto_publish(mosq_, nullptr, topic, (int)plength, payload, 0, retained);
  if (rc != MOSQ_ERR_SUCCESS) return false;
  // v2.8 writes before returning; libmosquitto queues inside callbacks, so flush what it can.
  // Inside a callback libmosquitto only queues; the next loop() sends it.
  for (int i = 0; !inCallback_ && i < 8 && mosquitto_want_write(mosq_); i++) {
    if (mosquitto_loop_write(mosq_, 1) != MOSQ_ERR_SUCCESS) break;
  }
  return true;
}

boolean PubSubClient::subscribe(const char* topic) { return subscribe(topic, 0); }

boolean PubSubClient::subscribe(const char* topic, uint8_t qos) {
  if (qos > 1 || !connected()) return false;
  if (bufferSize_ < 9 + strnlen(topic, bufferSize_)) return false;
  return mosquitto_subscribe(mosq_, nullptr, topic, qos) == MOSQ_ERR_SUCCESS;
}

boolean PubSubClient::unsubscribe(const char* topic) {
  if (!connected()) return false;
  if (bufferSize_ < 9 + strnlen(topic, bufferSize_)) return false;
  return mosquitto_unsubscribe(mosq_, nullptr, topic) == MOSQ_ERR_SUCCESS;
}

boolean PubSubClient::loop() {
  if (!connected()) return false;
  // One packet per call as in v2.8; libmosquitto also sends the keepalive PINGREQ here.
  int rc = mosquitto_loop(mosq_, 0, 1);
  if (rc != MOSQ_ERR_SUCCESS) {
    drop(MQTT_CONNECTION_LOST);
    return false;
  }
  return connected();
}

boolean PubSubClient::connected() {
  if (!mosq_ || state_ != MQTT_CONNECTED) return false;
  if (mosquitto_socket(mosq_) < 0) {
    drop(MQTT_CONNECTION_LOST);
    return false;
  }
  return true;
}

int PubSubClient::state() { return state_; }
