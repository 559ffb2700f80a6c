// Host ESPhttpUpdate (see ESP8266httpUpdate.h): the core's handleUpdate() and runUpdate()
// over the host WiFiClient, with the little of HTTPClient they need written out here.
#include "ESP8266httpUpdate.h"

#include <strings.h>

ESP8266HTTPUpdate ESPhttpUpdate;

// HTTPClient's error codes and texts (ESP8266HTTPClient.h, core 3.1.2).
static const int HTTPC_ERROR_CONNECTION_FAILED = -1;
static const int HTTPC_ERROR_SEND_HEADER_FAILED = -2;
static const int HTTPC_ERROR_CONNECTION_LOST = -5;
static const int HTTPC_ERROR_NO_HTTP_SERVER = -7;
static const int HTTPC_ERROR_READ_TIMEOUT = -11;
static const size_t kMaxHeaderLines = 64;

static const char* httpErrorToString(int error) {
  switch (error) {
    case HTTPC_ERROR_CONNECTION_FAILED: return "connection failed";
    case HTTPC_ERROR_SEND_HEADER_FAILED: return "send header failed";
    case -3: return "send payload failed";
    case -4: return "not connected";
    case HTTPC_ERROR_CONNECTION_LOST: return "connection lost";
    case -6: return "no stream";
    case HTTPC_ERROR_NO_HTTP_SERVER: return "no HTTP server";
    case -8: return "too less ram";
    case -9: return "Transfer-Encoding not supported";
    case -10: return "Stream write error";
    case HTTPC_ERROR_READ_TIMEOUT: return "read Timeout";
    default: return "";
  }
}

namespace {

struct Url {
  char host[128];
  uint16_t port;
  char path[256];
};

struct Response {
  int code;
  long length;  // -1: no Content-Length
  char md5[64];
};

}  // namespace

// `http://host[:port][/path]`; the core's HTTPClient takes https too, but not on a WiFiClient.
static bool parseUrl(const char* url, Url* u) {
  if (strncmp(url, "http://", 7) != 0) return false;
  const char* h = url + 7;
  size_t hl = strcspn(h, ":/");
  if (hl == 0 || hl >= sizeof u->host) return false;
  memcpy(u->host, h, hl);
  u->host[hl] = '\0';
  const char* rest = h + hl;
  u->port = 80;
  if (*rest == ':') {
    char* end;
    long port = strtol(rest + 1, &end, 10);
    if (end == rest + 1 || port < 1 || port > 65535) return false;
    u->port = (uint16_t)port;
    rest = end;
  }
  if (*rest != '\0' && *rest != '/') return false;
  int n = snprintf(u->path, sizeof u->path, "%s", *rest ? rest : "/");
  return n > 0 && (size_t)n < sizeof u->path;
}

static bool sendRequest(WiFiClient& c, const Url& u, const String& currentVersion) {
  char head[1024];
  int n = snprintf(head, sizeof head,
                   "GET %s HTTP/1.0\r\nHost: %s:%u\r\nUser-Agent: ESP8266-http-Update\r\n"
                   "Connection: close\r\nx-ESP8266-STA-MAC: %s\r\nx-ESP8266-AP-MAC: %s\r\n"
                   "x-ESP8266-free-space: %lu\r\nx-ESP8266-sketch-size: %lu\r\n"
                   "x-ESP8266-sketch-md5: %s\r\nx-ESP8266-chip-size: %lu\r\n"
                   "x-ESP8266-sdk-version: %s\r\nx-ESP8266-mode: sketch\r\n",
                   u.path, u.host, (unsigned)u.port, WiFi.macAddress().c_str(),
                   WiFi.softAPmacAddress().c_str(), (unsigned long)ESP.getFreeSketchSpace(),
                   (unsigned long)ESP.getSketchSize(), ESP.getSketchMD5().c_str(),
                   (unsigned long)ESP.getFlashChipRealSize(), ESP.getSdkVersion());
  if (n < 0 || (size_t)n >= sizeof head) return false;
  size_t len = (size_t)n;
  if (currentVersion.length() > 0) {
    n = snprintf(head + len, sizeof head - len, "x-ESP8266-version: %s\r\n", currentVersion.c_str());
    if (n < 0 || (size_t)n >= sizeof head - len) return false;
    len += (size_t)n;
  }
  if (len + 2 >= sizeof head) return false;
  memcpy(head + len, "\r\n", 3);
  len += 2;
  return c.write((const uint8_t*)head, len) == len;
}

// One header line without CRLF, cut to `cap - 1`; <0: an HTTPC error.
static int readLine(WiFiClient& c, char* buf, size_t cap) {
  size_t n = 0;
  for (;;) {
    char ch;
    if (c.readBytes(&ch, 1) != 1) return c.connected() ? HTTPC_ERROR_READ_TIMEOUT : HTTPC_ERROR_CONNECTION_LOST;
    if (ch == '\n') break;
    if (ch != '\r' && n + 1 < cap) buf[n++] = ch;
  }
  buf[n] = '\0';
  return 0;
}

static bool headerIs(const char* line, const char* name, const char** value) {
  size_t n = strlen(name);
  if (strncasecmp(line, name, n) != 0 || line[n] != ':') return false;
  const char* v = line + n + 1;
  while (*v == ' ' || *v == '\t') v++;
  *value = v;
  return true;
}

// The status code (>0), or an HTTPC error (<0).
static int readResponse(WiFiClient& c, Response* r) {
  char line[256];
  int err = readLine(c, line, sizeof line);
  if (err < 0) return err;
  if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12) return HTTPC_ERROR_NO_HTTP_SERVER;
  r->code = atoi(line + 9);
  r->length = -1;
  r->md5[0] = '\0';
  for (size_t i = 0;; i++) {
    if (i == kMaxHeaderLines) return HTTPC_ERROR_NO_HTTP_SERVER;
    if ((err = readLine(c, line, sizeof line)) < 0) return err;
    if (line[0] == '\0') break;
    const char* v;
    if (headerIs(line, "Content-Length", &v)) r->length = strtol(v, nullptr, 10);
    if (headerIs(line, "x-MD5", &v)) snprintf(r->md5, sizeof r->md5, "%s", v);
  }
  return r->code > 0 ? r->code : HTTPC_ERROR_NO_HTTP_SERVER;
}

ESP8266HTTPUpdate::ESP8266HTTPUpdate(void) : _httpClientTimeout(8000), _ledPin(-1), _ledOn(HIGH) {}

ESP8266HTTPUpdate::ESP8266HTTPUpdate(int httpClientTimeout)
    : _httpClientTimeout(httpClientTimeout), _ledPin(-1), _ledOn(HIGH) {}

ESP8266HTTPUpdate::~ESP8266HTTPUpdate(void) {}

int ESP8266HTTPUpdate::getLastError(void) { return _lastError; }

String ESP8266HTTPUpdate::getLastErrorString(void) {
  char out[192];
  if (_lastError == 0) return String();
  if (_lastError > 0) {
    snprintf(out, sizeof out, "Update error: ERROR[%u]: %s", (unsigned)Update.getError(),
             Update.getErrorString().c_str());
    return String(out);
  }
  if (_lastError > -100) {
    snprintf(out, sizeof out, "HTTP error: %s", httpErrorToString(_lastError));
    return String(out);
  }
  switch (_lastError) {
    case HTTP_UE_TOO_LESS_SPACE: return String("Not Enough space");
    case HTTP_UE_SERVER_NOT_REPORT_SIZE: return String("Server Did Not Report Size");
    case HTTP_UE_SERVER_FILE_NOT_FOUND: return String("File Not Found (404)");
    case HTTP_UE_SERVER_FORBIDDEN: return String("Forbidden (403)");
    case HTTP_UE_SERVER_WRONG_HTTP_CODE: return String("Wrong HTTP Code");
    case HTTP_UE_SERVER_FAULTY_MD5: return String("Wrong MD5");
    case HTTP_UE_BIN_VERIFY_HEADER_FAILED: return String("Verify Bin Header Failed");
    case HTTP_UE_BIN_FOR_WRONG_FLASH: return String("New Binary Does Not Fit Flash Size");
    case HTTP_UE_SERVER_UNAUTHORIZED: return String("Unauthorized (401)");
  }
  return String();
}

// The core's handleUpdate() after http.GET(): what the status code and headers mean.
static int judge(const Response& r, int* lastError) {
  switch (r.code) {
    case 200:
      if (r.length <= 0) *lastError = HTTP_UE_SERVER_NOT_REPORT_SIZE;
      else if (r.length > (long)ESP.getFreeSketchSpace()) *lastError = HTTP_UE_TOO_LESS_SPACE;
      else return HTTP_UPDATE_OK;  // go on: write the image
      return HTTP_UPDATE_FAILED;
    case 304: return HTTP_UPDATE_NO_UPDATES;
    case 404: *lastError = HTTP_UE_SERVER_FILE_NOT_FOUND; return HTTP_UPDATE_FAILED;
    case 403: *lastError = HTTP_UE_SERVER_FORBIDDEN; return HTTP_UPDATE_FAILED;
    case 401: *lastError = HTTP_UE_SERVER_UNAUTHORIZED; return HTTP_UPDATE_FAILED;
    default: *lastError = HTTP_UE_SERVER_WRONG_HTTP_CODE; return HTTP_UPDATE_FAILED;
  }
}

t_httpUpdate_return ESP8266HTTPUpdate::update(WiFiClient& client, const String& url,
                                              const String& currentVersion) {
  Url u;
  Response r;
  _lastError = 0;
  client.setTimeout((unsigned long)_httpClientTimeout);
  int code = HTTPC_ERROR_CONNECTION_FAILED;
  if (parseUrl(url.c_str(), &u) && client.connect(u.host, u.port)) {
    code = sendRequest(client, u, currentVersion) ? readResponse(client, &r) : HTTPC_ERROR_SEND_HEADER_FAILED;
  }
  if (code <= 0) {
    _lastError = code;
    client.stop();
    return HTTP_UPDATE_FAILED;
  }
  t_httpUpdate_return ret = (t_httpUpdate_return)judge(r, &_lastError);
  if (ret != HTTP_UPDATE_OK) {
    client.stop();
    return ret;
  }
  if (_closeConnectionsOnUpdate) WiFiClient::stopAllExcept(&client);
  uint8_t magic[4];
  if (client.peekBytes(magic, 4) != 4 || memcmp(magic, "\x7f" "ELF", 4) != 0) {
    _lastError = HTTP_UE_BIN_VERIFY_HEADER_FAILED;  // the chip checks for 0xE9 here
    client.stop();
    return HTTP_UPDATE_FAILED;
  }
  bool ok = runUpdate(client, (uint32_t)r.length, String(r.md5));
  client.stop();
  if (!ok) return HTTP_UPDATE_FAILED;
  if (_rebootOnUpdate) ESP.restart();
  return HTTP_UPDATE_OK;
}

bool ESP8266HTTPUpdate::runUpdate(Stream& in, uint32_t size, const String& md5, int command) {
  if (!Update.begin(size, command, _ledPin, _ledOn)) {
    _setLastError(Update.getError());
    return false;
  }
  if (md5.length() && !Update.setMD5(md5.c_str())) {
    _setLastError(HTTP_UE_SERVER_FAULTY_MD5);
    return false;  // as the core: the Update stays open (the sketch ends it before retrying)
  }
  if (Update.writeStream(in) != size) {
    _setLastError(Update.getError());
    return false;
  }
  if (!Update.end()) {
    _setLastError(Update.getError());
    return false;
  }
  return true;
}
