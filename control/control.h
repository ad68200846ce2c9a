/* control.h: the control socket of a running brain, the door to control/.
 *
 * A ZeroMQ ROUTER on its own thread answers small JSON requests (status,
 * get, set, save, pause, resume, reset; io/CONTROL.md is the protocol). The
 * thread parses and validates a request against the running config with
 * config/'s own checks, hands the change to the loop (loop_command_submit),
 * which applies it at the start of a cycle, and replies with the cycle it
 * applies from. A save is taken by the loop and written here, and replied to
 * once it is on disk. A request may name one robot of the fleet by its id;
 * without one it is for every robot (io/CONTROL.md, "A fleet"). With the
 * link's CURVE keys set the socket is a CURVE
 * server with the same keys, and with the link's allow-list, the same
 * clients: a stranger gets nothing back.
 */
#ifndef FIELDBRAIN_CONTROL_H
#define FIELDBRAIN_CONTROL_H

#include <stddef.h>

#include "brain.h"
#include "config.h"
#include "loop.h"
#include "telemetry.h"

typedef enum {
    CONTROL_OK = 0,
    CONTROL_ERR_PARAM = -1,   /* a bad setting (endpoint, keys, allow-list) */
    CONTROL_ERR_NOMEM = -2,
    CONTROL_ERR_SOCKET = -3,  /* ZeroMQ refused (bind) */
    CONTROL_ERR_THREAD = -4,
} control_err;

/* The protocol version a request's "v" must be and every reply carries. */
#define CONTROL_VERSION 1

typedef struct control control;

/* Binds c->control.endpoint and starts the thread. c is copied: it is the
 * running config that get reads and set changes (c->brain as robot 0's
 * brain was created, e.g. after --resume; config_fleet(c) names the robots
 * and their checkpoints). Each robot's brain values (its seed, and its own
 * after --resume-fleet) are read from its brain here, before the loop runs.
 * f (the loop's fleet), lp and tel are borrowed and must outlive it; tel
 * is the publisher fed from lp's hooks, whose rates set
 * changes (through the loop, telemetry_set_rates), or NULL when telemetry
 * is off (then set refuses the telemetry keys). A socket off loopback
 * without CURVE is config_warnings' to say. */
int control_create(const config *c, brain_fleet *f, loop *lp, telemetry *tel, control **out,
                   char *err, size_t err_len);

/* Stops the thread, closes the socket; sets *c to NULL; NULL harmless. */
void control_destroy(control **c);

/* The endpoint bound (a wildcard port resolved). */
const char *control_endpoint(const control *c);

/* One request (JSON text) to its reply (JSON text, NUL-terminated, at most
 * reply_cap bytes), as the socket thread answers it. For the socket thread
 * and tests; not thread-safe against the socket thread itself. */
void control_handle(control *c, const char *request, size_t len, char *reply, size_t reply_cap);

#endif
