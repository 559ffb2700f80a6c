// Host stand-in for the SHA-256 part of BearSSL's bearssl_hash.h, which the ESP8266 core
// ships (`#include <bearssl/bearssl_hash.h>`): the same names and call shapes (on the chip
// br_sha256_update is a macro for br_sha224_update; the calls read the same). Only for host
// builds; no vtable, no other hashes.
#ifndef IOTCHAT_HOST_BEARSSL_HASH_H
#define IOTCHAT_HOST_BEARSSL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define br_sha256_SIZE 32

typedef struct {
  unsigned char buf[64];
  uint64_t count;
  uint32_t val[8];
} br_sha256_context;

void br_sha256_init(br_sha256_context* ctx);
void br_sha256_update(br_sha256_context* ctx, const void* data, size_t len);
void br_sha256_out(const br_sha256_context* ctx, void* out);

#endif
