// Host ESP8266WiFi: WiFi is emulated as joined at once (IOTCHAT_HOST_WIFI_DOWN=1 keeps it
// down); WiFiClient is a POSIX TCP socket with the core's semantics (connect() returns 1 on
// success; connected() stays true while received bytes are unread; reads never block, but
// readBytes()/peekBytes() wait up to the stream timeout). As on the chip, every WiFiClient is
// known to the class: stopAllExcept() closes the others (ESPhttpUpdate does so before
// writing an image).
#ifndef IOTCHAT_HOST_ESP8266WIFI_H
#define IOTCHAT_HOST_ESP8266WIFI_H

#include "Arduino.h"
#include "Client.h"
#include "IPAddress.h"

typedef enum { WIFI_OFF = 0, WIFI_STA = 1, WIFI_AP = 2, WIFI_AP_STA = 3 } WiFiMode_t;

typedef enum {
  WL_NO_SHIELD = 255,
  WL_IDLE_STATUS = 0,
  WL_NO_SSID_AVAIL = 1,
  WL_SCAN_COMPLETED = 2,
  WL_CONNECTED = 3,
  WL_CONNECT_FAILED = 4,
  WL_CONNECTION_LOST = 5,
  WL_WRONG_PASSWORD = 6,
  WL_DISCONNECTED = 7
} wl_status_t;

class ESP8266WiFiClass {
 public:
  bool mode(WiFiMode_t m) { mode_ = m; return true; }
  WiFiMode_t getMode() { return mode_; }
  wl_status_t begin(const char* ssid, const char* passphrase = nullptr, int32_t channel = 0,
                    const uint8_t* bssid = nullptr, bool connect = true);
  wl_status_t status();
  bool isConnected() { return status() == WL_CONNECTED; }
  bool setAutoReconnect(bool) { return true; }
  bool disconnect(bool wifioff = false);
  IPAddress localIP() { return IPAddress(127, 0, 0, 1); }
  String macAddress() { return String("5C:CF:7F:C0:FF:EE"); }
  String softAPmacAddress() { return String("5E:CF:7F:C0:FF:EE"); }
  int32_t RSSI() { return -55; }  // core 3.1.2: int32_t RSSI() (ESP8266WiFiSTA.h)

 private:
  WiFiMode_t mode_ = WIFI_OFF;
  bool begun_ = false;
};

extern ESP8266WiFiClass WiFi;

class WiFiClient : public Client {
 public:
  WiFiClient();
  ~WiFiClient() override;
  WiFiClient(const WiFiClient&) = delete;
  WiFiClient& operator=(const WiFiClient&) = delete;

  int connect(IPAddress ip, uint16_t port) override;
  int connect(const char* host, uint16_t port) override;
  uint8_t connected() override;
  operator bool() override { return connected(); }
  size_t write(uint8_t b) override { return write(&b, 1); }
  size_t write(const uint8_t* buf, size_t size) override;
  using Print::write;
  int available() override;
  int read() override;
  int read(uint8_t* buf, size_t size) override;
  int peek() override;
  size_t readBytes(char* buffer, size_t length) override;
  using Stream::readBytes;
  // The first `length` received bytes, left unread; waits up to the timeout for them.
  virtual size_t peekBytes(uint8_t* buffer, size_t length);
  void flush() override {}
  void stop() override;
  void setNoDelay(bool nodelay);

  static void stopAll();
  static void stopAllExcept(WiFiClient* c);

 private:
  bool waitReadable(unsigned long ms);

  int fd_ = -1;
  WiFiClient* next_ = nullptr;  // every WiFiClient, for stopAll()
};

#endif
