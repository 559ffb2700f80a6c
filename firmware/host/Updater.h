// Host UpdaterClass / `Update`: the core 3.1.2 class (cores/esp8266/Updater.h) with its
// signatures and its rules, writing the image to a file instead of flash. Only for host builds.
//
// As on the chip: begin(size) before write(); begin() while one runs fails (error 15); a size
// of 0 or more than ESP.getFreeSketchSpace() fails; write() past the size fails (4, Not Enough
// Space); end() without every byte (and without evenIfRemaining) or after any error throws the
// update away; setMD5() takes 32 hex digits and end() compares the image's MD5 with it (7);
// end() checks the image's magic: the host executable's ELF magic (7F 'E' 'L' 'F') where the
// chip checks 0xE9 (10). Any error invalidates the update and deletes the partial file. Only
// an image end() accepted is "staged": ESP.restart() execs it.
//
// The file: $IOTCHAT_HOST_OTA_DIR (default /tmp)/iotchat-ota-<pid>-<n>.bin, executable.
#ifndef IOTCHAT_HOST_UPDATER_H
#define IOTCHAT_HOST_UPDATER_H

#include <functional>

#include "Arduino.h"
#include "MD5Builder.h"

#define UPDATE_ERROR_OK (0)
#define UPDATE_ERROR_WRITE (1)
#define UPDATE_ERROR_ERASE (2)
#define UPDATE_ERROR_READ (3)
#define UPDATE_ERROR_SPACE (4)
#define UPDATE_ERROR_SIZE (5)
#define UPDATE_ERROR_STREAM (6)
#define UPDATE_ERROR_MD5 (7)
#define UPDATE_ERROR_FLASH_CONFIG (8)
#define UPDATE_ERROR_NEW_FLASH_CONFIG (9)
#define UPDATE_ERROR_MAGIC_BYTE (10)
#define UPDATE_ERROR_BOOTSTRAP (11)
#define UPDATE_ERROR_SIGN (12)
#define UPDATE_ERROR_NO_DATA (13)
#define UPDATE_ERROR_OOM (14)
#define UPDATE_ERROR_RUNNING_ALREADY (15)
#define UPDATE_ERROR_UNKNOWN_COMMAND (16)

#define U_FLASH 0
#define U_FS 100
#define U_AUTH 200

class UpdaterClass {
 public:
  using THandlerFunction_Progress = std::function<void(size_t, size_t)>;

  UpdaterClass();
  ~UpdaterClass();

  bool begin(size_t size, int command = U_FLASH, int ledPin = -1, uint8_t ledOn = LOW);
  size_t write(uint8_t* data, size_t len);
  size_t writeStream(Stream& data, uint16_t streamTimeout = 60000);
  bool end(bool evenIfRemaining = false);
  void printError(Print& out);
  String getErrorString() const;
  bool setMD5(const char* expected_md5);
  String md5String(void) { return _md5.toString(); }
  void md5(uint8_t* result) { return _md5.getBytes(result); }
  UpdaterClass& onProgress(THandlerFunction_Progress fn);

  uint8_t getError() { return _error; }
  void clearError() { _error = UPDATE_ERROR_OK; }
  bool hasError() { return _error != UPDATE_ERROR_OK; }
  bool isRunning() { return _size > 0; }
  bool isFinished() { return _progress == _size; }
  size_t size() { return _size; }
  size_t progress() { return _progress; }
  size_t remaining() { return _size - _progress; }

  // Host only: the image the last successful end() accepted, or nullptr.
  const char* stagedImage() const { return _staged[0] ? _staged : nullptr; }

 private:
  void _reset();
  bool _writeBuffer();
  bool _verifyEnd();
  void _setError(int error);

  uint8_t _error = UPDATE_ERROR_OK;
  uint8_t _buffer[4096];  // FLASH_SECTOR_SIZE: written a sector at a time, as on the chip
  size_t _bufferLen = 0;
  size_t _size = 0;
  size_t _progress = 0;  // bytes in the file
  int _fd = -1;
  char _path[256] = {0};
  char _staged[256] = {0};
  char _target_md5[33] = {0};
  MD5Builder _md5;
  THandlerFunction_Progress _progress_callback;
};

extern UpdaterClass Update;

#endif
