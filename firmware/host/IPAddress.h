// IPv4 address as the Arduino core has it (operator[] gives the octets).
#ifndef IOTCHAT_HOST_IPADDRESS_H
#define IOTCHAT_HOST_IPADDRESS_H

#include <stdint.h>

class IPAddress {
 public:
  IPAddress() : b_{0, 0, 0, 0} {}
  IPAddress(uint8_t a, uint8_t b, uint8_t c, uint8_t d) : b_{a, b, c, d} {}
  uint8_t operator[](int i) const { return b_[i]; }
  uint8_t& operator[](int i) { return b_[i]; }

 private:
  uint8_t b_[4];
};

#endif
