// Splits a byte stream into LF-terminated lines in a fixed buffer. A line longer than the
// buffer is reported once as overlong, with its first N-1 bytes in line()/length() so the
// caller can tell what it was, and the rest of it is skipped up to the next LF.
#ifndef IOTCHAT_LINE_READER_H
#define IOTCHAT_LINE_READER_H

#include <stddef.h>
#include <stdint.h>

namespace iotchat {

template <size_t N>
class LineReader {
 public:
  enum Result { NONE, LINE, OVERLONG };
  // Feeds one byte. On LINE, line()/length() hold the line without LF and without a CR before it.
  Result push(uint8_t b) {
    if (b == '\n') {
      bool was_skipping = skipping_;
      skipping_ = false;
      size_t n = len_;
      len_ = 0;
      if (was_skipping) return NONE;
      if (n > 0 && buf_[n - 1] == '\r') n--;
      buf_[n] = '\0';
      out_len_ = n;
      return LINE;
    }
    if (skipping_) return NONE;
    if (len_ + 1 >= N) {
      buf_[len_] = '\0';
      out_len_ = len_;
      skipping_ = true;
      len_ = 0;
      return OVERLONG;
    }
    buf_[len_++] = (char)b;
    return NONE;
  }
  const char* line() const { return buf_; }
  size_t length() const { return out_len_; }
  void reset() { len_ = 0; skipping_ = false; }

 private:
  char buf_[N];
  size_t len_ = 0, out_len_ = 0;
  bool skipping_ = false;
};

}  // namespace iotchat

#endif
