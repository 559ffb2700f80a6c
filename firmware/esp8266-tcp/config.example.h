// Copy to config.h (git-ignored) or let `iotchat flash` render it from a profile.
#define IOTCHAT_WIFI_SSID      "my-wifi"
#define IOTCHAT_WIFI_PASSWORD  "secret"
#define IOTCHAT_DEVICE_NAME    "esp-1"
#define IOTCHAT_INTERVAL_MS    1000
#define IOTCHAT_SERVER_HOST    "192.168.1.20"
#define IOTCHAT_SERVER_PORT    12000
