// Copy to config.h (git-ignored) or let `iotchat flash` render it from a profile.
#define IOTCHAT_WIFI_SSID      "my-wifi"
#define IOTCHAT_WIFI_PASSWORD  "secret"
#define IOTCHAT_DEVICE_NAME    "esp-1"
// The device's token for a server run with `iotchat serve --auth-tokens FILE` (the line
// `esp-1 <token>` there): 1 to 64 printable ASCII characters, no spaces. "" = no token, for a
// server without authentication. A secret like the Wi-Fi password: never printed by the sketch.
#define IOTCHAT_DEVICE_TOKEN   ""
#define IOTCHAT_INTERVAL_MS    1000
#define IOTCHAT_SERVER_HOST    "192.168.1.20"
#define IOTCHAT_SERVER_PORT    12000
