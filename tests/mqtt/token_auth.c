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
 * With `plugin_opt_rate_limit capacity:seconds`, it closes a session that publishes too fast,
 * as ThingsBoard does on QUOTA_EXCEEDED: each client id has a token bucket (bucket4j's greedy
 * refill: full at first, refilled continuously at capacity/seconds, kept across reconnects as
 * ThingsBoard keeps a device's), every PUBLISH costs one token, and a PUBLISH that finds it
 * empty is refused and the client kicked, logging `rate_limit: kicked <client id> over
 * capacity:seconds` (a warning, so the tests' log_type lets it through).
 *
 * The tests compile it with `cc -shared -fPIC`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

static mosquitto_plugin_id_t *plugin_id;
static char *token;
static char *basic_client_id;
static char *basic_username;
static char *basic_password;
static int certificate_logins;
static double rate_capacity;
static double rate_seconds;

/* One client id's bucket. */
struct bucket {
    char *client_id;
    double tokens;
    double at;
};
static struct bucket *buckets;
static size_t bucket_count;

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

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The bucket of `client_id`, made full when first seen; NULL if out of memory. */
static struct bucket *bucket_of(const char *client_id)
{
    for (size_t i = 0; i < bucket_count; i++) {
        if (strcmp(buckets[i].client_id, client_id) == 0) {
            return &buckets[i];
        }
    }
    struct bucket *grown = realloc(buckets, (bucket_count + 1) * sizeof *buckets);
    if (!grown) {
        return NULL;
    }
    buckets = grown;
    struct bucket *b = &buckets[bucket_count];
    b->client_id = strdup(client_id);
    if (!b->client_id) {
        return NULL;
    }
    b->tokens = rate_capacity;
    b->at = now_seconds();
    bucket_count++;
    return b;
}

/* A client's PUBLISH (write access) costs a token; with none left the session is closed. Other
 * checks (reading, subscribing) are allowed: this plugin is the broker's only ACL. */
static int on_acl_check(int event, void *event_data, void *userdata)
{
    const struct mosquitto_evt_acl_check *check = event_data;
    (void)event;
    (void)userdata;
    if (check->access != MOSQ_ACL_WRITE) {
        return MOSQ_ERR_SUCCESS;
    }
    const char *client_id = mosquitto_client_id(check->client);
    struct bucket *b = client_id ? bucket_of(client_id) : NULL;
    if (!b) {
        return MOSQ_ERR_SUCCESS;
    }
    double now = now_seconds();
    b->tokens += (now - b->at) * rate_capacity / rate_seconds;
    if (b->tokens > rate_capacity) {
        b->tokens = rate_capacity;
    }
    b->at = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return MOSQ_ERR_SUCCESS;
    }
    mosquitto_log_printf(MOSQ_LOG_WARNING, "rate_limit: kicked %s over %g:%g", client_id,
                         rate_capacity, rate_seconds);
    mosquitto_kick_client_by_clientid(client_id, false);
    return MOSQ_ERR_ACL_DENIED;
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
        } else if (strcmp(opts[i].key, "rate_limit") == 0) {
            char end;
            if (sscanf(opts[i].value, "%lf:%lf%c", &rate_capacity, &rate_seconds, &end) != 2
                || rate_capacity < 1.0 || rate_seconds <= 0.0) {
                mosquitto_log_printf(MOSQ_LOG_ERR, "token_auth: plugin_opt_rate_limit is capacity:seconds");
                return MOSQ_ERR_INVAL;
            }
        }
    }
    if (!token) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "token_auth: plugin_opt_token is required");
        return MOSQ_ERR_INVAL;
    }
    int rc = mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
    if (rc == MOSQ_ERR_SUCCESS && rate_capacity > 0.0) {
        rc = mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL);
    }
    return rc;
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
    if (rate_capacity > 0.0) {
        mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
        for (size_t i = 0; i < bucket_count; i++) {
            free(buckets[i].client_id);
        }
        free(buckets);
        buckets = NULL;
        bucket_count = 0;
        rate_capacity = 0.0;
    }
    return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
}
