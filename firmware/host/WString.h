// Host String: the little of the core's WString.h (Arduino `String`) the sketches use, an
// owned copy of a C string (ESP.getResetReason() returns one). Only for host builds.
#ifndef IOTCHAT_HOST_WSTRING_H
#define IOTCHAT_HOST_WSTRING_H

#include <stdlib.h>
#include <string.h>

class String {
 public:
  String(const char* cstr = "") : buf_(strdup(cstr ? cstr : "")) {}
  String(const String& other) : buf_(strdup(other.c_str())) {}
  String& operator=(const String& other) {
    if (this != &other) {
      char* copy = strdup(other.c_str());
      free(buf_);
      buf_ = copy;
    }
    return *this;
  }
  ~String() { free(buf_); }
  const char* c_str() const { return buf_ ? buf_ : ""; }
  unsigned int length() const { return (unsigned int)strlen(c_str()); }

 private:
  char* buf_;
};

#endif
