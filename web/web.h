/* web.h: fieldbrain-web, a brain's telemetry served to browsers and to
 * Foxglove. One call runs the server until *stop is set: a ZeroMQ SUB on the
 * brain's telemetry in; out, on one HTTP port, the bundled page and a
 * WebSocket endpoint that speaks the Foxglove WebSocket protocol
 * (foxglove.websocket.v1). web/README.md lists the channels.
 */
#ifndef FIELDBRAIN_WEB_H
#define FIELDBRAIN_WEB_H

#include <signal.h>
#include <stddef.h>

#define WEB_DEFAULT_ENDPOINT "tcp://127.0.0.1:5557"
#define WEB_DEFAULT_BIND "127.0.0.1"
#define WEB_DEFAULT_PORT 8765

typedef struct {
    const char *endpoint;      /* the brain's telemetry.endpoint */
    const char *bind;          /* the interface the HTTP port listens on */
    int port;                  /* 0: any free port (printed at start) */
    double max_hz;             /* stats, motors, links: at most this often per channel */
    double slice_hz;           /* slices: at most this often */
    double timeout_s;          /* silence after which the brain counts as unreachable */
    /* CURVE, when telemetry is under CURVE (telemetry/README.md,
     * "Encryption"): a key file as fieldbrain-monitor --keys reads, or the
     * three Z85 keys (40 characters each); all three or none. */
    const char *keys_file;
    const char *server_key, *public_key, *secret_key;
} web_config;

typedef enum {
    WEB_OK = 0,
    WEB_ERR_CONFIG = -1,   /* a value out of range, a bad key */
    WEB_ERR_ZMQ = -2,      /* the SUB socket could not be made or connected */
    WEB_ERR_LISTEN = -3,   /* the HTTP port could not be opened */
    WEB_ERR_NOMEM = -4,
} web_error;

const char *web_strerror(int code);

/* Fills cfg with the defaults (endpoint, bind, port, 20 Hz, 2 Hz, 2 s). */
void web_config_default(web_config *cfg);

/* Serves until *stop becomes nonzero (a signal handler sets it). Prints one
 * line on stdout once listening: "fieldbrain-web: http://BIND:PORT/ ...".
 * Returns 0, or a negative web_error with a sentence in err. */
int web_run(const web_config *cfg, volatile sig_atomic_t *stop, char *err, size_t err_len);

#endif
