// Host PubSubClient: the public API of knolleary/PubSubClient v2.8 (same signatures, state
// codes -4..5, QoS 0 publish, 256-byte default buffer), built over libmosquitto. Limits are
// kept as on the chip: a publish whose packet would not fit the buffer returns false, and an
// incoming packet larger than the buffer is dropped without calling back. The callback's
// payload points into the client's buffer and is not NUL-terminated, as in v2.8.
// The Client& is kept for API compatibility; libmosquitto owns the socket on the host.
#ifndef IOTCHAT_HOST_PUBSUBCLIENT_H
#define IOTCHAT_HOST_PUBSUBCLIENT_H

#include <functional>

#include "Arduino.h"
#include "Client.h"
#include "IPAddress.h"

#define MQTT_VERSION_3_1 3
#define MQTT_VERSION_3_1_1 4
// Overridable before the #include, as in v2.8 (a sketch or -D flag may set them).
#ifndef MQTT_VERSION
#define MQTT_VERSION MQTT_VERSION_3_1_1
#endif
#ifndef MQTT_MAX_PACKET_SIZE
#define MQTT_MAX_PACKET_SIZE 256
#endif
#ifndef MQTT_KEEPALIVE
#define MQTT_KEEPALIVE 15
#endif
#ifndef MQTT_SOCKET_TIMEOUT
#define MQTT_SOCKET_TIMEOUT 15
#endif

#define MQTT_CONNECTION_TIMEOUT -4
#define MQTT_CONNECTION_LOST -3
#define MQTT_CONNECT_FAILED -2
#define MQTT_DISCONNECTED -1
#define MQTT_CONNECTED 0
#define MQTT_CONNECT_BAD_PROTOCOL 1
#define MQTT_CONNECT_BAD_CLIENT_ID 2
#define MQTT_CONNECT_UNAVAILABLE 3
#define MQTT_CONNECT_BAD_CREDENTIALS 4
#define MQTT_CONNECT_UNAUTHORIZED 5

#define MQTT_MAX_HEADER_SIZE 5

#define MQTT_CALLBACK_SIGNATURE std::function<void(char*, uint8_t*, unsigned int)> callback

struct mosquitto;
struct mosquitto_message;

class PubSubClient : public Print {
 public:
  PubSubClient();
  explicit PubSubClient(Client& client);
  PubSubClient(IPAddress addr, uint16_t port, Client& client);
  PubSubClient(const char* domain, uint16_t port, Client& client);
  PubSubClient(const char* domain, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client& client);
  ~PubSubClient() override;

  PubSubClient& setServer(IPAddress ip, uint16_t port);
  PubSubClient& setServer(uint8_t* ip, uint16_t port);
  PubSubClient& setServer(const char* domain, uint16_t port);
  PubSubClient& setCallback(MQTT_CALLBACK_SIGNATURE);
  PubSubClient& setClient(Client& client);
  PubSubClient& setStream(Stream& stream);
  PubSubClient& setKeepAlive(uint16_t keepAlive);
  PubSubClient& setSocketTimeout(uint16_t timeout);
  boolean setBufferSize(uint16_t size);
  uint16_t getBufferSize();

  boolean connect(const char* id);
  boolean connect(const char* id, const char* user, const char* pass);
  boolean connect(const char* id, const char* willTopic, uint8_t willQos, boolean willRetain,
                  const char* willMessage);
  boolean connect(const char* id, const char* user, const char* pass, const char* willTopic,
                  uint8_t willQos, boolean willRetain, const char* willMessage);
  boolean connect(const char* id, const char* user, const char* pass, const char* willTopic,
                  uint8_t willQos, boolean willRetain, const char* willMessage, boolean cleanSession);
  void disconnect();

  boolean publish(const char* topic, const char* payload);
  boolean publish(const char* topic, const char* payload, boolean retained);
  boolean publish(const char* topic, const uint8_t* payload, unsigned int plength);
  boolean publish(const char* topic, const uint8_t* payload, unsigned int plength, boolean retained);
  boolean subscribe(const char* topic);
  boolean subscribe(const char* topic, uint8_t qos);
  boolean unsubscribe(const char* topic);
  boolean loop();
  boolean connected();
  int state();

  size_t write(uint8_t) override { return 0; }  // beginPublish streaming: not supported on host
  size_t write(const uint8_t*, size_t) override { return 0; }

 private:
  static void onConnect(struct mosquitto*, void* self, int rc);
  static void onDisconnect(struct mosquitto*, void* self, int rc);
  static void onMessage(struct mosquitto*, void* self, const struct mosquitto_message* msg);
  void drop(int new_state);

  Client* client_ = nullptr;
  struct mosquitto* mosq_ = nullptr;
  char domain_[128] = {0};
  uint16_t port_ = 0;
  uint16_t keepAlive_ = MQTT_KEEPALIVE;
  uint16_t socketTimeout_ = MQTT_SOCKET_TIMEOUT;
  uint8_t* buffer_ = nullptr;
  uint16_t bufferSize_ = 0;
  int state_ = MQTT_DISCONNECTED;
  int connack_ = -1;
  bool inCallback_ = false;
  MQTT_CALLBACK_SIGNATURE;
};

#endif
