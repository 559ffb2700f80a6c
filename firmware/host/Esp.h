// Host EspClass: the ESP8266 core's `ESP` health getters, with the core 3.1.2 signatures
// (cores/esp8266/Esp.h), returning plausible fixed values: a freshly booted NodeMCU.
// IOTCHAT_HOST_FREE_HEAP overrides the free heap. Only for host builds.
#ifndef IOTCHAT_HOST_ESP_H
#define IOTCHAT_HOST_ESP_H

#include <stdint.h>

#include "WString.h"

class EspClass {
 public:
  uint32_t getFreeHeap();
  uint8_t getHeapFragmentation();  // in %
  String getResetReason();
};

extern EspClass ESP;

#endif
