// The RPC line parser, the strict JSON reader and the answers (iotchat_rpc.h), as tables.
#include <string.h>

#include "check.h"
#include "iotchat_rpc.h"

using namespace iotchat;

static bool parse(const char* line, RpcRequest* r) { return parseRpcLine(line, strlen(line), r); }

static RpcOutcome run(const char* line, RpcSettings& st, char* out, size_t cap = kRpcAnswerMax) {
  RpcRequest r;
  if (!parse(line, &r)) { strcpy(out, "(malformed)"); return RPC_NO_ROOM; }
  return runRpc(r, st, out, cap);
}

TEST(rpc_line_fields) {
  RpcRequest r;
  CHECK(parse("rpc: 7 setInterval {\"interval\":500}", &r));
  CHECK_EQ(r.id, 7);
  CHECK_EQ(r.method_len, 11);
  CHECK(memcmp(r.method, "setInterval", 11) == 0);
  CHECK_EQ(r.params_len, 16);
  CHECK(parse("rpc:  12   getInterval   null  ", &r));
  CHECK_EQ(r.params_len, 4);
  CHECK(parse("rpc: 18446744073709551615 x null", &r));
  CHECK(r.id == UINT64_MAX);
  CHECK(parse("rpc: 3 getInterval", &r));  // no params: null
  CHECK_EQ(r.params_len, 0);
  CHECK(parse("rpc: 4 say {\"text\": \"a b\"}", &r));  // blanks inside the JSON
  CHECK_EQ(r.params_len, 15);
}

TEST(rpc_malformed_lines_are_refused) {
  const char* bad[] = {
      "rpc:",                           // nothing
      "rpc: ",                          // no id
      "rpc:7 getInterval null",         // no space after the colon
      "rpc: x getInterval null",        // id not a number
      "rpc: -1 getInterval null",       // negative id
      "rpc: 7a getInterval null",       // id with a tail
      "rpc: 18446744073709551616 getInterval null",  // id over uint64
      "rpc: 7",                         // no method
      "rpc: 7 ",
      "rpc: 7 setInterval {interval:500}",         // params not JSON
      "rpc: 7 setInterval {\"interval\":",         // JSON cut short
      "rpc: 7 setInterval 1 2",                    // two JSON values
      "rpc: 7 x [[[[[[[[[1]]]]]]]]]",              // nested deeper than 8
      "rpc: 7 get\x01Interval null",    // control byte in the method
      "rpc: 7 m\xc3\xa9thode null",     // non-ASCII method
      "RPC: 7 getInterval null",        // an echo, not a request
      "rpcx: 7 getInterval null",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    RpcRequest r;
    if (parse(bad[i], &r)) check::fail(__FILE__, __LINE__, bad[i]);
  }
}

TEST(interval_params_accept_whitespace_key_order_and_other_members) {
  const char* good[] = {
      "{\"interval\":500}",
      " { \"interval\" : 500 } ",
      "{\n\"interval\":\t500\r\n}",
      "{\"unit\":\"ms\",\"interval\":500}",
      "{\"interval\":500,\"why\":{\"a\":[1,2.5,-3e2,true,false,null,\"x\\\"y\\u00e9\"]}}",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    uint32_t ms = 0;
    if (!parseIntervalParams(good[i], strlen(good[i]), &ms) || ms != 500)
      check::fail(__FILE__, __LINE__, good[i]);
  }
  uint32_t ms = 0;
  CHECK(parseIntervalParams("{\"interval\":100}", 16, &ms) && ms == 100);
  CHECK(parseIntervalParams("{\"interval\":3600000}", 20, &ms) && ms == 3600000);
}

TEST(interval_params_reject_garbage) {
  const char* bad[] = {
      "null", "500", "\"500\"", "[500]", "{}", "",
      "{\"interval\":99}", "{\"interval\":3600001}", "{\"interval\":0}",
      "{\"interval\":-500}", "{\"interval\":500.0}", "{\"interval\":5e2}",
      "{\"interval\":0500}", "{\"interval\":\"500\"}", "{\"interval\":null}",
      "{\"interval\":99999999999}", "{\"interval\":true}",
      "{\"interval\":500,\"interval\":600}",  // repeated key
      "{\"interval\":500", "{\"interval\":500}}", "{\"interval\":500} x",
      "{\"interval\" 500}", "{interval:500}", "{\"interval\":500,}", "{,\"interval\":500}",
      "{\"x\":[1,,2],\"interval\":500}", "{\"x\":\"a\x01\",\"interval\":500}",
      "{\"x\":\"\\q\",\"interval\":500}", "{\"x\":tru,\"interval\":500}",
      "{\"a\":{\"interval\":500}}",  // nested, not top level
      "{\"x\":[[[[[[[[[1]]]]]]]]],\"interval\":500}",  // deeper than 8 levels
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint32_t ms = 0;
    if (parseIntervalParams(bad[i], strlen(bad[i]), &ms)) check::fail(__FILE__, __LINE__, bad[i]);
  }
}

TEST(json_is_read_within_its_length_only) {
  // The params are a span of a longer line: nothing past `len` may be read.
  const char text[] = "{\"interval\":500}";
  uint32_t ms = 0;
  CHECK(!parseIntervalParams(text, sizeof text - 2, &ms));  // the closing brace cut off
  CHECK(!parseIntervalParams(text, 13, &ms));
}

TEST(rpc_answers) {
  struct Row { const char* line; const char* answer; RpcOutcome outcome; };
  const Row rows[] = {
      {"rpc: 1 getInterval null", "RPC 1 {\"interval\":1000}", RPC_GET_INTERVAL},
      {"rpc: 7 setInterval {\"interval\":500}", "RPC 7 {\"interval\":500}", RPC_SET_INTERVAL},
      {"rpc: 8 setInterval {\"interval\":50}",
       "RPC 8 {\"error\":\"setInterval needs {\\\"interval\\\": 100..3600000 ms}\"}",
       RPC_BAD_PARAMS},
      {"rpc: 9 setInterval null",
       "RPC 9 {\"error\":\"setInterval needs {\\\"interval\\\": 100..3600000 ms}\"}",
       RPC_BAD_PARAMS},
      {"rpc: 10 setLed {\"on\":true}", "RPC 10 {\"on\":true}", RPC_SET_LED},
      {"rpc: 11 setLed {\"on\":1}", "RPC 11 {\"error\":\"setLed needs {\\\"on\\\": true or false}\"}",
       RPC_BAD_PARAMS},
      {"rpc: 12 reboot null", "RPC 12 {\"error\":\"unknown method reboot\"}", RPC_UNKNOWN},
      {"rpc: 13 a\"b\\c {}", "RPC 13 {\"error\":\"unknown method a\\\"b\\\\c\"}", RPC_UNKNOWN},
      {"rpc: 007 getInterval null", "RPC 7 {\"interval\":1000}", RPC_GET_INTERVAL},
      {"rpc: 14 setInterval",
       "RPC 14 {\"error\":\"setInterval needs {\\\"interval\\\": 100..3600000 ms}\"}",
       RPC_BAD_PARAMS},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    RpcSettings st = {1000, false};
    char out[kRpcAnswerMax];
    RpcOutcome o = run(rows[i].line, st, out);
    CHECK_STR(out, rows[i].answer);
    CHECK_EQ(o, rows[i].outcome);
  }
}

TEST(rpc_changes_settings_only_when_valid) {
  RpcSettings st = {1000, false};
  char out[kRpcAnswerMax];
  run("rpc: 1 setInterval {\"interval\":250}", st, out);
  CHECK_EQ(st.interval_ms, 250);
  run("rpc: 2 setInterval {\"interval\":25}", st, out);
  CHECK_EQ(st.interval_ms, 250);
  run("rpc: 3 setLed {\"on\":true}", st, out);
  CHECK(st.led);
  run("rpc: 4 setLed {\"on\":\"yes\"}", st, out);
  CHECK(st.led);
  run("rpc: 5 setLed {\"on\":false}", st, out);
  CHECK(!st.led);
}

TEST(unknown_method_name_is_cut_to_fit_and_the_answer_stays_json) {
  char line[300] = "rpc: 18446744073709551615 ";
  size_t n = strlen(line);
  for (int i = 0; i < 200; i++) line[n++] = (i % 10 == 9) ? '"' : 'm';
  strcpy(line + n, " null");
  RpcSettings st = {1000, false};
  char out[kRpcAnswerMax];
  CHECK_EQ(run(line, st, out), RPC_UNKNOWN);
  size_t len = strlen(out);
  CHECK(len <= kRpcAnswerMax - 1);
  CHECK(len >= kRpcAnswerMax - 3);  // filled up, less at most one escape pair
  CHECK(strcmp(out + len - 2, "\"}") == 0);
  CHECK(out[len - 3] != '\\' || out[len - 4] == '\\');  // no escape cut in half
  // A buffer smaller than kRpcAnswerMax may not fit the fixed answers: nothing is applied.
  RpcSettings small = {1000, false};
  char tiny[16];
  CHECK_EQ(run("rpc: 1 setInterval {\"interval\":500}", small, tiny, sizeof tiny), RPC_NO_ROOM);
  CHECK_EQ(small.interval_ms, 1000);
}
