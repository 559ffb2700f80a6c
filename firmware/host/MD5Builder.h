// Host MD5Builder: the core 3.1.2 class (cores/esp8266/MD5Builder.h) with its signatures, over
// a small RFC 1321 implementation (the chip uses the ROM's). Only for host builds.
#ifndef IOTCHAT_HOST_MD5BUILDER_H
#define IOTCHAT_HOST_MD5BUILDER_H

#include <stdint.h>
#include <string.h>

#include "Print.h"
#include "WString.h"

struct md5_context_t {
  uint32_t state[4];
  uint32_t count[2];
  uint8_t buffer[64];
};

class MD5Builder {
 private:
  md5_context_t _ctx;
  uint8_t _buf[16];

 public:
  void begin(void);
  void add(const uint8_t* data, const uint16_t len);
  void add(const char* data) { add((const uint8_t*)data, (uint16_t)strlen(data)); }
  void add(char* data) { add((const char*)data); }
  void add(const String& data) { add(data.c_str()); }
  void addHexString(const char* data);
  void addHexString(char* data) { addHexString((const char*)data); }
  void addHexString(const String& data) { addHexString(data.c_str()); }
  bool addStream(Stream& stream, const size_t maxLen);
  void calculate(void);
  void getBytes(uint8_t* output) const;
  void getChars(char* output) const;
  String toString(void) const;
};

#endif
