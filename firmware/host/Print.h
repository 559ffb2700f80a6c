// Print and Stream, as in the Arduino core (println ends lines with "\r\n").
#ifndef IOTCHAT_HOST_PRINT_H
#define IOTCHAT_HOST_PRINT_H

#include <stddef.h>
#include <stdint.h>

class Print {
 public:
  virtual ~Print() {}
  virtual size_t write(uint8_t b) = 0;
  virtual size_t write(const uint8_t* buf, size_t size);
  size_t write(const char* s);
  size_t write(const char* buf, size_t size) { return write((const uint8_t*)buf, size); }
  size_t print(const char* s) { return write(s); }
  size_t print(char c) { return write((uint8_t)c); }
  size_t print(int v) { return print((long)v); }
  size_t print(unsigned int v) { return print((unsigned long)v); }
  size_t print(long v);
  size_t print(unsigned long v);
  size_t print(double v, int digits = 2);
  size_t println() { return write("\r\n"); }
  template <typename T>
  size_t println(T v) { size_t n = print(v); return n + println(); }
  size_t printf(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  virtual void flush() {}
};

class Stream : public Print {
 public:
  virtual int available() = 0;
  virtual int read() = 0;
  virtual int peek() = 0;
  void setTimeout(unsigned long ms) { timeout_ = ms; }
  unsigned long getTimeout() const { return timeout_; }
  // Up to `length` bytes, waiting up to the timeout for each (as the core's Stream).
  virtual size_t readBytes(char* buffer, size_t length);
  size_t readBytes(uint8_t* buffer, size_t length) { return readBytes((char*)buffer, length); }

 protected:
  unsigned long timeout_ = 1000;
};

#endif
