/* A mosquitto 2.x plugin that logs clients in the way ThingsBoard does: the MQTT username is
 * the device's access token and the password is ignored. Only the token given as
 * `plugin_opt_token` is accepted; anything else (no username, another token) is refused,
 * which mosquitto reports as CONNACK 5 (not authorized), as ThingsBoard does for a bad token.
 * The tests compile it with `cc -shared -fPIC`. */
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

static mosquitto_plugin_id_t *plugin_id;
static char *token;

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    const struct mosquitto_evt_basic_auth *auth = event_data;
    (void)event;
    (void)userdata;
    if (token && auth->username && strcmp(auth->username, token) == 0) {
        return MOSQ_ERR_SUCCESS;
    }
    return MOSQ_ERR_AUTH;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    (void)supported_version_count;
    (void)supported_versions;
    return 5;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **user_data,
                          struct mosquitto_opt *opts, int opt_count)
{
    (void)user_data;
    plugin_id = identifier;
    for (int i = 0; i < opt_count; i++) {
        if (strcmp(opts[i].key, "token") == 0) {
            token = strdup(opts[i].value);
        }
    }
    if (!token) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "token_auth: plugin_opt_token is required");
        return MOSQ_ERR_INVAL;
    }
    return mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *user_data, struct mosquitto_opt *opts, int opt_count)
{
    (void)user_data;
    (void)opts;
    (void)opt_count;
    free(token);
    token = NULL;
    return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
}
