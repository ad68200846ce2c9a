/* link.h: the brain's ZeroMQ link to its robots (io/PROTOCOL.md): a bound
 * PULL socket for sensors, drained without blocking, and a bound PUB socket
 * for motors with the robot id as topic; optional CURVE with a ZAP handler
 * for an allow-list of client keys. Bad frames are dropped and counted.
 *
 * One link serves a fleet: robots 0 .. n-1, each with its id, all on the
 * same two sockets; a sensor message goes to the robot its id names (an id
 * outside the fleet is bad input "robot").
 */
#ifndef FIELDBRAIN_LINK_H
#define FIELDBRAIN_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io_options.h"
#include "wire.h"

typedef enum {
    LINK_OK = 0,
    LINK_ERR_PARAM = -1,   /* a setting is unusable (key, endpoint) */
    LINK_ERR_ZMQ = -2,     /* a ZeroMQ call failed (bind, option) */
    LINK_ERR_NOMEM = -3,
    LINK_ERR_IO = -4,      /* the client key file could not be read */
} link_err;

const char *link_strerror(int err);

/* Bad sensor frames are counted by wire_bad_reason (wire.h), the one table
 * of reasons the link, the simulation and telemetry share. */

/* Counted for the fleet and for each robot: a bad message counts to the
 * robot whose id its header (readable, this protocol version) names; one
 * that names none of the fleet counts to the fleet only, except that with
 * one robot everything counts to it. */
typedef struct {
    uint64_t received;                /* valid sensor messages */
    uint64_t skipped;                 /* valid, but a newer one came before the tick used it */
    uint64_t bad[WIRE_BAD_REASONS];   /* dropped, by wire_bad_reason */
    uint64_t bad_total;
    uint64_t published;               /* motor messages sent */
    uint64_t publish_failed;          /* motor messages ZeroMQ refused */
    uint64_t peers_cut;               /* motor connections cut over their byte budget,
                                       * and handshakes refused for a while after
                                       * (the socket's, in every robot's too; guard.h) */
    uint64_t peers_refused;
} link_counters;

/* A robot's newest valid sensor message (link-owned values, valid until the
 * next link_recv). */
typedef struct {
    bool fresh;              /* a valid message came in this call */
    uint32_t robot_id;
    uint64_t seq;
    uint64_t time_ns;        /* the robot's clock, echoed in motors */
    int64_t recv_ns;         /* CLOCK_MONOTONIC when the brain took it */
    const float *values;     /* brain.sensors floats, finite, within +-link.sensor_limit */
    uint32_t count;
} link_sensor;

typedef struct robot_link robot_link;

/* Binds both sockets of o for a fleet of n_robots robots (robot_ids, each
 * its own; o->robot_id is not used) whose brains have `sensors` sensors and
 * `motors` motors. Prints nothing (a setting that works but is risky, a
 * non-loopback address without CURVE, is config_warnings' to say). */
int link_create(const link_options *o, const uint32_t *robot_ids, uint32_t n_robots,
                uint32_t sensors, uint32_t motors, robot_link **out, char *err, size_t err_len);
void link_destroy(robot_link **l);

/* Takes sensor messages without blocking into out[0 .. n_robots), one entry
 * per robot; out[i].fresh says whether robot i got a valid message.
 * newest = true drains the socket and keeps each robot's newest valid
 * message (its older ones count as skipped). newest = false (lockstep: one
 * cycle per message) gives each robot at most one message a call, in the
 * order sent: the call ends when every robot has one, when the socket is
 * empty, or at a second message for a robot that has one, which is kept
 * for the next call (link_holds_message). now_ns stamps recv_ns. Returns
 * the number of robots with a fresh message, or a negative link_err. */
int link_recv(robot_link *l, bool newest, int64_t now_ns, link_sensor *out);

/* Whether link_recv kept a message for its next call (so a lockstep loop
 * should not wait on the socket for it). */
bool link_holds_message(const robot_link *l);

/* Waits up to timeout_ms for the sensor socket to be readable: 1 readable,
 * 0 not (timeout or a signal), negative on error. */
int link_wait(robot_link *l, int timeout_ms);

/* Publishes one motor message (topic frame + message) to robot `robot`
 * (its place in the fleet) without blocking. */
int link_publish(robot_link *l, uint32_t robot, const float *motors, uint8_t flags, uint64_t seq,
                 uint64_t answer_seq, uint64_t answer_time_ns, int64_t now_ns);

/* The fleet's counters, and robot `robot`'s own. */
const link_counters *link_get_counters(const robot_link *l);
const link_counters *link_robot_counters(const robot_link *l, uint32_t robot);
uint32_t link_robot_count(const robot_link *l);
uint32_t link_robot_id(const robot_link *l, uint32_t robot);
/* The place of the robot with this id, -1 if it is not in the fleet. */
int link_robot_index(const robot_link *l, uint32_t robot_id);
/* link.timeout_ms: how long without a valid sensor message is a lost link. */
uint32_t link_timeout_ms(const robot_link *l);

#endif
