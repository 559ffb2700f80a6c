// Host ESP8266HTTPUpdate / `ESPhttpUpdate`: the core 3.1.2 library
// (libraries/ESP8266httpUpdate/src/ESP8266httpUpdate.h) with its signatures and its flow,
// over a real HTTP GET on the host socket. Only for host builds.
//
// As the core: HTTP/1.0 (useHTTP10: no chunked bodies), its headers (User-Agent
// ESP8266-http-Update, x-ESP8266-STA-MAC, -AP-MAC, -free-space, -sketch-size, -sketch-md5,
// -chip-size, -sdk-version, -mode: sketch, -version when given); 304: HTTP_UPDATE_NO_UPDATES;
// 200 needs a Content-Length no larger than the free sketch space, other WiFiClients are
// stopped, the image's magic is peeked (ELF on the host, 0xE9 on the chip), then Update.begin,
// setMD5 (x-MD5), writeStream, end; HTTP_UPDATE_OK restarts (rebootOnUpdate, default true).
// 404, 403, 401 and other codes fail with the core's error codes and strings.
#ifndef IOTCHAT_HOST_ESP8266HTTPUPDATE_H
#define IOTCHAT_HOST_ESP8266HTTPUPDATE_H

#include <functional>

#include "Arduino.h"
#include "ESP8266WiFi.h"
#include "Updater.h"

constexpr int HTTP_UE_TOO_LESS_SPACE = (-100);
constexpr int HTTP_UE_SERVER_NOT_REPORT_SIZE = (-101);
constexpr int HTTP_UE_SERVER_FILE_NOT_FOUND = (-102);
constexpr int HTTP_UE_SERVER_FORBIDDEN = (-103);
constexpr int HTTP_UE_SERVER_WRONG_HTTP_CODE = (-104);
constexpr int HTTP_UE_SERVER_FAULTY_MD5 = (-105);
constexpr int HTTP_UE_BIN_VERIFY_HEADER_FAILED = (-106);
constexpr int HTTP_UE_BIN_FOR_WRONG_FLASH = (-107);
constexpr int HTTP_UE_SERVER_UNAUTHORIZED = (-108);

enum HTTPUpdateResult { HTTP_UPDATE_FAILED, HTTP_UPDATE_NO_UPDATES, HTTP_UPDATE_OK };

typedef HTTPUpdateResult t_httpUpdate_return;  // backward compatibility

class ESP8266HTTPUpdate {
 public:
  ESP8266HTTPUpdate(void);
  ESP8266HTTPUpdate(int httpClientTimeout);
  ~ESP8266HTTPUpdate(void);

  void rebootOnUpdate(bool reboot) { _rebootOnUpdate = reboot; }
  void closeConnectionsOnUpdate(bool sever) { _closeConnectionsOnUpdate = sever; }
  void setLedPin(int ledPin = -1, uint8_t ledOn = HIGH) {
    _ledPin = ledPin;
    _ledOn = ledOn;
  }

  t_httpUpdate_return update(WiFiClient& client, const String& url, const String& currentVersion = "");

  int getLastError(void);
  String getLastErrorString(void);

 protected:
  bool runUpdate(Stream& in, uint32_t size, const String& md5, int command = U_FLASH);
  void _setLastError(int err) { _lastError = err; }

  int _lastError = 0;
  bool _rebootOnUpdate = true;
  bool _closeConnectionsOnUpdate = true;

 private:
  int _httpClientTimeout;
  int _ledPin;
  uint8_t _ledOn;
};

extern ESP8266HTTPUpdate ESPhttpUpdate;

#endif
