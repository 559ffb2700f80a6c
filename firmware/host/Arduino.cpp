// Host implementation of Arduino.h; see there.
#include "Arduino.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

HardwareSerial Serial;

static struct timespec start_time() {
  static struct timespec t0;
  static bool init = false;
  if (!init) {
    clock_gettime(CLOCK_MONOTONIC, &t0);
    init = true;
  }
  return t0;
}

static uint64_t since_start_us() {
  struct timespec t0 = start_time(), t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)(t.tv_sec - t0.tv_sec) * 1000000u + (uint64_t)((t.tv_nsec - t0.tv_nsec) / 1000);
}

// Like the chip, millis() wraps after ~49.7 days (uint32); IOTCHAT_HOST_MILLIS_OFFSET shifts
// it so tests can run across the wrap.
unsigned long millis(void) {
  static long offset = -1;
  if (offset < 0) {
    const char* o = getenv("IOTCHAT_HOST_MILLIS_OFFSET");
    offset = o ? atol(o) : 0;
  }
  return (unsigned long)(uint32_t)(since_start_us() / 1000 + (uint64_t)offset);
}

unsigned long micros(void) { return (unsigned long)(uint32_t)since_start_us(); }

void delay(unsigned long ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void yield(void) {}

static uint8_t pins[32];

void pinMode(uint8_t, uint8_t) {}
void digitalWrite(uint8_t pin, uint8_t value) { pins[pin % 32] = value; }
int digitalRead(uint8_t pin) { return pins[pin % 32]; }

int analogRead(uint8_t) {
  static FILE* f = nullptr;
  static bool opened = false;
  static int last = 512;
  if (!opened) {
    opened = true;
    const char* path = getenv("IOTCHAT_SENSOR_FILE");
    if (path && *path) f = fopen(path, "r");
  }
  char line[32];
  if (f && fgets(line, sizeof line, f)) last = atoi(line);
  return last;
}

void configTime(int, int, const char*, const char*, const char*) {}

size_t Print::write(const uint8_t* buf, size_t size) {
  size_t n = 0;
  while (n < size && write(buf[n])) n++;
  return n;
}

size_t Print::write(const char* s) { return s ? write((const uint8_t*)s, strlen(s)) : 0; }

size_t Print::print(long v) {
  char b[24];
  snprintf(b, sizeof b, "%ld", v);
  return write(b);
}

size_t Print::print(unsigned long v) {
  char b[24];
  snprintf(b, sizeof b, "%lu", v);
  return write(b);
}

size_t Print::print(double v, int digits) {
  char b[48];
  snprintf(b, sizeof b, "%.*f", digits, v);
  return write(b);
}

size_t Print::printf(const char* fmt, ...) {
  char b[256];  // the core's printf also formats into a bounded buffer
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  if (n < 0) return 0;
  return write((const uint8_t*)b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
}

size_t Stream::readBytes(char* buffer, size_t length) {
  size_t n = 0;
  unsigned long start = millis();
  while (n < length && millis() - start < timeout_) {
    int c = read();
    if (c < 0) {
      delay(1);
      continue;
    }
    buffer[n++] = (char)c;
    start = millis();
  }
  return n;
}

void HardwareSerial::begin(unsigned long) {
  int fl = fcntl(0, F_GETFL);
  if (fl >= 0) fcntl(0, F_SETFL, fl | O_NONBLOCK);
}

int HardwareSerial::available() {
  if (peeked_ >= 0) return 1;
  if (eof_) return 0;
  struct pollfd p = {0, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return 0;
  uint8_t c;
  ssize_t n = ::read(0, &c, 1);
  if (n == 1) {
    peeked_ = c;
    return 1;
  }
  if (n == 0) eof_ = true;  // stdin closed: the console is quiet from now on
  return 0;
}

int HardwareSerial::read() {
  if (!available()) return -1;
  int c = peeked_;
  peeked_ = -1;
  return c;
}

int HardwareSerial::peek() { return available() ? peeked_ : -1; }

size_t HardwareSerial::write(uint8_t b) { return write(&b, 1); }

size_t HardwareSerial::write(const uint8_t* buf, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(1, buf + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += (size_t)n;
  }
  return done;
}

// What ESP.restart() execs with (Esp.cpp).
int iotchat_host_argc;
char** iotchat_host_argv;

int main(int argc, char** argv) {
  iotchat_host_argc = argc;
  iotchat_host_argv = argv;
  signal(SIGPIPE, SIG_IGN);
  start_time();
  setup();
  for (;;) loop();
}

