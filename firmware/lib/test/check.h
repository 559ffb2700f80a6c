// A tiny self-contained test runner: TEST(name) registers a function; CHECK/CHECK_EQ record
// failures with file:line and keep going; main() runs all and exits non-zero on any failure.
#ifndef IOTCHAT_CHECK_H
#define IOTCHAT_CHECK_H

#include <stdio.h>
#include <string.h>

namespace check {
typedef void (*Fn)();
struct Test { const char* name; Fn fn; Test* next; };
Test*& head();
int& failures();
struct Reg { Reg(Test* t) { t->next = head(); head() = t; } };
void fail(const char* file, int line, const char* what);
}  // namespace check

#define TEST(name)                                                   \
  static void test_##name();                                         \
  static check::Test t_##name = {#name, test_##name, nullptr};       \
  static check::Reg r_##name(&t_##name);                             \
  static void test_##name()

#define CHECK(cond) \
  do { if (!(cond)) check::fail(__FILE__, __LINE__, #cond); } while (0)
#define CHECK_STR(a, b)                                                                 \
  do {                                                                                  \
    const char* a_ = (a); const char* b_ = (b);                                         \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                             \
      char m_[512];                                                                     \
      snprintf(m_, sizeof m_, "%s == %s (\"%s\" vs \"%s\")", #a, #b, a_ ? a_ : "(null)", \
               b_ ? b_ : "(null)");                                                     \
      check::fail(__FILE__, __LINE__, m_);                                              \
    }                                                                                   \
  } while (0)
#define CHECK_EQ(a, b)                                                                  \
  do {                                                                                  \
    long long a_ = (long long)(a), b_ = (long long)(b);                                 \
    if (a_ != b_) {                                                                     \
      char m_[256];                                                                     \
      snprintf(m_, sizeof m_, "%s == %s (%lld vs %lld)", #a, #b, a_, b_);              \
      check::fail(__FILE__, __LINE__, m_);                                              \
    }                                                                                   \
  } while (0)

#endif
