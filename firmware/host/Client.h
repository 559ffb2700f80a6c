// Arduino's abstract Client, which WiFiClient implements and PubSubClient takes.
#ifndef IOTCHAT_HOST_CLIENT_H
#define IOTCHAT_HOST_CLIENT_H

#include "IPAddress.h"
#include "Print.h"

class Client : public Stream {
 public:
  virtual int connect(IPAddress ip, uint16_t port) = 0;
  virtual int connect(const char* host, uint16_t port) = 0;
  size_t write(uint8_t b) override = 0;
  size_t write(const uint8_t* buf, size_t size) override = 0;
  using Print::write;
  int available() override = 0;
  int read() override = 0;
  virtual int read(uint8_t* buf, size_t size) = 0;
  int peek() override = 0;
  void flush() override = 0;
  virtual void stop() = 0;
  virtual uint8_t connected() = 0;
  virtual operator bool() = 0;
};

#endif
