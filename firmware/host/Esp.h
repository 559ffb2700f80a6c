// Host EspClass: the ESP8266 core's `ESP` health getters, with the core 3.1.2 signatures
// (cores/esp8266/Esp.h), returning plausible fixed values: a freshly booted NodeMCU.
// IOTCHAT_HOST_FREE_HEAP overrides the free heap. Only for host builds.
// For OTA (ESPhttpUpdate's headers, Update's space check): the sketch is the running
// executable (its size and MD5); the free sketch space is 16 MiB (a host build is bigger
// than a chip image), IOTCHAT_HOST_FREE_SKETCH_SPACE overrides it. restart() execs the image
// Update.end() accepted, else this executable again, with the same arguments and environment.
#ifndef IOTCHAT_HOST_ESP_H
#define IOTCHAT_HOST_ESP_H

#include <stdint.h>

#include "WString.h"

class EspClass {
 public:
  uint32_t getFreeHeap();
  uint8_t getHeapFragmentation();  // in %
  String getResetReason();

  uint32_t getChipId();
  const char* getSdkVersion();
  uint32_t getFlashChipRealSize();
  uint32_t getSketchSize();
  String getSketchMD5();
  uint32_t getFreeSketchSpace();
  void restart();
};

extern EspClass ESP;

#endif
