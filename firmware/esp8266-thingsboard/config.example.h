// Copy to config.h (git-ignored) or let `iotchat flash` render it from a profile.
#define IOTCHAT_WIFI_SSID      "my-wifi"
#define IOTCHAT_WIFI_PASSWORD  "secret"
#define IOTCHAT_DEVICE_NAME    "esp-1"
#define IOTCHAT_INTERVAL_MS    1000
#define IOTCHAT_TB_HOST        "thingsboard.local"
#define IOTCHAT_TB_PORT        1883
#define IOTCHAT_TB_TOKEN       "ACCESS_TOKEN"
