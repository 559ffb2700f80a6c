// Prints the static RAM the device logic takes (host sizes; the chip's 32-bit layout is the
// same or smaller, since these types hold no pointers) and guards the budget.
#include "check.h"
#include "iotchat_line_reader.h"
#include "iotchat_tb.h"
#include "iotchat_tb_ota.h"
#include "iotchat_tcp_device.h"

using namespace iotchat;

TEST(ram_budget) {
  printf("sizeof TcpDevice        %zu\n", sizeof(TcpDevice));
  printf("sizeof LineReader<160>  %zu\n", sizeof(LineReader<160>));
  printf("sizeof LineReader<128>  %zu\n", sizeof(LineReader<128>));
  printf("sizeof TbBacklog        %zu\n", sizeof(TbBacklog));
  printf("sizeof TbOta            %zu\n", sizeof(TbOta));
  CHECK(sizeof(TcpDevice) <= 3600);  // + 136 B for `HELLO <name> <token>`
  CHECK(sizeof(TbBacklog) <= 2200);
  CHECK(sizeof(TbOta) <= 200);  // the download state; the image itself is never held
}
