// Host EspClass (see Esp.h).
#include "Esp.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "MD5Builder.h"
#include "Updater.h"

extern int iotchat_host_argc;
extern char** iotchat_host_argv;
extern char** environ;

EspClass ESP;

uint32_t EspClass::getFreeHeap() {
  const char* heap = getenv("IOTCHAT_HOST_FREE_HEAP");
  return heap ? (uint32_t)strtoul(heap, nullptr, 10) : 31240u;
}

uint8_t EspClass::getHeapFragmentation() { return 12; }

String EspClass::getResetReason() { return String("Power On"); }

uint32_t EspClass::getChipId() { return 0x00c0ffeeu; }

const char* EspClass::getSdkVersion() { return "2.2.2-dev(38a443e)"; }  // core 3.1.2's NONOS SDK

uint32_t EspClass::getFlashChipRealSize() { return 4u * 1024 * 1024; }  // a NodeMCU's 4 MB

uint32_t EspClass::getSketchSize() {
  struct stat st;
  return stat("/proc/self/exe", &st) == 0 ? (uint32_t)st.st_size : 0;
}

String EspClass::getSketchMD5() {
  static char hex[33];
  if (hex[0]) return String(hex);
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return String("");
  MD5Builder md5;
  md5.begin();
  uint8_t buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) md5.add(buf, (uint16_t)n);
  close(fd);
  md5.calculate();
  md5.getChars(hex);
  return String(hex);
}

uint32_t EspClass::getFreeSketchSpace() {
  const char* space = getenv("IOTCHAT_HOST_FREE_SKETCH_SPACE");
  return space ? (uint32_t)strtoul(space, nullptr, 10) : 16u * 1024 * 1024;
}

// A reboot: every socket closes (as the chip's do), then the staged image or this one runs
// from main() again.
void EspClass::restart() {
  const char* image = Update.stagedImage();
  for (int fd = 3; fd < 1024; fd++) close(fd);
  if (image) {
    printf("\r\nhost: restarting into the updated image\r\n");
    fflush(stdout);
    execve(image, iotchat_host_argv, environ);
  }
  printf("\r\nhost: restarting\r\n");
  fflush(stdout);
  execve("/proc/self/exe", iotchat_host_argv, environ);
  perror("host: restart");
  _exit(1);
}
