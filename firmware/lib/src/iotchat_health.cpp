#include "iotchat_health.h"

#include <stdio.h>

namespace iotchat {

void copyResetReason(char* out, size_t cap, const char* reason) {
  if (cap == 0) return;
  size_t n = 0;
  for (; reason && reason[n] && n + 1 < cap; n++) out[n] = reason[n];
  out[n] = '\0';
}

// `text` as a JSON string body, at most `cap - 1` bytes: quotes, backslashes and controls
// become '?' (a reset reason has none; this only keeps a surprise from breaking the line).
static size_t copyJsonText(char* out, size_t cap, const char* text) {
  size_t n = 0;
  for (; text && *text && n + 1 < cap && n < 48; text++, n++) {
    char c = *text;
    out[n] = (c == '"' || c == '\\' || (unsigned char)c < 0x20) ? '?' : c;
  }
  out[n] = '\0';
  return n;
}

size_t formatHealthJson(char* out, size_t cap, const Health& h) {
  char reset[49], fw[49];
  copyJsonText(reset, sizeof reset, h.reset);
  copyJsonText(fw, sizeof fw, h.fw);
  int n = snprintf(out, cap,
                   "{\"rssi\":%ld,\"heap\":%lu,\"frag\":%lu,\"uptime\":%lu,\"reset\":\"%s\",\"fw\":\"%s\"}",
                   (long)h.rssi, (unsigned long)h.heap, (unsigned long)h.frag,
                   (unsigned long)h.uptime_s, reset, fw);
  if (n < 0 || (size_t)n >= cap) return 0;
  return (size_t)n;
}

size_t formatHealthLine(char* out, size_t cap, const Health& h) {
  static const char kPrefix[] = "HEALTH ";
  const size_t p = sizeof kPrefix - 1;
  if (cap <= p) return 0;
  size_t n = formatHealthJson(out + p, cap - p, h);
  if (n == 0) return 0;
  for (size_t i = 0; i < p; i++) out[i] = kPrefix[i];
  return p + n;
}

}  // namespace iotchat
