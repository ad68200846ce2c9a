/* io_options.h: the settings the link and the loop take, as plain values
 * (no ZeroMQ, no brain): link_create reads a link_options, loop_create a
 * loop_options and a loop_checkpoint_options. Whoever composes a program
 * fills them; config/ reads them from the YAML file's link, loop and
 * checkpoint sections, which is why they live in a header of their own.
 */
#ifndef FIELDBRAIN_IO_OPTIONS_H
#define FIELDBRAIN_IO_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define IO_STR 256   /* endpoints, key strings, paths */

/* Whether an endpoint stays on this machine: 127.0.0.0/8, localhost, ::1,
 * or a transport that never leaves it (ipc, inproc). Plain text, here so
 * that config/ warns about the same endpoints the link binds. */
static inline bool io_endpoint_is_local(const char *ep)
{
    if (strncmp(ep, "tcp://", 6) != 0)
        return strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0;
    const char *host = ep + 6;
    return strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost:", 10) == 0 ||
           strncmp(host, "[::1]:", 6) == 0;
}

typedef struct {
    char sensor_endpoint[IO_STR];   /* brain binds PULL; robots connect and send */
    char motor_endpoint[IO_STR];    /* brain binds PUB; robots subscribe */
    uint32_t timeout_ms;            /* link lost after this long without valid sensors */
    uint32_t max_message_bytes;     /* ZMQ_MAXMSGSIZE on the sensor socket */
    uint32_t robot_id;              /* the robot this brain drives */
    float sensor_limit;             /* a sensor value beyond +-this is bad input ("range") */
    char curve_secret_key[IO_STR];  /* Z85, 40 chars; "" = no CURVE */
    char curve_public_key[IO_STR];  /* Z85, the brain's own public key */
    char curve_client_keys[IO_STR]; /* file of allowed client public keys (Z85, one a line); "" = any */
} link_options;

typedef enum { LOOP_FIXED_RATE = 0, LOOP_LOCKSTEP = 1 } loop_mode;

typedef struct {
    loop_mode mode;          /* fixed_rate: a cycle every 1/rate_hz; lockstep: one per sensor message */
    double rate_hz;          /* fixed_rate: cycles per second */
    bool realtime;           /* SCHED_FIFO + mlockall */
    int cpu;                 /* pin to this CPU; -1: do not pin */
    uint32_t stats_window;   /* cycles in a timing window */
} loop_options;

typedef struct {
    char path[IO_STR];       /* "" = no checkpoints */
    double every_s;          /* autosave period; 0 = off */
    bool on_exit;            /* write one at shutdown */
} loop_checkpoint_options;

#endif
