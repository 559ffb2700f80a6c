// Host build's config.h: on the chip `iotchat flash` renders these macros as constants; on
// Linux each one reads the environment variable of the same name at run time.
#ifndef IOTCHAT_HOST_CONFIG_H
#define IOTCHAT_HOST_CONFIG_H

#include <stdint.h>

const char* iotchat_host_config_str(const char* name, const char* fallback);
long iotchat_host_config_int(const char* name, long fallback);

#define IOTCHAT_WIFI_SSID iotchat_host_config_str("IOTCHAT_WIFI_SSID", "my-wifi")
#define IOTCHAT_WIFI_PASSWORD iotchat_host_config_str("IOTCHAT_WIFI_PASSWORD", "secret")
#define IOTCHAT_DEVICE_NAME iotchat_host_config_str("IOTCHAT_DEVICE_NAME", "esp-1")
#define IOTCHAT_DEVICE_TOKEN iotchat_host_config_str("IOTCHAT_DEVICE_TOKEN", "")
#define IOTCHAT_INTERVAL_MS ((uint32_t)iotchat_host_config_int("IOTCHAT_INTERVAL_MS", 1000))
#define IOTCHAT_SERVER_HOST iotchat_host_config_str("IOTCHAT_SERVER_HOST", "127.0.0.1")
#define IOTCHAT_SERVER_PORT ((uint16_t)iotchat_host_config_int("IOTCHAT_SERVER_PORT", 12000))
#define IOTCHAT_TB_HOST iotchat_host_config_str("IOTCHAT_TB_HOST", "127.0.0.1")
#define IOTCHAT_TB_PORT ((uint16_t)iotchat_host_config_int("IOTCHAT_TB_PORT", 1883))
#define IOTCHAT_TB_TOKEN iotchat_host_config_str("IOTCHAT_TB_TOKEN", "ACCESS_TOKEN")

#endif
