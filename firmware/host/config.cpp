#include "config.h"

#include <stdlib.h>

const char* iotchat_host_config_str(const char* name, const char* fallback) {
  const char* v = getenv(name);
  return v ? v : fallback;
}

long iotchat_host_config_int(const char* name, long fallback) {
  const char* v = getenv(name);
  return (v && *v) ? strtol(v, nullptr, 10) : fallback;
}
