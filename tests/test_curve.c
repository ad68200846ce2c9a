/* test_curve.c: curve/ (curve.h): the allow-list file as link.c has always
 * read it (blank lines, CRLF, '#' comments, a note after the key), the
 * client key file of the subscriber programs, and a CURVE server with the
 * ZAP handler: an allowed client gets through, a stranger and a client
 * without CURVE do not; the handler's refusal hook, asked for its domain
 * only. */
#include "curve.h"
#include "harness.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <zmq.h>

typedef struct {
    char pub[41], sec[41];
} pair;

static pair make_pair(void)
{
    pair p;
    zmq_curve_keypair(p.pub, p.sec);
    return p;
}

/* Writes text to a fresh file; returns its path in buf. */
static const char *write_file(char *buf, size_t len, const char *text)
{
    snprintf(buf, len, "/tmp/fb-test-curve-XXXXXX");
    int fd = mkstemp(buf);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return buf;
}

TEST(keys_file_takes_blank_lines_crlf_comments_and_notes)
{
    pair a = make_pair(), b = make_pair();
    char text[512], path[64], err[256];
    snprintf(text, sizeof text, "# robots\r\n\r\n   %s\r\n\t%s  the laptop\n   \n", a.pub, b.pub);
    CHECK(write_file(path, sizeof path, text));
    curve_keys k;
    int rc = curve_keys_read(path, "link.curve_client_keys", &k, err, sizeof err);
    unlink(path);
    CHECK_MSG(rc == CURVE_OK, "%s", err);
    CHECK_EQ_INT(k.n, 2);
    uint8_t want[32];
    zmq_z85_decode(want, b.pub);
    CHECK(memcmp(k.key[1], want, 32) == 0);
}

TEST(keys_file_errors_name_the_file_line_and_setting)
{
    pair a = make_pair();
    char text[512], path[64], err[256], want[256];
    curve_keys k;
    snprintf(text, sizeof text, "%s\n%.39s\n", a.pub, a.pub);
    CHECK(write_file(path, sizeof path, text));
    CHECK_EQ_INT(curve_keys_read(path, "telemetry.curve_client_keys", &k, err, sizeof err),
                 CURVE_ERR_PARAM);
    snprintf(want, sizeof want, "%s:2: telemetry.curve_client_keys: not a Z85 public key "
             "(40 characters, at most 256 keys)", path);
    unlink(path);
    CHECK_MSG(strcmp(err, want) == 0, "%s", err);

    CHECK(write_file(path, sizeof path, "# only a comment\n\n"));
    CHECK_EQ_INT(curve_keys_read(path, "link.curve_client_keys", &k, err, sizeof err),
                 CURVE_ERR_PARAM);
    unlink(path);
    CHECK_MSG(strstr(err, "holds no key") != NULL, "%s", err);

    CHECK_EQ_INT(curve_keys_read("/nonexistent/keys", "link.curve_client_keys", &k, err, sizeof err),
                 CURVE_ERR_IO);
    CHECK_MSG(strncmp(err, "link.curve_client_keys: cannot open /nonexistent/keys", 53) == 0, "%s", err);
}

TEST(client_file_needs_three_keys_that_fit)
{
    pair server = make_pair(), me = make_pair(), other = make_pair();
    char text[512], path[64], err[256];
    curve_client c;
    snprintf(text, sizeof text, "# monitor\r\nsecret-key %s\r\n\r\nserver-key  %s\r\npublic-key\t%s\r\n",
             me.sec, server.pub, me.pub);
    CHECK(write_file(path, sizeof path, text));
    int rc = curve_client_read(path, &c, err, sizeof err);
    unlink(path);
    CHECK_MSG(rc == CURVE_OK, "%s", err);
    CHECK(strcmp(c.server_key, server.pub) == 0 && strcmp(c.public_key, me.pub) == 0 &&
          strcmp(c.secret_key, me.sec) == 0);

    /* A public key that is not the secret key's: refused, nothing kept. */
    snprintf(text, sizeof text, "server-key %s\npublic-key %s\nsecret-key %s\n", server.pub,
             other.pub, me.sec);
    CHECK(write_file(path, sizeof path, text));
    CHECK_EQ_INT(curve_client_read(path, &c, err, sizeof err), CURVE_ERR_PARAM);
    unlink(path);
    CHECK_MSG(strstr(err, "public-key is not the public key of secret-key"), "%s", err);
    CHECK(c.secret_key[0] == '\0');

    snprintf(text, sizeof text, "server-key %s\npublic-key %s\n", server.pub, me.pub);
    CHECK(write_file(path, sizeof path, text));
    CHECK_EQ_INT(curve_client_read(path, &c, err, sizeof err), CURVE_ERR_PARAM);
    unlink(path);
    CHECK_MSG(strstr(err, "no secret-key line"), "%s", err);

    snprintf(text, sizeof text, "server %s\n", server.pub);
    CHECK(write_file(path, sizeof path, text));
    CHECK_EQ_INT(curve_client_read(path, &c, err, sizeof err), CURVE_ERR_PARAM);
    unlink(path);
    CHECK_MSG(strstr(err, ":1: 'server' is not a key name"), "%s", err);
}

/* A PUSH client with keys (or without, when c is NULL) sends one message to
 * srv's endpoint; true when srv receives it within timeout_ms. */
static bool gets_through(void *ctx, void *srv, const char *ep, const curve_client *c, int timeout_ms)
{
    void *s = zmq_socket(ctx, ZMQ_PUSH);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    char err[256];
    if (c && curve_client_setup(s, c, err, sizeof err) != CURVE_OK) {
        zmq_close(s);
        return false;
    }
    zmq_connect(s, ep);
    zmq_send(s, "hello", 5, ZMQ_DONTWAIT);  /* queued until a handshake succeeds */
    zmq_pollitem_t it = {.socket = srv, .events = ZMQ_POLLIN};
    bool got = zmq_poll(&it, 1, timeout_ms) == 1;
    char buf[8];
    if (got)
        zmq_recv(srv, buf, sizeof buf, 0);
    zmq_close(s);
    return got;
}

TEST(server_lets_in_only_allowed_keys)
{
    pair server = make_pair(), good = make_pair(), evil = make_pair();
    curve_keys allowed = {.n = 1};
    zmq_z85_decode(allowed.key[0], good.pub);
    char err[256];
    void *ctx = zmq_ctx_new();
    curve_zap *zap = NULL;
    CHECK_EQ_INT(curve_zap_start(ctx, &allowed, NULL, "test", &zap, err, sizeof err), CURVE_OK);
    void *srv = zmq_socket(ctx, ZMQ_PULL);
    int zero = 0;
    zmq_setsockopt(srv, ZMQ_LINGER, &zero, sizeof zero);
    CHECK_EQ_INT(curve_server_setup(srv, server.sec, "test.curve_secret_key", err, sizeof err), CURVE_OK);
    CHECK(zmq_bind(srv, "tcp://127.0.0.1:*") == 0);
    char ep[128];
    size_t len = sizeof ep;
    zmq_getsockopt(srv, ZMQ_LAST_ENDPOINT, ep, &len);

    curve_client c_good = {0}, c_evil = {0};
    memcpy(c_good.server_key, server.pub, 41);
    memcpy(c_good.public_key, good.pub, 41);
    memcpy(c_good.secret_key, good.sec, 41);
    c_evil = c_good;
    memcpy(c_evil.public_key, evil.pub, 41);
    memcpy(c_evil.secret_key, evil.sec, 41);
    bool evil_in = gets_through(ctx, srv, ep, &c_evil, 500);
    bool plain_in = gets_through(ctx, srv, ep, NULL, 500);
    bool good_in = gets_through(ctx, srv, ep, &c_good, 5000);
    zmq_close(srv);
    curve_zap_stop(&zap);
    CHECK(zap == NULL);
    curve_zap_stop(&zap);  /* harmless twice */
    zmq_ctx_term(ctx);
    CHECK(good_in);
    CHECK(!evil_in);
    CHECK(!plain_in);
}

/* The refusal: asked with the peer's address, only for sockets of its
 * domain; it counts what it is asked. */
typedef struct {
    int asked;
    char last[64];
    bool refuse;
} refusal_state;

static bool refuse_hook(const char *address, void *user)
{
    refusal_state *r = user;
    r->asked++;
    snprintf(r->last, sizeof r->last, "%s", address);
    return r->refuse;
}

static void *bound_pull(void *ctx, const char *domain, const pair *curve, char *ep, size_t len)
{
    void *srv = zmq_socket(ctx, ZMQ_PULL);
    int zero = 0;
    zmq_setsockopt(srv, ZMQ_LINGER, &zero, sizeof zero);
    char err[256];
    if (curve && curve_server_setup(srv, curve->sec, "test.curve_secret_key", err, sizeof err) != CURVE_OK)
        return srv;
    if (domain)
        zmq_setsockopt(srv, ZMQ_ZAP_DOMAIN, domain, strlen(domain));
    zmq_bind(srv, "tcp://127.0.0.1:*");
    zmq_getsockopt(srv, ZMQ_LAST_ENDPOINT, ep, &len);
    return srv;
}

TEST(refusal_turns_away_peers_of_its_domain_only_and_no_list_takes_any_key)
{
    pair server = make_pair(), anyone = make_pair();
    refusal_state r = {.refuse = true};
    const curve_zap_refusal refusal = {"test.guarded", refuse_hook, &r};
    char err[256];
    void *ctx = zmq_ctx_new();
    curve_zap *zap = NULL;
    CHECK_EQ_INT(curve_zap_start(ctx, NULL, &refusal, "test", &zap, err, sizeof err), CURVE_OK);
    char guarded_ep[128], other_ep[128], curve_ep[128];
    void *guarded = bound_pull(ctx, "test.guarded", NULL, guarded_ep, sizeof guarded_ep);
    void *other = bound_pull(ctx, "test.other", NULL, other_ep, sizeof other_ep);
    void *curve = bound_pull(ctx, NULL, &server, curve_ep, sizeof curve_ep);
    curve_client c = {0};
    memcpy(c.server_key, server.pub, 41);
    memcpy(c.public_key, anyone.pub, 41);
    memcpy(c.secret_key, anyone.sec, 41);
    bool refused_in = gets_through(ctx, guarded, guarded_ep, NULL, 500);
    int asked_refusing = r.asked;
    r.refuse = false;
    bool allowed_in = gets_through(ctx, guarded, guarded_ep, NULL, 5000);
    bool other_in = gets_through(ctx, other, other_ep, NULL, 5000);
    bool curve_in = gets_through(ctx, curve, curve_ep, &c, 5000);
    int asked = r.asked;
    zmq_close(guarded);
    zmq_close(other);
    zmq_close(curve);
    curve_zap_stop(&zap);
    zmq_ctx_term(ctx);
    CHECK(!refused_in);
    CHECK(asked_refusing >= 1);
    CHECK_MSG(strcmp(r.last, "127.0.0.1") == 0, "asked about '%s'", r.last);
    CHECK(allowed_in);
    /* Without a list a client without CURVE (of a socket that is no CURVE
     * server) and any CURVE key get through; only the guarded domain asks. */
    CHECK(other_in);
    CHECK(curve_in);
    CHECK_EQ_INT(asked, asked_refusing + 1);
}

TEST(server_refuses_a_key_that_is_not_z85)
{
    void *ctx = zmq_ctx_new();
    void *srv = zmq_socket(ctx, ZMQ_PULL);
    char err[256];
    int rc = curve_server_setup(srv, "short", "telemetry.curve_secret_key", err, sizeof err);
    zmq_close(srv);
    zmq_ctx_term(ctx);
    CHECK_EQ_INT(rc, CURVE_ERR_PARAM);
    CHECK_MSG(strcmp(err, "telemetry.curve_secret_key: not a Z85 key of 40 characters") == 0, "%s", err);
}
