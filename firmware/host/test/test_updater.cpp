// The host Update shim keeps the core's rules (Updater.h): run as a "sketch" whose setup()
// checks them and exits 0 only if all held. Images go to a fresh directory under /tmp.
#include <Arduino.h>
#include <MD5Builder.h>
#include <Updater.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures = 0;
static char dir[64];

#define EXPECT(cond)                                                        \
  do {                                                                      \
    if (!(cond)) {                                                          \
      printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                \
      failures++;                                                           \
    }                                                                       \
  } while (0)

static int filesInDir() {
  DIR* d = opendir(dir);
  int n = 0;
  for (struct dirent* e; d && (e = readdir(d));) n += e->d_name[0] != '.';
  if (d) closedir(d);
  return n;
}

// An "image": ELF magic, then `n - 4` bytes of a pattern.
static void image(uint8_t* out, size_t n, bool elf = true) {
  for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(i * 7);
  if (elf) memcpy(out, "\x7f" "ELF", 4);
}

static void md5Hex(const uint8_t* data, size_t n, char* hex) {
  MD5Builder m;
  m.begin();
  m.add(data, (uint16_t)n);
  m.calculate();
  m.getChars(hex);
}

static void callOrderAndSizes() {
  uint8_t img[6000];
  image(img, sizeof img);
  EXPECT(Update.write(img, 10) == 0);  // no begin: nothing written
  EXPECT(!Update.end());
  EXPECT(!Update.begin(0) && Update.getError() == UPDATE_ERROR_SIZE);
  EXPECT(!Update.begin(100, U_FS) && Update.getError() == UPDATE_ERROR_UNKNOWN_COMMAND);
  EXPECT(Update.begin(sizeof img));
  EXPECT(!Update.begin(10) && Update.getError() == UPDATE_ERROR_RUNNING_ALREADY);
  EXPECT(!Update.isRunning() && filesInDir() == 0);  // that error dropped the update, as the core's
  EXPECT(Update.begin(sizeof img));
  EXPECT(Update.write(img, 5000) == 5000 && Update.progress() == 4096);  // a sector at a time
  EXPECT(Update.write(img, 1001) == 0 && Update.getError() == UPDATE_ERROR_SPACE);
  EXPECT(filesInDir() == 0 && Update.stagedImage() == nullptr);
}

static void unfinishedAndWrongImagesAreNeverStaged() {
  uint8_t img[3000];
  image(img, sizeof img);
  EXPECT(Update.begin(sizeof img) && Update.write(img, 2000) == 2000);
  EXPECT(!Update.end() && !Update.isRunning() && filesInDir() == 0);  // not finished
  EXPECT(Update.begin(sizeof img));
  EXPECT(!Update.end() && Update.getError() == UPDATE_ERROR_NO_DATA);
  image(img, sizeof img, false);
  EXPECT(Update.begin(sizeof img) && Update.write(img, sizeof img) == sizeof img);
  EXPECT(!Update.end() && Update.getError() == UPDATE_ERROR_MAGIC_BYTE && filesInDir() == 0);
  image(img, sizeof img);
  EXPECT(!Update.setMD5("abc"));  // 32 hex digits or nothing
  EXPECT(Update.begin(sizeof img) && Update.setMD5("00000000000000000000000000000000"));
  EXPECT(Update.write(img, sizeof img) == sizeof img && Update.isFinished());
  EXPECT(!Update.end() && Update.getError() == UPDATE_ERROR_MD5 && filesInDir() == 0);
  EXPECT(strstr(Update.getErrorString().c_str(), "MD5 verification failed") != nullptr);
  EXPECT(Update.stagedImage() == nullptr);
}

static void aWholeCheckedImageIsStagedExecutable() {
  uint8_t img[5000];
  image(img, sizeof img);
  char hex[33];
  md5Hex(img, sizeof img, hex);
  EXPECT(Update.begin(sizeof img) && Update.setMD5(hex));
  EXPECT(Update.write(img, 1500) == 1500 && Update.write(img + 1500, 3500) == 3500);
  EXPECT(Update.end() && !Update.hasError() && Update.stagedImage() != nullptr);
  struct stat st;
  EXPECT(Update.stagedImage() && stat(Update.stagedImage(), &st) == 0 && st.st_size == (off_t)sizeof img &&
         (st.st_mode & S_IXUSR));
  EXPECT(strcmp(Update.md5String().c_str(), hex) == 0);
  if (Update.stagedImage()) unlink(Update.stagedImage());
}

static void moreThanTheFreeSketchSpaceIsRefused() {
  setenv("IOTCHAT_HOST_FREE_SKETCH_SPACE", "1000", 1);
  EXPECT(!Update.begin(1001) && Update.getError() == UPDATE_ERROR_SPACE);
  unsetenv("IOTCHAT_HOST_FREE_SKETCH_SPACE");
}

void setup() {
  snprintf(dir, sizeof dir, "/tmp/iotchat-updater-test-%ld", (long)getpid());
  mkdir(dir, 0700);
  setenv("IOTCHAT_HOST_OTA_DIR", dir, 1);
  callOrderAndSizes();
  unfinishedAndWrongImagesAreNeverStaged();
  aWholeCheckedImageIsStagedExecutable();
  moreThanTheFreeSketchSpaceIsRefused();
  rmdir(dir);
  printf("host Update shim: %d failed\n", failures);
  exit(failures ? 1 : 0);
}

void loop() {}
