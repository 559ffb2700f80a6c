#include "check.h"

namespace check {
Test*& head() { static Test* h = nullptr; return h; }
int& failures() { static int f = 0; return f; }
static const char* current = "";
void fail(const char* file, int line, const char* what) {
  fprintf(stderr, "FAIL %s: %s:%d: %s\n", current, file, line, what);
  failures()++;
}
}  // namespace check

int main() {
  int n = 0, failed = 0;
  for (check::Test* t = check::head(); t; t = t->next) {
    int before = check::failures();
    check::current = t->name;
    t->fn();
    bool ok = check::failures() == before;
    printf("%s %s\n", ok ? "ok  " : "FAIL", t->name);
    n++;
    if (!ok) failed++;
  }
  printf("%d tests, %d failed\n", n, failed);
  return failed ? 1 : 0;
}
