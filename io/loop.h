/* loop.h: the control loop. Each cycle takes the newest sensor vector from
 * the link, steps the brain once and publishes the motors; fixed_rate wakes at
 * absolute deadlines, lockstep runs one cycle per sensor message. Timing is
 * kept without allocation; disk and log output happen on a keeper thread.
 *
 * Telemetry and recorders attach through hooks, called on the loop's
 * thread, so they must not block, allocate much or take locks a slow thread
 * may hold (copy what you need into your own slot and return):
 *   - loop_cycle_hook after every cycle, with a loop_cycle_report;
 *   - loop_event_hook on events (start, link lost/restored, overrun and
 *     bad-input bursts at most once a second, checkpoint written/failed,
 *     brain faults at most once a second, shutdown). An event's cycle is the
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
    bool link_lost;
    uint64_t answer_seq;
    link_counters link;        /* received, skipped, bad by reason, published */
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
    LOOP_EVENT_KINDS
} loop_event_kind;

const char *loop_event_name(int kind);

typedef struct {
    loop_event_kind kind;
    uint64_t cycle;
    int64_t time_ns;
    uint32_t robot_id;
    int reason;
    uint64_t count;
} loop_event;

typedef void (*loop_cycle_hook)(const loop_cycle_report *r, void *user);
typedef void (*loop_event_hook)(const loop_event *e, void *user);

typedef struct loop loop;

/* The loop borrows b and l (both must outlive it) and copies what it needs
 * of o and ck. Starts the keeper thread. */
int loop_create(const loop_options *o, const loop_checkpoint_options *ck, brain *b, robot_link *l,
                loop **out, char *err, size_t err_len);
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

/* What loop_run's summary line says, as numbers: after loop_run returns,
 * exactly the numbers of that line; while it runs, the counts so far and
 * the windows of the last completed window. */
typedef struct {
    uint64_t cycles;           /* motor messages published by the loop, the stop message too */
    uint64_t overruns, skipped_ticks;
    uint64_t brain_errors;     /* cycles that failed (each flagged fault, the brain reset) */
    link_counters link;        /* received, skipped, bad (total and by reason), published */
    loop_window lateness, work;
} loop_summary;

void loop_get_summary(const loop *lp, loop_summary *out);

#endif
