/* loop.h: the control loop. Each cycle takes the newest sensor vector from
 * the link, steps the brain once and publishes the motors; fixed_rate wakes at
 * absolute deadlines, lockstep runs one cycle per sensor message. Timing is
 * kept without allocation; disk and log output happen on a keeper thread.
 *
 * The loop drives a fleet: robot i of the link (its place, 0 .. n-1) is
 * brain i of the brain_fleet. Each tick steps the brains together with
 * brain_fleet_step: fixed_rate steps every robot's brain each tick with
 * its newest sensors; lockstep steps a robot's brain once per message of
 * that robot, so a robot that is slow to send never holds up another. Each
 * robot has its own link state, cycle count (the seq of its motor
 * messages), faults, pause, checkpoint and events: what it is sent is
 * exactly what a one-robot loop with its brain would send it.
 *
 * Telemetry and recorders attach through hooks, called on the loop's
 * thread, so they must not block, allocate much or take locks a slow thread
 * may hold (copy what you need into your own slot and return):
 *   - loop_cycle_hook after every cycle, with a loop_cycle_report;
 *   - loop_event_hook on events (start, link lost/restored, overrun and
 *     bad-input bursts at most once a second, checkpoint written/failed,
 *     brain faults at most once a second, shutdown, and the commands of
 *     loop_command_submit: param_changed, paused, resumed, reset). An
 *     event's cycle is the
 *     loop cycle whose motor message first shows it (0: before the first).
 *     Events are also printed to stderr by the keeper thread.
 */
#ifndef FIELDBRAIN_LOOP_H
#define FIELDBRAIN_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "brain.h"
#include "io_options.h"
#include "link.h"

typedef enum {
    LOOP_OK = 0,
    LOOP_ERR_PARAM = -1,
    LOOP_ERR_NOMEM = -2,
    LOOP_ERR_THREAD = -3,
    LOOP_ERR_BRAIN = -4,
    LOOP_ERR_LINK = -5,
    LOOP_ERR_BUSY = -6,     /* a command is still pending */
} loop_err;

const char *loop_strerror(int err);

/* log2 histogram of wake-up lateness: bin k counts lateness in
 * [2^k, 2^(k+1)) ns, bin 0 also counts 0 and negative. */
#define LOOP_HIST_BINS 40

/* min, p50, p99, max over the last completed window (loop.stats_window
 * cycles), in ns; all zero until the first window completes. */
typedef struct {
    int64_t min_ns, p50_ns, p99_ns, max_ns;
} loop_window;

typedef struct {
    uint64_t cycle;            /* loop cycle, = seq of the motor message */
    int64_t time_ns;           /* CLOCK_MONOTONIC when the motors went out */
    int64_t lateness_ns;       /* wake-up past the deadline (fixed_rate; lockstep: 0) */
    int64_t work_ns;           /* from wake-up to publish */
    double gpu_ms;             /* brain_stats.gpu_ms, -1 unknown */
    loop_window lateness, work;
    loop_window gpu;           /* device time; -1 throughout when the backend cannot time */
    const uint64_t *lateness_hist; /* LOOP_HIST_BINS counts since start */
    uint64_t overruns;         /* ticks whose work ran past the next deadline */
    uint64_t skipped_ticks;    /* ticks skipped after overruns */
    const float *motors;       /* as published */
    uint32_t n_motors;
    const float *sensors;      /* the vector the brain stepped with (zeros while lost) */
    uint32_t n_sensors;
    bool stepped;              /* the brain ran this cycle (lockstep link loss: no) */
    bool fault;                /* the cycle failed: motors zero, flagged fault, brain reset */
    uint64_t brain_faults;     /* failed cycles since start */
    brain_stats brain;         /* this cycle's; when not stepped: the brain's cycle, the last
                                  measured energy and saturated (NaN before any), activity -1 */
    int64_t sensor_age_ns;     /* now - receipt of the sensor vector used; -1 none */
    uint32_t robot_id;
    uint32_t robot;            /* its place in the fleet, 0 .. n_robots - 1 */
    uint32_t n_robots;
    bool link_lost;
    uint64_t answer_seq;
    link_counters link;        /* the robot's own: received, skipped, bad by reason, published */
} loop_cycle_report;

typedef enum {
    LOOP_EVENT_START = 0,
    LOOP_EVENT_SHUTDOWN,
    LOOP_EVENT_LINK_LOST,
    LOOP_EVENT_LINK_RESTORED,
    LOOP_EVENT_OVERRUN_BURST,     /* count = overruns since the last such event */
    LOOP_EVENT_BAD_INPUT_BURST,   /* reason = link_bad_reason, count since the last one */
    LOOP_EVENT_CHECKPOINT_WRITTEN,/* count = the brain cycle saved */
    LOOP_EVENT_CHECKPOINT_FAILED,
    LOOP_EVENT_BRAIN_FAULT,       /* reason = brain_err, count = failed cycles since the last one */
    LOOP_EVENT_PARAM_CHANGED,     /* key, old_value, new_value: a setting changed while running */
    LOOP_EVENT_PAUSED,            /* the brain stopped stepping (motors zero flagged stop) */
    LOOP_EVENT_RESUMED,
    LOOP_EVENT_RESET,             /* a fresh field from the seed; count = the brain cycle */
    LOOP_EVENT_PEERS_CUT,         /* motor connections cut over their byte budget: count
                                   * since the last such event, total from the start */
    LOOP_EVENT_KINDS
} loop_event_kind;

const char *loop_event_name(int kind);

#define LOOP_TEXT 48

/* An event's robot_id is the robot's (LOOP_FLEET_ROBOT: the fleet's, see
 * below) and its cycle that robot's; a fleet event's cycle is the fleet's
 * tick (in fixed_rate, every robot's cycle). Start and shutdown come once
 * for each robot. */
typedef struct {
    loop_event_kind kind;
    uint64_t cycle;
    int64_t time_ns;
    uint32_t robot_id;
    int reason;
    uint64_t count;
    uint64_t total;  /* bad_input_burst: the reason's count from the start, count included */
    /* param_changed: the key ("brain.motor_gain") and its values as text */
    char key[LOOP_TEXT], old_value[LOOP_TEXT], new_value[LOOP_TEXT];
} loop_event;

typedef void (*loop_cycle_hook)(const loop_cycle_report *r, void *user);
typedef void (*loop_event_hook)(const loop_event *e, void *user);

typedef struct loop loop;

/* The id of events that are the whole fleet's, not one robot's (overrun
 * bursts, bad input that names no robot of the fleet) when the fleet has
 * more than one robot; with one robot they carry its id. */
#define LOOP_FLEET_ROBOT UINT32_MAX

/* The loop borrows f and l (both must outlive it; the link's robots are the
 * fleet's brains, in order) and copies what it needs of o and ck: ck[i] is
 * robot i's checkpoint (every_s and on_exit are ck[0]'s for all). Starts
 * the keeper thread. */
int loop_create(const loop_options *o, const loop_checkpoint_options *ck, brain_fleet *f,
                robot_link *l, loop **out, char *err, size_t err_len);
void loop_destroy(loop **lp);

/* Where the loop reads the time and how it sleeps: CLOCK_MONOTONIC and
 * clock_nanosleep(TIMER_ABSTIME) unless a test injects its own (then the
 * fixed-rate schedule, overruns and timeouts follow that clock exactly and
 * need no wall-clock time). sleep_until returns 0, or EINTR when a signal
 * woke it early. Set before loop_run; NULL restores the real clock. */
typedef struct {
    int64_t (*now_ns)(void *user);
    int (*sleep_until)(void *user, int64_t deadline_ns);
    void *user;
} loop_clock;

void loop_set_clock(loop *lp, const loop_clock *clock);

/* Up to LOOP_MAX_HOOKS of each kind, called in the order added, on the
 * loop's thread. Add and remove before loop_run or after it returns. Adding
 * to full slots returns LOOP_ERR_PARAM. */
#define LOOP_MAX_HOOKS 4
int loop_add_cycle_hook(loop *lp, loop_cycle_hook fn, void *user);
int loop_add_event_hook(loop *lp, loop_event_hook fn, void *user);
void loop_remove_cycle_hook(loop *lp, loop_cycle_hook fn, void *user);
void loop_remove_event_hook(loop *lp, loop_event_hook fn, void *user);

/* Runs until *stop becomes non-zero (a signal handler sets it), then
 * finishes the cycle, publishes zero motors flagged stop, writes the exit
 * checkpoint when configured and prints a summary line to stderr. Returns 0
 * or a negative loop_err (the exit checkpoint failing is an error). */
int loop_run(loop *lp, volatile sig_atomic_t *stop);

/* ---- commands from another thread (a control socket) ----
 * One command at a time, handed over through a slot the loop reads with an
 * atomic at the start of a cycle (and, in lockstep, while it waits for
 * sensors): it never blocks or allocates for it. The sender prepares
 * everything (a whole brain_params; a snapshot it owns), submits, then
 * polls for the result, which names the cycle from which it applies. */
typedef enum {
    LOOP_CMD_PARAMS = 1, /* brain_set_params(params) of one robot's brain (params.seed must be
                          * its own); event param_changed (key, values) */
    LOOP_CMD_PARAM,      /* one numeric key (param, value) of brain_param_table set in each
                          * targeted brain's own parameters; event param_changed */
    LOOP_CMD_RATE,       /* fixed_rate: rate_hz from the next tick; event param_changed */
    LOOP_CMD_PAUSE,      /* no brain step; motors zero flagged stop */
    LOOP_CMD_RESUME,
    LOOP_CMD_RESET,      /* brain_reset: a fresh field from the seed */
    LOOP_CMD_SNAPSHOT,   /* brain_snapshot_take(snapshot) on the loop's thread (one robot) */
    LOOP_CMD_CALL,       /* call(call_user, err, err_len) on the loop's thread, for a setting
                          * the loop's hooks own (telemetry's rates); it must not block or
                          * allocate; event param_changed (key, values) when it returns 0 */
    LOOP_CMD_SAVED,      /* the sender wrote a SNAPSHOT of one robot to disk (saved_ok) or
                          * failed to: event checkpoint_written (count: saved_cycle) or
                          * checkpoint_failed, as an autosave's */
} loop_command_kind;

/* robot of a command: LOOP_ALL_ROBOTS for every robot (PARAM, PAUSE,
 * RESUME, RESET); RATE and CALL are the fleet's and ignore it. */
#define LOOP_ALL_ROBOTS UINT32_MAX

typedef struct {
    loop_command_kind kind;
    uint32_t robot;             /* its place in the fleet, or LOOP_ALL_ROBOTS */
    brain_params params;        /* PARAMS */
    const brain_param_info *param; /* PARAM: an entry of brain_param_table */
    double value;               /* PARAM */
    double rate_hz;             /* RATE */
    brain_snapshot *snapshot;   /* SNAPSHOT: the sender's, created for this brain */
    int (*call)(void *user, char *err, size_t err_len);  /* CALL: 0 or a negative code */
    void *call_user;            /* CALL */
    bool saved_ok;              /* SAVED */
    uint64_t saved_cycle;       /* SAVED: the brain cycle of the snapshot */
    char key[LOOP_TEXT], old_value[LOOP_TEXT], new_value[LOOP_TEXT]; /* PARAMS, RATE, CALL: for the event */
} loop_command;

typedef struct {
    int rc;                 /* 0, or a negative brain_err or loop_err */
    uint64_t cycle;         /* the cycle whose motors first show it (the robot's; for every
                               robot or the fleet: robot 0's) */
    uint64_t brain_cycle;   /* the first brain cycle stepped with it (SNAPSHOT: the one saved) */
    char err[256];          /* when rc != 0: one sentence */
} loop_command_result;

/* Hands cmd to the loop (copied); LOOP_ERR_BUSY while the last is pending. */
int loop_command_submit(loop *lp, const loop_command *cmd);
/* 1 and the result once the loop has applied it (the slot is free again),
 * 0 while it is pending, LOOP_ERR_PARAM when nothing was submitted. */
int loop_command_poll(loop *lp, loop_command_result *out);
/* Takes a submitted command back before the loop has taken it: 1 when it
 * was (it will never be applied, the slot is free), 0 when the loop has it
 * already (poll for its result). */
int loop_command_withdraw(loop *lp);

/* What the loop is doing for robot `robot`, readable from any thread
 * (relaxed atomics); overruns and rate_hz are the fleet's. */
typedef struct {
    uint64_t cycle, brain_cycle;
    uint64_t overruns, brain_faults;
    uint64_t received, published, bad_total;
    double rate_hz;          /* fixed_rate; 0 in lockstep */
    bool paused, link_lost;
    uint32_t robot_id;
} loop_status;
void loop_get_status(loop *lp, uint32_t robot, loop_status *s);

/* The fleet: how many robots, robot i's id and brain, the place of an id
 * (-1: not in the fleet). */
uint32_t loop_robot_count(const loop *lp);
uint32_t loop_robot_id(const loop *lp, uint32_t robot);
brain *loop_robot_brain(loop *lp, uint32_t robot);
int loop_robot_index(const loop *lp, uint32_t robot_id);

/* What loop_run's summary line says, as numbers: after loop_run returns,
 * exactly the numbers of that line; while it runs, the counts so far and
 * the windows of the last completed window. */
typedef struct {
    uint64_t cycles;           /* motor messages published by the loop, the stop messages too
                                  (of every robot) */
    uint64_t overruns, skipped_ticks;
    uint64_t brain_errors;     /* cycles that failed (each flagged fault, the brain reset) */
    link_counters link;        /* the fleet's: received, skipped, bad (total and by reason),
                                  published */
    loop_window lateness, work;
} loop_summary;

void loop_get_summary(const loop *lp, loop_summary *out);

/* Robot `robot`'s part of the summary. */
typedef struct {
    uint32_t robot_id;
    uint64_t cycles;           /* its motor messages, its stop message too */
    uint64_t brain_cycle;
    uint64_t brain_errors;
    uint64_t link_losses;      /* link_lost events */
    link_counters link;        /* its own */
} loop_robot_summary;

void loop_get_robot_summary(const loop *lp, uint32_t robot, loop_robot_summary *out);

#endif
