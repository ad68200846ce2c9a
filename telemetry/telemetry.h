/* telemetry.h: the door to telemetry/. A publisher that tells subscribers
 * what the brain is doing: per-cycle stats, events and field-slice pictures
 * on a bound ZeroMQ XPUB socket, the topic in the first frame (README.md
 * there has the message schema).
 *
 * The control loop only copies plain values into preallocated slots
 * (telemetry_push_*): no allocation, no lock, no system call other than one
 * non-blocking eventfd write to wake the telemetry thread, which makes the
 * JSON and PNG and owns the socket. A full slot is a counted drop, never a
 * wait. Push calls come from one thread at a time (the loop's). The rates
 * and the slice shown may change while it runs (telemetry_set_rates and
 * telemetry_set_slice_robot, any thread); the endpoint, keys, fleet and
 * slots are fixed at create.
 *
 * Fleets: one publisher serves every robot of a fleet. Each robot's stats
 * come by its own cycle numbers (every N of ITS cycles) and its own rate;
 * with more than one robot each message goes out on a topic of its robot
 * ("stats/ID/", "event/ID/", "slice/ID/"; events of the whole fleet on
 * "event/fleet/"), with one exactly as without fleets (README.md).
 */
#ifndef FIELDBRAIN_TELEMETRY_H
#define FIELDBRAIN_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TELEMETRY_OK = 0,
    TELEMETRY_ERR_PARAM = -1,   /* an option out of range */
    TELEMETRY_ERR_NOMEM = -2,
    TELEMETRY_ERR_ZMQ = -3,     /* socket, option or bind failed */
    TELEMETRY_ERR_THREAD = -4,
} telemetry_err;

const char *telemetry_strerror(int err);

#define TELEMETRY_STR 256
#define TELEMETRY_NAME 32
#define TELEMETRY_MAX_BAD 16     /* bad-input reasons */
#define TELEMETRY_HIST_BINS 40   /* log2 lateness histogram */
#define TELEMETRY_MAX_ROBOTS 1024 /* robots of one fleet (BRAIN_FLEET_MAX) */
/* telemetry_event.robot_id of an event of the whole fleet (no robot of it):
 * written as JSON null when the fleet has more than one robot. */
#define TELEMETRY_FLEET_ROBOT UINT32_MAX

typedef struct {
    char endpoint[TELEMETRY_STR]; /* bound XPUB, e.g. tcp://127.0.0.1:5557 */
    uint32_t every;               /* stats every N cycles (cycle % every == 0), >= 1 */
    uint32_t slice_every;         /* slice every N cycles; 0 = never */
    uint32_t slice_axis;          /* 0 x, 1 y, 2 z */
    int slice_index;              /* -1 = middle */
    int slice_channel;            /* -1 = mean over channels */
    uint32_t size_x, size_y, size_z, channels; /* field shape */
    uint32_t motors;              /* motors per cycle (slot size) */
    double rate_hz;               /* configured loop rate; 0 = lockstep */
    char device[TELEMETRY_STR];   /* "cpu: 2 threads", GPU name */
    char backend[TELEMETRY_NAME]; /* "cpu", "vulkan" */
    uint32_t n_bad;               /* bad-input reasons, <= TELEMETRY_MAX_BAD */
    char bad_names[TELEMETRY_MAX_BAD][TELEMETRY_NAME];
    uint32_t queue_slots;         /* stats and event slots each; 0 = 256, or 4 per
                                   * robot when that is more (a power of two) */
    int sndhwm;                   /* per-subscriber send queue (messages); 0 = 1000 */
    /* CURVE (curve/curve.h): with a secret key the XPUB is a CURVE server,
     * and only subscribers that know the public key get a connection; with
     * a client keys file, only the public keys listed there. */
    char curve_secret_key[TELEMETRY_STR];  /* Z85, 40 characters; "" = no CURVE */
    char curve_public_key[TELEMETRY_STR];  /* Z85, the key subscribers need */
    char curve_client_keys[TELEMETRY_STR]; /* allowed subscribers' keys file; "" = any */
    /* The fleet. 0 or 1 robots: one robot, whatever id its cycles carry,
     * exactly as without fleets (slice_robot is then checked against the
     * one id given, if any). More: per-robot topics, and stats of an id not
     * listed are dropped (counted in dropped_stats). */
    uint32_t n_robots;            /* <= TELEMETRY_MAX_ROBOTS */
    uint32_t robot_ids[TELEMETRY_MAX_ROBOTS]; /* in the fleet's order, each once */
    uint32_t slice_robot;         /* the robot whose field slices show; one of robot_ids */
} telemetry_options;

/* every = 10, slice every 100 on the middle z plane, mean over channels,
 * endpoint tcp://127.0.0.1:5557; the field shape and motors are left 0, and
 * the fleet empty (one robot). */
void telemetry_options_default(telemetry_options *o);

typedef struct {
    int64_t min_ns, p50_ns, p99_ns, max_ns;
} telemetry_window;

/* One cycle as the loop saw it. Pointers are read during the push only. */
typedef struct {
    uint64_t cycle;             /* loop cycle */
    int64_t time_ns;            /* CLOCK_MONOTONIC when the motors went out */
    int64_t lateness_ns;        /* wake-up past the deadline */
    int64_t work_ns;            /* wake-up to publish */
    double gpu_ms;              /* device time, -1 unknown */
    telemetry_window lateness, work;  /* the last completed window */
    const uint64_t *lateness_hist;    /* TELEMETRY_HIST_BINS counts, or NULL */
    uint64_t overruns, skipped_ticks;
    const float *motors;        /* n_motors floats as published */
    uint32_t n_motors;
    bool stepped;               /* the brain ran this cycle */
    bool fault;                 /* the cycle failed: motors zero, flagged fault, brain reset */
    uint64_t brain_faults;      /* failed cycles since start */
    uint64_t brain_cycle;
    float energy, saturated, activity;
    bool diffused, noised, energized;
    int64_t sensor_age_ns;      /* -1: no sensor vector yet */
    uint32_t robot_id;          /* whose cycle: its stats are rate-limited by its own cycle */
    bool link_lost;
    uint64_t answer_seq;        /* sensor sequence number the motors answer */
    uint64_t received, skipped, bad_total, published, publish_failed;
    uint64_t peers_cut;         /* motor connections cut (the socket's, not the robot's) */
    uint64_t peers_refused;     /* motor handshakes refused after a cut */
    uint64_t bad[TELEMETRY_MAX_BAD];  /* by reason, as options.bad_names */
} telemetry_cycle;

typedef struct {
    char kind[TELEMETRY_NAME];  /* "start", "link_lost", ... (README.md) */
    uint64_t cycle;
    int64_t time_ns;
    uint32_t robot_id;          /* TELEMETRY_FLEET_ROBOT: the whole fleet's */
    char reason[TELEMETRY_NAME];/* bad-input reason or "" */
    uint64_t count;
    char detail[TELEMETRY_STR]; /* free text for people, may be "" */
} telemetry_event;

typedef struct {
    uint64_t pushed_stats, dropped_stats;    /* handed over / slot full */
    uint64_t pushed_events, dropped_events;
    uint64_t pushed_slices, dropped_slices;  /* dropped: previous still in work, or read failed */
    uint64_t slice_read_failed;              /* of those dropped: the plane could not be read */
    uint64_t sent_stats, sent_events, sent_slices;
    uint64_t send_failed;                    /* ZeroMQ refused a message */
    uint64_t subscriptions;                  /* subscribe messages seen */
    uint64_t last_value_sent;                /* cached stats sent to a newcomer */
    uint64_t last_value_limited;             /* newcomers not sent it: over the rate bound */
    uint64_t peers_cut;                      /* subscriber connections cut over their byte budget */
    uint64_t peers_refused;                  /* subscriber handshakes refused after a cut */
    uint64_t subscriptions_deferred;         /* wakes whose subscription budget ran out */
} telemetry_counters;

typedef struct telemetry telemetry;

/* Checks o, binds the XPUB socket (a CURVE server when o has a secret key,
 * with a ZAP handler for the client keys file) and starts the telemetry
 * thread. */
int telemetry_create(const telemetry_options *o, telemetry **out, char *err, size_t err_len);

/* Sends what is already queued, stops the thread and closes the socket
 * (linger 0); sets *t to NULL; harmless on NULL. */
void telemetry_destroy(telemetry **t);

/* The endpoint actually bound (a "tcp://127.0.0.1:*" becomes its port). */
const char *telemetry_endpoint(const telemetry *t);

/* What may change while the publisher runs: the fields of telemetry_options
 * of the same names, with the same meaning and checks. */
typedef struct {
    uint32_t every;               /* >= 1 */
    uint32_t slice_every;         /* 0 = never */
    uint32_t slice_axis;          /* 0 x, 1 y, 2 z */
    int slice_index;              /* -1 = middle */
    int slice_channel;            /* -1 = mean over channels */
} telemetry_rates;

/* Any thread: checks r against the field shape (slices need one given at
 * create) and makes it the publisher's, atomically for each of its parts:
 * the loop's next telemetry_push_cycle judges "due" by the new every, its
 * next telemetry_slice_due by the new slice_every, and its next
 * telemetry_slice_acquire takes the new plane. A slice already acquired or
 * in encoding keeps the plane it was taken with, its header says which.
 * Nothing is allocated: the slice buffers hold the largest plane of the
 * field from create. TELEMETRY_ERR_PARAM, with a sentence naming the key
 * and the allowed range, leaves the rates as they were. */
int telemetry_set_rates(telemetry *t, const telemetry_rates *r, char *err, size_t err_len);

/* Any thread (the control socket's telemetry.slice_robot, through the
 * loop's LOOP_CMD_CALL): from the next slice acquired on, slices show the
 * field of robot robot_id. A slice already acquired keeps its robot, its
 * header says which. TELEMETRY_ERR_PARAM, with a sentence, when robot_id is
 * no robot of the fleet (options.robot_ids; any id with n_robots 0); the
 * slice robot is then as it was. No allocation. */
int telemetry_set_slice_robot(telemetry *t, uint32_t robot_id, char *err, size_t err_len);

/* Loop thread: hands the cycle over when cycle % every == 0, cycle being
 * that robot's own (c->robot_id). Returns true if queued, false if not due
 * or dropped (counted). */
bool telemetry_push_cycle(telemetry *t, const telemetry_cycle *c);

/* Loop thread: hands an event over. false: dropped (counted). */
bool telemetry_push_event(telemetry *t, const telemetry_event *e);

/* Loop thread, slices: on a cycle of robot telemetry_slice_robot when
 * telemetry_slice_due(cycle) (that robot's cycle), take the buffer with
 * telemetry_slice_acquire_robot(t, that robot) (or telemetry_slice_acquire:
 * for telemetry_slice_robot) (NULL: the previous slice is still being encoded;
 * counted as a drop, skip the read), fill it with the one plane the slice
 * shows, all channels, telemetry_slice_count float32 laid out as
 * brain_read_slab(b, telemetry_slice_axis, telemetry_slice_index, dst)
 * writes it (axis 0: [Y][Z][C], axis 1: [X][Z][C], axis 2: [X][Y][C]), then
 * telemetry_slice_commit (ok = false if the read failed: the slice is
 * skipped and counted as dropped_slices and slice_read_failed). The
 * telemetry thread makes the picture from that plane.
 * Between acquire and commit, axis, index and count are those of the plane
 * the acquired slice takes (fixed at acquire, whatever telemetry_set_rates
 * does meanwhile); otherwise those of the plane the next slice would take.
 * telemetry_slice_robot is the robot the next slice shows. */
bool telemetry_slice_due(const telemetry *t, uint64_t cycle);
uint32_t telemetry_slice_axis(const telemetry *t);
uint32_t telemetry_slice_index(const telemetry *t);   /* -1 resolved to the middle */
uint64_t telemetry_slice_count(const telemetry *t);   /* 0 without a field shape */
uint32_t telemetry_slice_robot(const telemetry *t);
float *telemetry_slice_acquire(telemetry *t);
float *telemetry_slice_acquire_robot(telemetry *t, uint32_t robot_id);
void telemetry_slice_commit(telemetry *t, uint64_t cycle, bool ok);

/* A snapshot of the counters (any thread). */
void telemetry_get_counters(const telemetry *t, telemetry_counters *out);

/* Blocks until everything pushed so far has been sent or dropped, at most
 * timeout_ms: 0 done, 1 timed out. For tests and shutdown, never the loop. */
int telemetry_flush(telemetry *t, int timeout_ms);

/* The colour map: writes 256 RGB entries (768 bytes) whose CIELAB lightness
 * rises evenly from dark to light (README.md). */
void telemetry_colormap(uint8_t rgb[768]);
#define TELEMETRY_COLORMAP_NAME "fieldbrain-lab"

#endif
