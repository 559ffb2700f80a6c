// Over-the-air update, the parts both sketches share and the M2 server line. No I/O: the
// sketches fetch and write images with the core's ESPhttpUpdate / Update (docs: the OTA
// contract in firmware/README.md).
//
// M2: the server sends `ota: <version> <url>` (lower-case prefix, so it is never an echo).
// <version> is 1..32 printable ASCII characters without spaces; <url> is
// `http://HOST:PORT/ota/<key>` with a 32 lower-case hex key. Anything else is refused whole.
#ifndef IOTCHAT_OTA_H
#define IOTCHAT_OTA_H

#include <stddef.h>
#include <stdint.h>

namespace iotchat {

static const size_t kOtaVersionMax = 33;  // 32 + NUL
static const size_t kOtaUrlMax = 128;     // 127 + NUL: fits the 160-byte server line
static const size_t kOtaKeyLen = 32;

struct OtaCommand {
  char version[kOtaVersionMax];
  char url[kOtaUrlMax];
};

// Whether [line, line+len) starts with the `ota:` prefix (the caller then parses or refuses).
bool isOtaLine(const char* line, size_t len);

// Parses `ota: <version> <url>` into `out` (NUL-terminated copies). False, with `out`
// untouched, for anything that is not exactly that shape.
bool parseOtaLine(const char* line, size_t len, OtaCommand* out);

// Whether `text` is 1..max printable ASCII characters (0x21..0x7e): a version or title.
bool isToken(const char* text, size_t len, size_t max);

// Lower-case hex of `n` bytes into `out` (2n + 1 bytes, NUL-terminated).
void toHex(const uint8_t* bytes, size_t n, char* out);

// Whether `hex` (NUL-terminated, any case) spells exactly the `n` bytes of `digest`.
bool hexMatches(const char* hex, const uint8_t* digest, size_t n);

// `text` as the body of a JSON string, cut to fit `cap` (NUL included): quotes, backslashes
// and control characters become '?'. Returns the length written.
size_t jsonSafeCopy(char* out, size_t cap, const char* text);

}  // namespace iotchat

#endif
