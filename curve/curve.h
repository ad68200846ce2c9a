/* curve.h: the door to curve/, ZeroMQ's CURVE encryption as fieldbrain uses
 * it on every socket it binds (the link's, telemetry's) and in the programs
 * that connect to them (fieldbrain-monitor, fieldbrain-record):
 *   - a bound socket becomes a CURVE server with the brain's secret key;
 *   - an allow-list of client public keys, read from a file, is enforced by
 *     a ZAP handler (RFC 27) on its own thread, one per ZeroMQ context;
 *   - a connecting socket becomes a CURVE client from a small key file.
 * Functions that can fail return 0 or a negative curve_err and write one
 * sentence for people (fail.h); nothing here prints.
 */
#ifndef FIELDBRAIN_CURVE_H
#define FIELDBRAIN_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CURVE_OK = 0,
    CURVE_ERR_PARAM = -1,    /* not a Z85 key, a file without keys, too many */
    CURVE_ERR_IO = -2,       /* a key file could not be opened or read */
    CURVE_ERR_ZMQ = -3,      /* a socket option or the ZAP socket failed */
    CURVE_ERR_NOMEM = -4,
    CURVE_ERR_THREAD = -5,   /* the ZAP thread could not start */
} curve_err;

const char *curve_strerror(int err);

#define CURVE_Z85_CHARS 40        /* a 32-byte key in Z85 */
#define CURVE_MAX_CLIENT_KEYS 256

/* An allow-list: the public keys of the clients that may connect. */
typedef struct {
    uint8_t key[CURVE_MAX_CLIENT_KEYS][32];
    size_t n;
} curve_keys;

/* Reads an allow-list file: one Z85 public key a line, leading blanks
 * skipped, anything after the key's first blank ignored (a note), blank
 * lines and lines that start with '#' skipped ('#' is also a Z85 digit, so
 * only a line that starts with it is a comment), LF or CRLF line ends. At
 * least one key, at most CURVE_MAX_CLIENT_KEYS. `what` names the setting in
 * messages ("link.curve_client_keys"): "PATH:LINE: what: not a Z85 ...". */
int curve_keys_read(const char *path, const char *what, curve_keys *out, char *err,
                    size_t err_len);

/* The ZAP handler of one ZeroMQ context: it binds inproc://zeromq.zap.01 in
 * ctx and answers every handshake of every socket in ctx that has a ZAP
 * domain (a CURVE server always has one), admitting a CURVE client only if
 * its public key is in `allowed` (copied; NULL: any key) and a client
 * without CURVE (of a socket that is no CURVE server) always, except that a
 * peer the refusal refuses is turned away first. Start it before any socket
 * of ctx binds; stop it after they are closed and before zmq_ctx_term. A
 * context has at most one. */
typedef struct curve_zap curve_zap;

/* Asked, on the ZAP thread, about each handshake of a socket whose ZAP
 * domain is `domain`: true refuses the peer at `address` (its IP address,
 * as ZeroMQ gives it). */
typedef struct {
    const char *domain;
    bool (*refuse)(const char *address, void *user);
    void *user;
} curve_zap_refusal;

/* `what` names the user in messages ("link: cannot start the ZAP handler");
 * refusal may be NULL (copied; its user must outlive the handler). */
int curve_zap_start(void *ctx, const curve_keys *allowed, const curve_zap_refusal *refusal,
                    const char *what, curve_zap **out, char *err, size_t err_len);
/* curve_zap_start with the allow-list read from keys_path by
 * curve_keys_read (`keys_what` names the setting in its messages), or
 * with any key when keys_path is NULL or "". */
int curve_zap_start_file(void *ctx, const char *keys_path, const char *keys_what,
                         const curve_zap_refusal *refusal, const char *what, curve_zap **out,
                         char *err, size_t err_len);
/* Stops the thread and closes its socket; sets *z to NULL; NULL harmless. */
void curve_zap_stop(curve_zap **z);

/* Makes sock (not yet bound) a CURVE server with secret_z85 (40 Z85
 * characters) in the ZAP domain "fieldbrain". `what` names the setting in
 * messages ("telemetry.curve_secret_key"); the key itself never appears. */
int curve_server_setup(void *sock, const char *secret_z85, const char *what, char *err,
                       size_t err_len);

/* Whether public_z85 is the public key of secret_z85 (both 40 Z85
 * characters): 0, or CURVE_ERR_PARAM with "what_public: is not the public
 * key of what_secret" (no key in the sentence). A server that publishes
 * another public key than its secret's can never be reached. */
int curve_pair_check(const char *secret_z85, const char *public_z85, const char *what_secret,
                     const char *what_public, char *err, size_t err_len);

/* A connecting program's keys: the brain's public key and its own pair, each
 * 40 Z85 characters and terminated. */
typedef struct {
    char server_key[CURVE_Z85_CHARS + 1];
    char public_key[CURVE_Z85_CHARS + 1];
    char secret_key[CURVE_Z85_CHARS + 1];
} curve_client;

/* Reads a client key file: three lines "server-key Z85", "public-key Z85",
 * "secret-key Z85" in any order, with the blank lines, '#' comments and line
 * ends of curve_keys_read. Checks that public-key belongs to secret-key. */
int curve_client_read(const char *path, curve_client *out, char *err, size_t err_len);

/* Makes sock (not yet connected) a CURVE client with c's keys. */
int curve_client_setup(void *sock, const curve_client *c, char *err, size_t err_len);

#endif
