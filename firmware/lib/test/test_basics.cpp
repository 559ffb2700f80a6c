#include "check.h"
#include "iotchat_backoff.h"
#include "iotchat_line_reader.h"
#include "iotchat_sample.h"

using namespace iotchat;

TEST(backoff_doubles_up_to_the_cap_and_resets) {
  Backoff b(10, 50);
  CHECK_EQ(b.nextDelay(), 10);
  CHECK_EQ(b.nextDelay(), 20);
  CHECK_EQ(b.nextDelay(), 40);
  CHECK_EQ(b.nextDelay(), 50);
  CHECK_EQ(b.nextDelay(), 50);
  b.reset();
  CHECK_EQ(b.nextDelay(), 10);
}

TEST(backoff_jitter_stays_between_half_and_all) {
  Backoff b(1000, 1000);
  Rng rng(7);
  for (int i = 0; i < 1000; i++) {
    uint32_t d = b.nextJittered(rng);
    CHECK(d >= 500 && d <= 1000);
  }
}

TEST(reached_is_wrap_safe) {
  CHECK(reached(5, 0xfffffff0u));
  CHECK(!reached(0xfffffff0u, 5));
  CHECK(reached(7, 7));
}

TEST(sample_formats_reading_line_and_tb_values) {
  Sample s = sampleFromAdc(512, 3);
  char buf[80];
  CHECK(formatReadingLine(buf, sizeof buf, s, 1763900000000LL) > 0);
  CHECK_STR(buf, "adc=512 temp=165.2 count=3 ts=1763900000000");
  CHECK(formatTbValues(buf, sizeof buf, s) > 0);
  CHECK_STR(buf, "\"adc\":512,\"temp\":165.2,\"count\":3");
  CHECK_EQ(formatReadingLine(buf, 10, s, 1), 0);
  CHECK_EQ(sampleFromAdc(5000, 1).adc, 1023);
  CHECK_EQ(sampleFromAdc(-3, 1).adc, 0);
}

TEST(format_i64_handles_extremes) {
  char b[24];
  formatI64(b, sizeof b, 0);
  CHECK_STR(b, "0");
  formatI64(b, sizeof b, -9223372036854775807LL - 1);
  CHECK_STR(b, "-9223372036854775808");
  CHECK_EQ(formatI64(b, 3, 12345), 0);
}

TEST(timestamps_never_go_back) {
  MonotonicTs t;
  CHECK_EQ(t.next(1000), 1000);
  CHECK_EQ(t.next(1000), 1001);
  CHECK_EQ(t.next(500), 1002);
  CHECK_EQ(t.next(5000), 5000);
}

TEST(line_reader_splits_strips_cr_and_skips_overlong) {
  LineReader<8> r;
  const char* in = "ab\r\n1234567890\nxy\n";
  int lines = 0, over = 0;
  const char* expect[] = {"ab", "xy"};
  for (const char* p = in; *p; p++) {
    LineReader<8>::Result res = r.push((uint8_t)*p);
    if (res == LineReader<8>::LINE) { CHECK_STR(r.line(), expect[lines]); lines++; }
    if (res == LineReader<8>::OVERLONG) { CHECK_STR(r.line(), "1234567"); over++; }
  }
  CHECK_EQ(lines, 2);
  CHECK_EQ(over, 1);
}

TEST(wall_clock_takes_its_offset_at_the_tick_and_survives_the_millis_wrap) {
  WallClock w;
  CHECK_EQ(w.ms(100, 5), -1);
  CHECK_EQ(w.ms(1000, 1700000000), 1700000000000LL - 0);  // first sight: second start = now
  CHECK_EQ(w.ms(1500, 1700000000), 1700000000500LL);
  CHECK_EQ(w.ms(2300, 1700000001), 1700000001000LL);     // tick seen at 2300
  CHECK_EQ(w.ms(2400, 1700000001), 1700000001100LL);
  WallClock z;
  z.ms(0xfffffc00u, 1700000000);
  CHECK_EQ(z.ms(0x00000400u, 1700000000), 1700000000000LL + 0x800);
}
