#include "ESP8266WiFi.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

ESP8266WiFiClass WiFi;

static const int kConnectTimeoutMs = 5000;  // the core's default client timeout order

wl_status_t ESP8266WiFiClass::begin(const char*, const char*, int32_t, const uint8_t*, bool) {
  begun_ = true;
  return status();
}

wl_status_t ESP8266WiFiClass::status() {
  const char* down = getenv("IOTCHAT_HOST_WIFI_DOWN");
  if (!begun_ || (down && *down == '1')) return WL_DISCONNECTED;
  return WL_CONNECTED;
}

bool ESP8266WiFiClass::disconnect(bool) {
  begun_ = false;
  return true;
}

static WiFiClient* allClients = nullptr;

WiFiClient::WiFiClient() {
  next_ = allClients;
  allClients = this;
}

WiFiClient::~WiFiClient() {
  stop();
  for (WiFiClient** p = &allClients; *p; p = &(*p)->next_) {
    if (*p == this) {
      *p = next_;
      break;
    }
  }
}

void WiFiClient::stopAll() { stopAllExcept(nullptr); }

void WiFiClient::stopAllExcept(WiFiClient* c) {
  for (WiFiClient* p = allClients; p; p = p->next_)
    if (p != c) p->stop();
}

bool WiFiClient::waitReadable(unsigned long ms) {
  if (fd_ < 0) return false;
  struct pollfd p = {fd_, POLLIN, 0};
  return poll(&p, 1, (int)ms) == 1;
}

size_t WiFiClient::readBytes(char* buffer, size_t length) {
  size_t n = 0;
  while (n < length) {
    int got = read((uint8_t*)buffer + n, length - n);
    if (got > 0) {
      n += (size_t)got;
      continue;
    }
    if (!connected() || !waitReadable(timeout_)) break;
  }
  return n;
}

size_t WiFiClient::peekBytes(uint8_t* buffer, size_t length) {
  unsigned long start = millis();
  for (;;) {
    if (fd_ < 0) return 0;
    ssize_t n = recv(fd_, buffer, length, MSG_PEEK | MSG_DONTWAIT);
    if (n >= (ssize_t)length) return length;
    if (n == 0 || millis() - start >= timeout_) return n > 0 ? (size_t)n : 0;
    delay(1);
  }
}

int WiFiClient::connect(IPAddress ip, uint16_t port) {
  char host[20];
  snprintf(host, sizeof host, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
  return connect(host, port);
}

int WiFiClient::connect(const char* host, uint16_t port) {
  stop();
  char service[8];
  snprintf(service, sizeof service, "%u", port);
  struct addrinfo hints = {}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, service, &hints, &res) != 0) return 0;
  int ok = 0;
  for (struct addrinfo* a = res; a && !ok; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int r = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      struct pollfd p = {fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      if (poll(&p, 1, kConnectTimeoutMs) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
          err == 0)
        r = 0;
    }
    if (r == 0) {
      fd_ = fd;
      ok = 1;
    } else {
      ::close(fd);
    }
  }
  freeaddrinfo(res);
  return ok;
}

uint8_t WiFiClient::connected() {
  if (fd_ < 0) return 0;
  uint8_t c;
  ssize_t n = recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return 1;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 1;
  return 0;  // EOF or error, nothing left to read
}

size_t WiFiClient::write(const uint8_t* buf, size_t size) {
  if (fd_ < 0) return 0;
  size_t done = 0;
  while (done < size) {
    ssize_t n = send(fd_, buf + done, size - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd p = {fd_, POLLOUT, 0};
      if (poll(&p, 1, kConnectTimeoutMs) == 1) continue;
    }
    break;
  }
  return done;
}

int WiFiClient::available() {
  if (fd_ < 0) return 0;
  int n = 0;
  if (ioctl(fd_, FIONREAD, &n) != 0) return 0;
  return n;
}

int WiFiClient::read() {
  uint8_t c;
  return read(&c, 1) == 1 ? c : -1;
}

int WiFiClient::read(uint8_t* buf, size_t size) {
  if (fd_ < 0) return -1;
  ssize_t n = recv(fd_, buf, size, MSG_DONTWAIT);
  return n > 0 ? (int)n : -1;
}

int WiFiClient::peek() {
  if (fd_ < 0) return -1;
  uint8_t c;
  return recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1 ? c : -1;
}

void WiFiClient::stop() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void WiFiClient::setNoDelay(bool nodelay) {
  if (fd_ < 0) return;
  int v = nodelay ? 1 : 0;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v);
}
