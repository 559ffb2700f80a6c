// Host (Linux) implementation of the Arduino core API the iotchat sketches use, in the spirit
// of EpoxyDuino and the ESP8266 core's tests/host: millis() from a monotonic clock, Serial on
// stdin/stdout, analogRead() fed from a file (IOTCHAT_SENSOR_FILE), main() calls setup() then
// loop(); `ESP` (Esp.h) and `String` (WString.h) come with it, as with the core's Arduino.h.
// Only for host builds: the sketches compile against the real core on the chip.
#ifndef IOTCHAT_HOST_ARDUINO_H
#define IOTCHAT_HOST_ARDUINO_H

#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "Esp.h"
#include "Print.h"
#include "WString.h"

typedef bool boolean;
typedef uint8_t byte;

#define HIGH 1
#define LOW 0
#define INPUT 0
#define OUTPUT 1
#define A0 17
#define LED_BUILTIN 2

unsigned long millis(void);
unsigned long micros(void);
void delay(unsigned long ms);
void yield(void);
void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t value);
int digitalRead(uint8_t pin);
// Next integer from IOTCHAT_SENSOR_FILE (one per line; the last one repeats), else 512.
int analogRead(uint8_t pin);
// NTP on the chip; the host clock is already set.
void configTime(int timezone_sec, int daylight_offset_sec, const char* server1,
                const char* server2 = nullptr, const char* server3 = nullptr);

// Serial: output to stdout (unbuffered), input from stdin (non-blocking).
class HardwareSerial : public Stream {
 public:
  void begin(unsigned long baud);
  int available() override;
  int read() override;
  int peek() override;
  size_t write(uint8_t b) override;
  size_t write(const uint8_t* buf, size_t size) override;
  using Print::write;
  void flush() override {}
  operator bool() const { return true; }

 private:
  int peeked_ = -1;
  bool eof_ = false;
};

extern HardwareSerial Serial;

void setup(void);
void loop(void);

#endif
