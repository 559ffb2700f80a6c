// ThingsBoard firmware OTA over MQTT (M3), no I/O: the `fw_*` shared attributes, the chunk
// topics, and the download as a state machine with time passed in. The sketch publishes the
// requests it is handed, feeds back the chunks, writes them with the core's Update class and
// checks the image's hash.
//
// Rules (ThingsBoard's device API, timings as its official Arduino SDK's):
// - A target is fw_title, fw_version, fw_size, fw_checksum, fw_checksum_algorithm (MD5 or
//   SHA256), pushed on v1/devices/me/attributes or answered to an attribute request.
// - Same title and version as running: up to date. Another title: not for this device. Another
//   version: download it, kChunkSize bytes at a time: publish the size on
//   `v2/fw/request/<id>/chunk/<n>`, the answer comes on `v2/fw/response/<id>/chunk/<n>`.
// - One request at a time; no answer within kChunkTimeoutMs: ask again, at most kMaxRetries
//   times in a row. A chunk of the wrong size counts as no answer.
// - A dropped connection pauses the download (no timeouts while offline); once connected
//   again it resumes at the next chunk needed. The Update stays open meanwhile.
// - A target that failed is not tried again until another one is offered (or a reboot).
#ifndef IOTCHAT_TB_OTA_H
#define IOTCHAT_TB_OTA_H

#include <stddef.h>
#include <stdint.h>

#include "iotchat_ota.h"

namespace iotchat {

static const char kTbFwResponseFilter[] = "v2/fw/response/+/chunk/+";
static const char kTbFwResponsePrefix[] = "v2/fw/response/";
// Shared attributes asked for at every connect: the interval and the firmware target.
static const char kTbSharedKeysRequest[] =
    "{\"sharedKeys\":\"interval,fw_title,fw_version,fw_size,fw_checksum,fw_checksum_algorithm\"}";

enum TbFwAlgo { TB_FW_MD5, TB_FW_SHA256 };

struct TbFirmware {
  char title[kOtaVersionMax];
  char version[kOtaVersionMax];
  uint32_t size;
  char checksum[65];  // hex: 32 (MD5) or 64 (SHA-256) digits
  TbFwAlgo algo;
};

enum TbFwParse {
  TB_FW_ABSENT,   // no fw_* key at all
  TB_FW_PARTIAL,  // some fw_* keys but not all: ask for the whole set
  TB_FW_OK,
  TB_FW_BAD       // all there, but a value is unusable (*why says which)
};

// The fw_* members of an attribute payload (`{"fw_title":..}` or `{"shared":{..}}`).
TbFwParse tbParseFirmware(const char* p, size_t len, TbFirmware* out, const char** why);

// `v2/fw/response/<id>/chunk/<n>` -> id, n. False for any other topic.
bool tbParseChunkTopic(const char* topic, uint32_t* request_id, uint32_t* chunk);

// `v2/fw/request/<id>/chunk/<n>`; false if it does not fit.
bool tbChunkRequestTopic(char* out, size_t cap, uint32_t request_id, uint32_t chunk);

enum TbFwState { FW_DOWNLOADING, FW_DOWNLOADED, FW_VERIFIED, FW_UPDATING, FW_UPDATED, FW_FAILED };
const char* tbFwStateName(TbFwState s);

// `{"fw_state":"FAILED","fw_error":"..."}` (fw_error only with FAILED; cut to fit); the
// length, or 0 if it does not fit.
size_t tbFwStateJson(char* out, size_t cap, TbFwState s, const char* error);

// `{"current_fw_title":"..","current_fw_version":".."}`; the length, or 0.
size_t tbCurrentFwJson(char* out, size_t cap, const char* title, const char* version);

class TbOta {
 public:
  static const uint32_t kChunkSize = 1024;
  static const uint32_t kChunkTimeoutMs = 5000;
  static const uint8_t kMaxRetries = 12;

  enum Offer {
    OFFER_IGNORED,      // the target being downloaded, or one that failed already
    OFFER_UP_TO_DATE,   // this device runs it
    OFFER_WRONG_TITLE,  // not for this device: report FAILED
    OFFER_START         // download it: (abort any open Update,) Update.begin(size), hash
  };
  enum Chunk {
    CHUNK_WRITE,  // the next chunk: hash and write it, then chunkWritten()
    CHUNK_LAST,   // the last one: hash it, check the image, then write it and end
    CHUNK_STALE   // an old request's or a duplicate answer, or a bad size (asked again)
  };

  // Fw attributes arrived; `title`/`version`: what this device runs.
  Offer offer(const TbFirmware& fw, const char* title, const char* version);
  const TbFirmware& target() const { return fw_; }
  bool downloading() const { return active_; }
  uint32_t requestId() const { return id_; }
  uint32_t nextChunk() const { return next_; }
  uint32_t chunkCount() const { return (fw_.size + kChunkSize - 1) / kChunkSize; }
  // Bytes chunk `n` must hold.
  uint32_t chunkLength(uint32_t n) const;

  // A chunk request to publish now (the first, a retry, a resume): true and *chunk.
  bool pollRequest(uint32_t* chunk) const;
  // The request was published at `now`; its answer is due kChunkTimeoutMs later.
  void requested(uint32_t now);
  // An answer on the chunk topic, `len` payload bytes.
  Chunk handleChunk(uint32_t request_id, uint32_t n, size_t len, uint32_t now);
  // The chunk handed out by CHUNK_WRITE is written: on to the next.
  void chunkWritten();
  // Notices an overdue answer; true if the retries are spent (the download has failed:
  // call fail()).
  bool handleTimeout(uint32_t now);
  // Why the retries were spent.
  const char* giveUpReason() const { return bad_size_ ? "chunks of the wrong size" : "no answer"; }

  void onDisconnected();
  void onConnected();
  // The download ended in failure: this target is not tried again until another is offered.
  void fail();
  // The download ended (image written and accepted, about to restart).
  void finish() { active_ = false; }

 private:
  TbFirmware fw_ = {};
  uint32_t id_ = 0, next_ = 0, deadline_ = 0, failed_hash_ = 0;
  uint8_t retries_ = 0;
  bool active_ = false, online_ = false, awaiting_ = false, bad_size_ = false;
};

}  // namespace iotchat

#endif
