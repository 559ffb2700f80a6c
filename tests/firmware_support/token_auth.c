/* A mosquitto 2.x auth plugin for the firmware tests: accepts a CONNECT only when its
 * username equals the `token` plugin option (as ThingsBoard accepts an access token), and
 * refuses everyone else with MOSQ_ERR_AUTH, which a v3.1.1 client sees as CONNACK 5. */
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

static mosquitto_plugin_id_t *plugin_id;
static char token[256];

static int on_basic_auth(int event, void *event_data, void *userdata) {
  struct mosquitto_evt_basic_auth *ed = event_data;
  (void)event;
  (void)userdata;
  if (ed->username && token[0] && strcmp(ed->username, token) == 0) return MOSQ_ERR_SUCCESS;
  return MOSQ_ERR_AUTH;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions) {
  for (int i = 0; i < supported_version_count; i++)
    if (supported_versions[i] == 5) return 5;
  return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **user_data,
                          struct mosquitto_opt *opts, int opt_count) {
  (void)user_data;
  plugin_id = identifier;
  for (int i = 0; i < opt_count; i++)
    if (strcmp(opts[i].key, "token") == 0) strncpy(token, opts[i].value, sizeof token - 1);
  return mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *user_data, struct mosquitto_opt *opts, int opt_count) {
  (void)user_data;
  (void)opts;
  (void)opt_count;
  return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
}
