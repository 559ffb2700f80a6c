/* A mosquitto 2.x plugin that logs clients in the way ThingsBoard does: the MQTT username is
 * the device's access token and the password is ignored. Only the token given as
 * `plugin_opt_token` is accepted; anything else (no username, another token) is refused,
 * which mosquitto reports as CONNACK 5 (not authorized), as ThingsBoard does for a bad token.
 *
 * ThingsBoard's basic MQTT credentials are accepted too when any of `plugin_opt_basic_client_id`,
 * `plugin_opt_basic_username` and `plugin_opt_basic_password` is given: every one given must
 * match the CONNECT's client id, username and password.
 *
 * With `plugin_opt_certificate_logins true`, a client that presented a TLS client certificate
 * (on a listener with `require_certificate`, which checked it) is logged in by it, as with
 * ThingsBoard's X.509 credentials, provided it sends no username: iotchat's X.509 login sends
 * none, and this is where a test would see one.
 *
 * The tests compile it with `cc -shared -fPIC`. */
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

static mosquitto_plugin_id_t *plugin_id;
static char *token;
static char *basic_client_id;
static char *basic_username;
static char *basic_password;
static int certificate_logins;

/* From libcrypto, which mosquitto has loaded: frees what mosquitto_client_certificate returns. */
extern void X509_free(void *certificate);

/* Whether the client presented a certificate (the listener has already checked it). */
static int has_certificate(struct mosquitto *client)
{
    void *certificate = mosquitto_client_certificate(client);
    if (!certificate) {
        return 0;
    }
    X509_free(certificate);
    return 1;
}

/* A basic credential field: unset matches anything; set must equal what was sent. */
static int matches(const char *wanted, const char *sent)
{
    return !wanted || (sent && strcmp(wanted, sent) == 0);
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    const struct mosquitto_evt_basic_auth *auth = event_data;
    (void)event;
    (void)userdata;
    if (certificate_logins && has_certificate(auth->client)) {
        return auth->username ? MOSQ_ERR_AUTH : MOSQ_ERR_SUCCESS;
    }
    if (token && auth->username && strcmp(auth->username, token) == 0) {
        return MOSQ_ERR_SUCCESS;
    }
    if ((basic_client_id || basic_username || basic_password)
        && matches(basic_client_id, mosquitto_client_id(auth->client))
        && matches(basic_username, auth->username)
        && matches(basic_password, auth->password)) {
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
        } else if (strcmp(opts[i].key, "basic_client_id") == 0) {
            basic_client_id = strdup(opts[i].value);
        } else if (strcmp(opts[i].key, "basic_username") == 0) {
            basic_username = strdup(opts[i].value);
        } else if (strcmp(opts[i].key, "basic_password") == 0) {
            basic_password = strdup(opts[i].value);
        } else if (strcmp(opts[i].key, "certificate_logins") == 0) {
            certificate_logins = strcmp(opts[i].value, "true") == 0;
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
    free(basic_client_id);
    free(basic_username);
    free(basic_password);
    token = basic_client_id = basic_username = basic_password = NULL;
    return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
}
