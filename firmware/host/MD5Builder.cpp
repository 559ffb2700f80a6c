// Host MD5Builder (see MD5Builder.h): MD5 as RFC 1321 specifies it.
#include "MD5Builder.h"

static const uint32_t kK[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
static const uint8_t kShift[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                   5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                   4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                   6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static uint32_t rotl(uint32_t x, int c) { return (x << c) | (x >> (32 - c)); }

static void md5Block(uint32_t st[4], const uint8_t* p) {
  uint32_t m[16];
  for (int i = 0; i < 16; i++)
    m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
           (uint32_t)p[4 * i + 3] << 24;
  uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
  for (int i = 0; i < 64; i++) {
    uint32_t f;
    int g;
    if (i < 16) { f = (b & c) | (~b & d); g = i; }
    else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
    else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
    else { f = c ^ (b | ~d); g = (7 * i) % 16; }
    uint32_t t = d;
    d = c;
    c = b;
    b = b + rotl(a + f + kK[i] + m[g], kShift[i]);
    a = t;
  }
  st[0] += a; st[1] += b; st[2] += c; st[3] += d;
}

void MD5Builder::begin(void) {
  memset(&_ctx, 0, sizeof _ctx);
  _ctx.state[0] = 0x67452301; _ctx.state[1] = 0xefcdab89;
  _ctx.state[2] = 0x98badcfe; _ctx.state[3] = 0x10325476;
  memset(_buf, 0, sizeof _buf);
}

void MD5Builder::add(const uint8_t* data, const uint16_t len) {
  size_t have = (_ctx.count[0] >> 3) & 63;
  uint64_t bits = ((uint64_t)_ctx.count[1] << 32 | _ctx.count[0]) + ((uint64_t)len << 3);
  _ctx.count[0] = (uint32_t)bits;
  _ctx.count[1] = (uint32_t)(bits >> 32);
  for (uint16_t i = 0; i < len; i++) {
    _ctx.buffer[have++] = data[i];
    if (have == 64) {
      md5Block(_ctx.state, _ctx.buffer);
      have = 0;
    }
  }
}

void MD5Builder::addHexString(const char* data) {
  size_t n = strlen(data) / 2;
  for (size_t i = 0; i < n; i++) {
    char pair[3] = {data[2 * i], data[2 * i + 1], 0};
    uint8_t b = (uint8_t)strtoul(pair, nullptr, 16);
    add(&b, 1);
  }
}

bool MD5Builder::addStream(Stream& stream, const size_t maxLen) {
  size_t left = maxLen;
  while (left > 0) {
    int c = stream.read();
    if (c < 0) return false;
    uint8_t b = (uint8_t)c;
    add(&b, 1);
    left--;
  }
  return true;
}

void MD5Builder::calculate(void) {
  uint8_t bits[8];
  for (int i = 0; i < 4; i++) {
    bits[i] = (uint8_t)(_ctx.count[0] >> (8 * i));
    bits[4 + i] = (uint8_t)(_ctx.count[1] >> (8 * i));
  }
  static const uint8_t pad[64] = {0x80};
  size_t have = (_ctx.count[0] >> 3) & 63;
  add(pad, (uint16_t)(have < 56 ? 56 - have : 120 - have));
  add(bits, 8);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) _buf[4 * i + j] = (uint8_t)(_ctx.state[i] >> (8 * j));
}

void MD5Builder::getBytes(uint8_t* output) const { memcpy(output, _buf, 16); }

void MD5Builder::getChars(char* output) const {
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++) {
    output[2 * i] = digits[_buf[i] >> 4];
    output[2 * i + 1] = digits[_buf[i] & 15];
  }
  output[32] = '\0';
}

String MD5Builder::toString(void) const {
  char out[33];
  getChars(out);
  return String(out);
}
