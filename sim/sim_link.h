/* sim_link.h: the simulated robot's side of the wire protocol
 * (io/PROTOCOL.md): a PUSH socket that sends sensor messages to the brain
 * and a SUB socket that receives the motor messages for this robot, with
 * every bad frame dropped and counted by reason, and the connection state
 * of both sockets watched so the sim knows when a brain is there.
 */
#ifndef FIELDBRAIN_SIM_LINK_H
#define FIELDBRAIN_SIM_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

typedef struct {
    uint64_t sent;          /* sensor messages handed to ZeroMQ */
    uint64_t unsent;        /* sensor messages dropped: no brain connected, or its queue full */
    uint64_t received;      /* valid motor messages */
    uint64_t bad;           /* motor frames dropped, all reasons */
    uint64_t bad_by_reason[WIRE_BAD_REASONS]; /* by wire_bad_reason (wire.h) */
    uint64_t connects;      /* a socket finished its handshake with a brain */
    uint64_t disconnects;   /* a socket lost its brain */
} sim_link_stats;

typedef struct sim_link sim_link;

/* What sim_link_wait reports. */
typedef enum {
    SIM_LINK_TIMEOUT = 0,   /* nothing valid before the deadline */
    SIM_LINK_MOTORS = 1,    /* a valid motor message is in *h and values */
    SIM_LINK_INTERRUPTED = 2, /* a signal arrived (the caller checks its flag) */
} sim_link_event;

/* Connects both sockets (ZeroMQ retries in the background until a brain
 * binds, and reconnects after it restarts). motors is the motor count a
 * motor message must carry; label goes after "fieldbrain-sim: " in the
 * link's log lines ("" for none, "robot 3: " in a fleet). On error writes
 * a sentence to err. */
int sim_link_new(const char *sensor_endpoint, const char *motor_endpoint, uint32_t robot_id,
                 uint32_t motors, const char *label, sim_link **out, char *err, size_t err_len);
void sim_link_destroy(sim_link **link);

/* Sends one sensor message without blocking; false (counted as unsent) when
 * no brain is connected or ZeroMQ's small queue is full. */
bool sim_link_send(sim_link *link, uint64_t seq, uint64_t time_ns, const float *values, uint32_t count);

/* Waits until deadline_ns (CLOCK_MONOTONIC) for a valid motor message;
 * bad frames are counted and skipped, connection events are tracked. */
sim_link_event sim_link_wait(sim_link *link, uint64_t deadline_ns, wire_header *h, float *values);

/* True while both sockets have a finished handshake with a brain. */
bool sim_link_up(const sim_link *link);

void sim_link_stats_get(const sim_link *link, sim_link_stats *stats);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t sim_now_ns(void);

#endif
