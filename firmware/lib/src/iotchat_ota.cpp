#include "iotchat_ota.h"

#include <string.h>

namespace iotchat {

static const char kOtaPrefix[] = "ota: ";
static const char kHttp[] = "http://";
static const char kOtaPath[] = "/ota/";

static bool printable(char c) { return c > 0x20 && c < 0x7f; }
static bool isDigit(char c) { return c >= '0' && c <= '9'; }
static bool isLowerHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f'); }

bool isOtaLine(const char* line, size_t len) {
  return len >= 4 && memcmp(line, "ota:", 4) == 0;
}

bool isToken(const char* text, size_t len, size_t max) {
  if (len == 0 || len > max) return false;
  for (size_t i = 0; i < len; i++)
    if (!printable(text[i])) return false;
  return true;
}

// `HOST:PORT/ota/<key>` after `http://`: a non-empty host without '/', a port 1..65535, the
// contract's path and key, nothing after.
static bool validUrlRest(const char* p, size_t len) {
  size_t i = 0;
  while (i < len && p[i] != ':' && p[i] != '/') i++;
  if (i == 0 || i >= len || p[i] != ':') return false;
  i++;
  uint32_t port = 0;
  size_t digits = 0;
  for (; i < len && isDigit(p[i]) && digits < 6; i++, digits++) port = port * 10 + (uint32_t)(p[i] - '0');
  if (digits == 0 || port == 0 || port > 65535) return false;
  const size_t path = sizeof kOtaPath - 1;
  if (len - i != path + kOtaKeyLen || memcmp(p + i, kOtaPath, path) != 0) return false;
  for (i += path; i < len; i++)
    if (!isLowerHex(p[i])) return false;
  return true;
}

bool parseOtaLine(const char* line, size_t len, OtaCommand* out) {
  const size_t skip = sizeof kOtaPrefix - 1;
  if (len <= skip || memcmp(line, kOtaPrefix, skip) != 0) return false;
  const char* v = line + skip;
  const char* end = line + len;
  const char* space = (const char*)memchr(v, ' ', (size_t)(end - v));
  if (!space) return false;
  size_t vlen = (size_t)(space - v);
  const char* u = space + 1;
  size_t ulen = (size_t)(end - u);
  if (!isToken(v, vlen, kOtaVersionMax - 1) || !isToken(u, ulen, kOtaUrlMax - 1)) return false;
  const size_t http = sizeof kHttp - 1;
  if (ulen <= http || memcmp(u, kHttp, http) != 0 || !validUrlRest(u + http, ulen - http))
    return false;
  memcpy(out->version, v, vlen);
  out->version[vlen] = '\0';
  memcpy(out->url, u, ulen);
  out->url[ulen] = '\0';
  return true;
}

void toHex(const uint8_t* bytes, size_t n, char* out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  out[2 * n] = '\0';
}

static int hexValue(char c) {
  if (isDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool hexMatches(const char* hex, const uint8_t* digest, size_t n) {
  if (strlen(hex) != 2 * n) return false;
  for (size_t i = 0; i < n; i++) {
    int hi = hexValue(hex[2 * i]), lo = hexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0 || (uint8_t)(hi * 16 + lo) != digest[i]) return false;
  }
  return true;
}

size_t jsonSafeCopy(char* out, size_t cap, const char* text) {
  if (cap == 0) return 0;
  size_t n = 0;
  for (; text && *text && n + 1 < cap; text++, n++) {
    char c = *text;
    out[n] = (c == '"' || c == '\\' || (unsigned char)c < 0x20) ? '?' : c;
  }
  out[n] = '\0';
  return n;
}

}  // namespace iotchat
