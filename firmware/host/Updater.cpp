// Host Updater (see Updater.h).
#include "Updater.h"

#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

UpdaterClass Update;

UpdaterClass::UpdaterClass() {}

UpdaterClass::~UpdaterClass() { _reset(); }

// Drops an unfinished update and its file (a staged one stays).
void UpdaterClass::_reset() {
  if (_fd >= 0) close(_fd);
  if (_path[0]) unlink(_path);
  _fd = -1;
  _path[0] = '\0';
  _bufferLen = 0;
  _size = 0;
  _progress = 0;
}

void UpdaterClass::_setError(int error) {
  _error = (uint8_t)error;
  _reset();  // any error invalidates the whole update
}

bool UpdaterClass::begin(size_t size, int command, int, uint8_t) {
  if (_size > 0) {
    _setError(UPDATE_ERROR_RUNNING_ALREADY);
    return false;
  }
  if (size == 0) {
    _setError(UPDATE_ERROR_SIZE);
    return false;
  }
  if (command != U_FLASH) {  // no file system on the host
    _setError(UPDATE_ERROR_UNKNOWN_COMMAND);
    return false;
  }
  _reset();
  clearError();
  _target_md5[0] = '\0';
  _staged[0] = '\0';
  if (size > ESP.getFreeSketchSpace()) {
    _setError(UPDATE_ERROR_SPACE);
    return false;
  }
  static unsigned serial = 0;
  const char* dir = getenv("IOTCHAT_HOST_OTA_DIR");
  snprintf(_path, sizeof _path, "%s/iotchat-ota-%ld-%u.bin", dir && *dir ? dir : "/tmp",
           (long)getpid(), ++serial);
  _fd = open(_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
  if (_fd < 0) {
    _path[0] = '\0';
    _setError(UPDATE_ERROR_ERASE);  // the flash could not be prepared
    return false;
  }
  _size = size;
  _md5.begin();
  return true;
}

bool UpdaterClass::setMD5(const char* expected_md5) {
  if (strlen(expected_md5) != 32) return false;
  memcpy(_target_md5, expected_md5, 33);
  return true;
}

bool UpdaterClass::_writeBuffer() {
  size_t done = 0;
  while (done < _bufferLen) {
    ssize_t n = ::write(_fd, _buffer + done, _bufferLen - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      _setError(UPDATE_ERROR_WRITE);
      return false;
    }
    done += (size_t)n;
  }
  _md5.add(_buffer, (uint16_t)_bufferLen);
  _progress += _bufferLen;
  _bufferLen = 0;
  return true;
}

size_t UpdaterClass::write(uint8_t* data, size_t len) {
  if (hasError() || !isRunning()) return 0;
  if (_progress + _bufferLen + len > _size) {
    _setError(UPDATE_ERROR_SPACE);
    return 0;
  }
  size_t left = len;
  while (_bufferLen + left > sizeof _buffer) {
    size_t take = sizeof _buffer - _bufferLen;
    memcpy(_buffer + _bufferLen, data + (len - left), take);
    _bufferLen += take;
    if (!_writeBuffer()) return len - left;
    left -= take;
  }
  memcpy(_buffer + _bufferLen, data + (len - left), left);
  _bufferLen += left;
  if (_bufferLen == remaining() && !_writeBuffer()) return len - left;
  if (_progress_callback) _progress_callback(_progress, _size);
  return len;
}

size_t UpdaterClass::writeStream(Stream& data, uint16_t streamTimeout) {
  if (hasError() || !isRunning()) return 0;
  if (data.peek() != 0x7f) {  // the chip's _verifyHeader: its first byte must be the magic
    _setError(UPDATE_ERROR_MAGIC_BYTE);
    return 0;
  }
  size_t written = 0;
  unsigned long last = millis();
  while (remaining() > _bufferLen) {
    size_t want = sizeof _buffer - _bufferLen;
    if (want > remaining() - _bufferLen) want = remaining() - _bufferLen;
    size_t got = data.readBytes(_buffer + _bufferLen, want);
    if (got == 0) {
      if (millis() - last >= streamTimeout) {
        _setError(UPDATE_ERROR_STREAM);
        return written;
      }
      delay(100);
      continue;
    }
    last = millis();
    _bufferLen += got;
    written += got;
    if ((_bufferLen == remaining() || _bufferLen == sizeof _buffer) && !_writeBuffer()) return written;
    if (_progress_callback) _progress_callback(_progress, _size);
  }
  return written;
}

bool UpdaterClass::_verifyEnd() {
  uint8_t magic[4] = {0};
  if (pread(_fd, magic, 4, 0) != 4) {
    _setError(UPDATE_ERROR_READ);
    return false;
  }
  if (memcmp(magic, "\x7f" "ELF", 4) != 0) {
    _setError(UPDATE_ERROR_MAGIC_BYTE);
    return false;
  }
  return true;
}

bool UpdaterClass::end(bool evenIfRemaining) {
  if (_size == 0) {
    _reset();
    return false;
  }
  if (_progress + _bufferLen == 0) _setError(UPDATE_ERROR_NO_DATA);
  if (hasError() || (!isFinished() && !evenIfRemaining)) {
    _reset();
    return false;
  }
  if (evenIfRemaining) {
    if (_bufferLen > 0 && !_writeBuffer()) return false;
    _size = _progress;
  }
  if (_target_md5[0]) {
    _md5.calculate();
    if (strcasecmp(_target_md5, _md5.toString().c_str()) != 0) {
      _setError(UPDATE_ERROR_MD5);
      return false;
    }
  }
  if (!_verifyEnd()) return false;
  if (fsync(_fd) != 0) {
    _setError(UPDATE_ERROR_WRITE);
    return false;
  }
  close(_fd);
  _fd = -1;
  memcpy(_staged, _path, sizeof _staged);  // eboot's copy command, on the chip
  _path[0] = '\0';
  _reset();
  return true;
}

UpdaterClass& UpdaterClass::onProgress(THandlerFunction_Progress fn) {
  _progress_callback = fn;
  return *this;
}

String UpdaterClass::getErrorString() const {
  char out[128];
  switch (_error) {
    case UPDATE_ERROR_OK: return String("No Error");
    case UPDATE_ERROR_WRITE: return String("Flash Write Failed");
    case UPDATE_ERROR_ERASE: return String("Flash Erase Failed");
    case UPDATE_ERROR_READ: return String("Flash Read Failed");
    case UPDATE_ERROR_SPACE: return String("Not Enough Space");
    case UPDATE_ERROR_SIZE: return String("Bad Size Given");
    case UPDATE_ERROR_STREAM: return String("Stream Read Timeout");
    case UPDATE_ERROR_MD5:
      snprintf(out, sizeof out, "MD5 verification failed: expected: %s, calculated: %s", _target_md5,
               _md5.toString().c_str());
      return String(out);
    case UPDATE_ERROR_MAGIC_BYTE: return String("Magic byte is not 0x7F 'ELF' (host image)");
    case UPDATE_ERROR_NO_DATA: return String("No data supplied");
    case UPDATE_ERROR_OOM: return String("Out of memory");
    case UPDATE_ERROR_RUNNING_ALREADY: return String("Update already running");
    case UPDATE_ERROR_UNKNOWN_COMMAND: return String("Unknown update command");
    default: return String("UNKNOWN");
  }
}

void UpdaterClass::printError(Print& out) {
  out.printf("ERROR[%u]: %s\n", (unsigned)_error, getErrorString().c_str());
}
