/* curve.c: CURVE servers, clients and the ZAP allow-list handler (curve.h).
 * The handler runs on its own thread and is asked only at handshakes, so a
 * loop that sends on a CURVE socket never waits for it.
 */
#include "curve.h"
#include "fail.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN "fieldbrain"

struct curve_zap {
    void *sock;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    bool any_key;            /* no allow-list: every CURVE key */
    curve_keys allowed;
    bool has_refusal;
    char refusal_domain[64];
    curve_zap_refusal refusal;
};

const char *curve_strerror(int err)
{
    switch (err) {
    case CURVE_OK: return "no error";
    case CURVE_ERR_PARAM: return "bad CURVE key";
    case CURVE_ERR_IO: return "could not read a key file";
    case CURVE_ERR_ZMQ: return "ZeroMQ call failed";
    case CURVE_ERR_NOMEM: return "out of memory";
    case CURVE_ERR_THREAD: return "could not start the ZAP thread";
    default: return "unknown CURVE error";
    }
}

/* The next line of f that is not blank or a comment, cut into its first two
 * blank-separated words (second may be ""). NULL at the end of the file. */
static char *next_words(FILE *f, char *line, size_t len, int *lineno, char **second)
{
    while (fgets(line, (int)len, f)) {
        (*lineno)++;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        /* '#' is a Z85 digit: only a line that starts with it is a comment. */
        char *e = s + strcspn(s, " \t\r\n");
        if (e == s || *s == '#')
            continue;
        char *t = e;
        if (*t != '\0')
            t++;
        *e = '\0';
        t += strspn(t, " \t");
        t[strcspn(t, " \t\r\n")] = '\0';
        *second = t;
        return s;
    }
    return NULL;
}

static bool z85_key(const char *s, uint8_t key[32])
{
    return strlen(s) == CURVE_Z85_CHARS && zmq_z85_decode(key, s) != NULL;
}

int curve_keys_read(const char *path, const char *what, curve_keys *out, char *err,
                    size_t err_len)
{
    out->n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return fb_fail(err, err_len, CURVE_ERR_IO, "%s: cannot open %s: %s", what, path,
                       strerror(errno));
    char line[512], *rest;
    int lineno = 0, rc = CURVE_OK;
    for (char *s; (s = next_words(f, line, sizeof line, &lineno, &rest));) {
        if (out->n == CURVE_MAX_CLIENT_KEYS || !z85_key(s, out->key[out->n])) {
            rc = fb_fail(err, err_len, CURVE_ERR_PARAM,
                         "%s:%d: %s: not a Z85 public key (40 characters, at most %d keys)",
                         path, lineno, what, CURVE_MAX_CLIENT_KEYS);
            break;
        }
        out->n++;
    }
    if (rc == CURVE_OK && ferror(f))
        rc = fb_fail(err, err_len, CURVE_ERR_IO, "%s: cannot read %s", what, path);
    fclose(f);
    if (rc == CURVE_OK && out->n == 0)
        rc = fb_fail(err, err_len, CURVE_ERR_PARAM, "%s: %s holds no key", what, path);
    return rc;
}

/* ZAP (RFC 27): ZeroMQ asks this handler about every handshake of every
 * socket in the context that has a ZAP domain; it answers 400 for a peer
 * the refusal refuses, 200 for a CURVE client on the list (any, without a
 * list) or a client without CURVE, and 400 for anyone else. */
static void *zap_main(void *arg)
{
    curve_zap *z = arg;
    while (!atomic_load(&z->stop)) {
        zmq_pollitem_t it = {.socket = z->sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, 100) <= 0)
            continue;
        char version[16] = "", request_id[256] = "", mechanism[32] = "", domain[64] = "";
        char address[128] = "";
        uint8_t key[64];
        int key_len = -1, part = 0, rid_len = 0;
        int more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, z->sock, 0) < 0) {
                zmq_msg_close(&m);
                break;
            }
            size_t n = zmq_msg_size(&m);
            const void *d = zmq_msg_data(&m);
            if (part == 0 && n < sizeof version)
                memcpy(version, d, n);
            else if (part == 1 && n <= sizeof request_id)
                memcpy(request_id, d, rid_len = (int)n);
            else if (part == 2 && n < sizeof domain)
                memcpy(domain, d, n);
            else if (part == 3 && n < sizeof address)
                memcpy(address, d, n);
            else if (part == 5 && n < sizeof mechanism)
                memcpy(mechanism, d, n);
            else if (part == 6 && n <= sizeof key)
                memcpy(key, d, key_len = (int)n);
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
            part++;
        }
        bool ok = false;
        const char *why = "client key not allowed";
        if (z->has_refusal && strcmp(domain, z->refusal_domain) == 0 &&
            z->refusal.refuse(address, z->refusal.user))
            why = "refused for a while";
        else if (strcmp(mechanism, "NULL") == 0)
            ok = true;
        else if (strcmp(mechanism, "CURVE") == 0 && key_len == 32) {
            ok = z->any_key;
            for (size_t i = 0; i < z->allowed.n && !ok; i++)
                ok = memcmp(z->allowed.key[i], key, 32) == 0;
        }
        if (ok)
            why = "OK";
        zmq_send(z->sock, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(z->sock, request_id, (size_t)rid_len, ZMQ_SNDMORE);
        zmq_send(z->sock, ok ? "200" : "400", 3, ZMQ_SNDMORE);
        zmq_send(z->sock, why, strlen(why), ZMQ_SNDMORE);
        zmq_send(z->sock, "", 0, ZMQ_SNDMORE);
        zmq_send(z->sock, "", 0, 0);
    }
    return NULL;
}

int curve_zap_start(void *ctx, const curve_keys *allowed, const curve_zap_refusal *refusal,
                    const char *what, curve_zap **out, char *err, size_t err_len)
{
    *out = NULL;
    curve_zap *z = calloc(1, sizeof *z);
    if (!z)
        return fb_fail(err, err_len, CURVE_ERR_NOMEM, "%s: out of memory", what);
    if (allowed)
        z->allowed = *allowed;
    else
        z->any_key = true;
    if (refusal && refusal->domain && refusal->refuse) {
        z->has_refusal = true;
        snprintf(z->refusal_domain, sizeof z->refusal_domain, "%s", refusal->domain);
        z->refusal = *refusal;
        z->refusal.domain = z->refusal_domain;
    }
    atomic_init(&z->stop, false);
    int rc;
    int zero = 0;
    z->sock = zmq_socket(ctx, ZMQ_REP);
    if (!z->sock || zmq_setsockopt(z->sock, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_bind(z->sock, ZAP_ENDPOINT)) {
        rc = fb_fail(err, err_len, CURVE_ERR_ZMQ, "%s: cannot start the ZAP handler: %s",
                     what, zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (pthread_create(&z->thread, NULL, zap_main, z) != 0) {
        rc = fb_fail(err, err_len, CURVE_ERR_THREAD, "%s: cannot start the ZAP thread", what);
        goto fail;
    }
    z->running = true;
    *out = z;
    return CURVE_OK;
fail:
    curve_zap_stop(&z);
    return rc;
}

int curve_zap_start_file(void *ctx, const char *keys_path, const char *keys_what,
                         const curve_zap_refusal *refusal, const char *what, curve_zap **out,
                         char *err, size_t err_len)
{
    *out = NULL;
    if (!keys_path || !keys_path[0])
        return curve_zap_start(ctx, NULL, refusal, what, out, err, err_len);
    curve_keys *allowed = malloc(sizeof *allowed);  /* 8 KiB: not on the stack */
    if (!allowed)
        return fb_fail(err, err_len, CURVE_ERR_NOMEM, "%s: out of memory", what);
    int rc = curve_keys_read(keys_path, keys_what, allowed, err, err_len);
    if (rc == CURVE_OK)
        rc = curve_zap_start(ctx, allowed, refusal, what, out, err, err_len);
    free(allowed);
    return rc;
}

void curve_zap_stop(curve_zap **zp)
{
    curve_zap *z = zp ? *zp : NULL;
    if (!z)
        return;
    if (z->running) {
        atomic_store(&z->stop, true);
        pthread_join(z->thread, NULL);
    }
    if (z->sock)
        zmq_close(z->sock);
    free(z);
    *zp = NULL;
}

int curve_server_setup(void *sock, const char *secret_z85, const char *what, char *err,
                       size_t err_len)
{
    uint8_t key[32];
    if (!z85_key(secret_z85, key))
        return fb_fail(err, err_len, CURVE_ERR_PARAM, "%s: not a Z85 key of 40 characters", what);
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret_z85, CURVE_Z85_CHARS) ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen(ZAP_DOMAIN)))
        return fb_fail(err, err_len, CURVE_ERR_ZMQ, "%s: cannot make a CURVE server: %s", what,
                       zmq_strerror(zmq_errno()));
    return CURVE_OK;
}

int curve_client_read(const char *path, curve_client *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    static const char *const names[3] = {"server-key", "public-key", "secret-key"};
    char *slots[3] = {out->server_key, out->public_key, out->secret_key};
    FILE *f = fopen(path, "r");
    if (!f)
        return fb_fail(err, err_len, CURVE_ERR_IO, "--keys: cannot open %s: %s", path,
                       strerror(errno));
    char line[512], *value;
    int lineno = 0, rc = CURVE_OK;
    for (char *name; rc == CURVE_OK && (name = next_words(f, line, sizeof line, &lineno, &value));) {
        int k = 0;
        while (k < 3 && strcmp(name, names[k]) != 0)
            k++;
        uint8_t key[32];
        if (k == 3)
            rc = fb_fail(err, err_len, CURVE_ERR_PARAM,
                         "%s:%d: '%s' is not a key name (allowed server-key, public-key, "
                         "secret-key)", path, lineno, name);
        else if (slots[k][0])
            rc = fb_fail(err, err_len, CURVE_ERR_PARAM, "%s:%d: %s given twice", path, lineno,
                         names[k]);
        else if (!z85_key(value, key))
            rc = fb_fail(err, err_len, CURVE_ERR_PARAM,
                         "%s:%d: %s: not a Z85 key (40 characters)", path, lineno, names[k]);
        else
            memcpy(slots[k], value, CURVE_Z85_CHARS + 1);
    }
    if (rc == CURVE_OK && ferror(f))
        rc = fb_fail(err, err_len, CURVE_ERR_IO, "--keys: cannot read %s", path);
    fclose(f);
    for (int k = 0; k < 3 && rc == CURVE_OK; k++)
        if (!slots[k][0])
            rc = fb_fail(err, err_len, CURVE_ERR_PARAM, "%s: no %s line (it needs server-key, "
                         "public-key and secret-key)", path, names[k]);
    char derived[CURVE_Z85_CHARS + 1];
    if (rc == CURVE_OK && (zmq_curve_public(derived, out->secret_key) != 0 ||
                           strcmp(derived, out->public_key) != 0))
        rc = fb_fail(err, err_len, CURVE_ERR_PARAM,
                     "%s: public-key is not the public key of secret-key", path);
    if (rc != CURVE_OK)
        memset(out, 0, sizeof *out);  /* no half-read secret left behind */
    return rc;
}

int curve_pair_check(const char *secret_z85, const char *public_z85, const char *what_secret,
                     const char *what_public, char *err, size_t err_len)
{
    char derived[CURVE_Z85_CHARS + 1];
    if (strlen(secret_z85) != CURVE_Z85_CHARS || zmq_curve_public(derived, secret_z85) != 0)
        return fb_fail(err, err_len, CURVE_ERR_PARAM, "%s: not a Z85 key (40 characters)", what_secret);
    if (strcmp(derived, public_z85) != 0)
        return fb_fail(err, err_len, CURVE_ERR_PARAM, "%s: is not the public key of %s", what_public,
                       what_secret);
    return CURVE_OK;
}

int curve_client_setup(void *sock, const curve_client *c, char *err, size_t err_len)
{
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, c->server_key, CURVE_Z85_CHARS) ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, c->public_key, CURVE_Z85_CHARS) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, c->secret_key, CURVE_Z85_CHARS))
        return fb_fail(err, err_len, CURVE_ERR_ZMQ, "cannot make a CURVE client: %s",
                       zmq_strerror(zmq_errno()));
    return CURVE_OK;
}
