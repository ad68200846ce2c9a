/* loop.c: the fixed-rate and lockstep control loops over a fleet of robots.
 * The loop's thread only receives, steps, publishes and records numbers into
 * buffers allocated at creation; a keeper thread prints events and warnings
 * and writes autosaved checkpoints, handed over through atomics so the loop
 * never waits on it.
 */
#include "loop.h"
#include "fail.h"
#include "wire.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>

#define NS_PER_S 1000000000LL
#define EVENT_RING_PER_ROBOT 64
#define KEEPER_PERIOD_NS (20 * 1000000LL)
#define LOCKSTEP_HEARTBEAT_NS (100 * 1000000LL)

enum { SNAP_IDLE = 0, SNAP_PENDING, SNAP_DONE, SNAP_FAILED };

/* One robot of the fleet: its brain, link state, counts and checkpoint. */
typedef struct {
    uint32_t id;
    brain *b;
    char ckpt_path[IO_STR];
    brain_ckpt_files *ckpt_files;  /* held from the start: saves need no new descriptor */
    float *held;                   /* last valid sensor vector */
    float *motors;                 /* what its brain wrote this tick */

    bool lost;
    int64_t last_valid_ns;
    uint64_t answer_seq, answer_time_ns;
    uint64_t cycle;                /* seq of its last motor message */
    int64_t heartbeat_ns;
    uint64_t link_losses;
    uint64_t brain_errors;         /* cycles that failed (brain_fault) */
    uint64_t reset_failed;         /* brain_reset failed too after a fault */
    brain_stats last;              /* of the last cycle that stepped */
    int64_t fault_emit_ns;
    uint64_t fault_at_emit;
    int64_t bad_emit_ns[WIRE_BAD_REASONS];
    uint64_t bad_at_emit[WIRE_BAD_REASONS];
    bool paused;

    /* this tick */
    bool due;                      /* it has a cycle */
    bool stepped, fault;           /* its brain stepped; its cycle failed */
    brain_stats st;                /* its report's */
    const float *out;              /* the motors it was sent */
    int64_t sent_ns;

    /* what loop_get_status reads */
    _Atomic uint64_t st_cycle, st_brain_cycle, st_faults;
    _Atomic uint64_t st_received, st_published, st_bad;
    atomic_bool st_paused, st_lost;
} loop_robot;

struct loop {
    loop_clock clock;
    brain_fleet *fleet;
    robot_link *l;
    uint32_t n;
    loop_robot *robots;
    loop_mode mode;
    int64_t period_ns;
    bool realtime;
    int cpu;
    int64_t timeout_ns;
    int64_t ckpt_every_ns;
    bool ckpt_on_exit;

    uint32_t n_sensors, n_motors;
    float *zeros;       /* n_sensors (>= n_motors) zeros */

    /* brain_fleet_step's arrays, one entry per robot */
    bool *step;
    const float **used;
    float **motor_ptrs;
    brain_stats *stats;
    int *step_rc;
    link_sensor *sensors;   /* what the link gave each robot this tick */

    /* timing windows, one entry per tick */
    uint64_t ticks;
    uint32_t win_n, win_pos;
    int64_t *win_lat, *win_work, *win_gpu, *win_scratch;
    loop_window lat, work, gpu;
    uint64_t hist[LOOP_HIST_BINS];
    uint64_t overruns, skipped_ticks;

    /* rate limits of the fleet's burst events */
    int64_t bad_emit_ns[WIRE_BAD_REASONS];
    uint64_t bad_at_emit[WIRE_BAD_REASONS];   /* bad input that named no robot */
    int64_t overrun_emit_ns;
    uint64_t overrun_at_emit;
    int64_t cut_emit_ns;
    uint64_t cut_at_emit;                     /* motor connections cut */

    struct { loop_cycle_hook fn; void *user; } cycle_hooks[LOOP_MAX_HOOKS];
    struct { loop_event_hook fn; void *user; } event_hooks[LOOP_MAX_HOOKS];

    /* loop -> keeper */
    loop_event *ring;
    unsigned ring_size;      /* a power of two */
    atomic_uint ring_head;   /* written by the loop */
    atomic_uint ring_tail;   /* written by the keeper */
    uint64_t events_dropped;
    /* autosave: a round saves each robot with a checkpoint in turn, through
     * one snapshot (every brain has its shape) */
    brain_snapshot *snap;
    uint32_t snap_robot;     /* whose state snap holds */
    int snap_next;           /* the next robot of the round; -1: no round */
    atomic_int snap_state;
    char snap_err[256];
    int64_t next_save_ns;
    pthread_t keeper;
    bool keeper_running;
    atomic_bool keeper_stop;

    /* commands (loop_command_submit) and what loop_get_status reads */
    atomic_int cmd_state;
    loop_command cmd;
    loop_command_result cmd_result;
    _Atomic uint64_t st_overruns;
    _Atomic int64_t st_period_ns;
};

/* IDLE -> SUBMITTED (the sender) -> TAKEN (the loop, by exchange, so that a
 * sender that gave up can take it back first) -> DONE -> IDLE (the sender). */
enum { CMD_IDLE = 0, CMD_SUBMITTED, CMD_TAKEN, CMD_DONE };

const char *loop_strerror(int err)
{
    switch (err) {
    case LOOP_OK: return "no error";
    case LOOP_ERR_PARAM: return "bad loop setting";
    case LOOP_ERR_NOMEM: return "out of memory";
    case LOOP_ERR_THREAD: return "could not start a thread";
    case LOOP_ERR_BRAIN: return "brain error";
    case LOOP_ERR_LINK: return "link error";
    case LOOP_ERR_BUSY: return "a command is still pending";
    default: return "unknown loop error";
    }
}

const char *loop_event_name(int kind)
{
    static const char *names[LOOP_EVENT_KINDS] = {
        "start", "shutdown", "link_lost", "link_restored", "overrun_burst",
        "bad_input_burst", "checkpoint_written", "checkpoint_failed", "brain_fault",
        "param_changed", "paused", "resumed", "reset", "peers_cut",
    };
    return kind >= 0 && kind < LOOP_EVENT_KINDS ? names[kind] : "unknown";
}

static int64_t monotonic_now_ns(void *user)
{
    (void)user;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int monotonic_sleep_until(void *user, int64_t deadline_ns)
{
    (void)user;
    struct timespec ts = {.tv_sec = deadline_ns / NS_PER_S, .tv_nsec = deadline_ns % NS_PER_S};
    return clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static int64_t now_ns(const loop *lp)
{
    return lp->clock.now_ns(lp->clock.user);
}

/* "" with one robot (the lines read as they always did), else " (robot ID)". */
static void robot_label(const loop *lp, uint32_t robot_id, char *buf, size_t len)
{
    buf[0] = '\0';
    if (lp->n == 1)
        return;
    if (robot_id == LOOP_FLEET_ROBOT)
        snprintf(buf, len, " (fleet)");
    else
        snprintf(buf, len, " (robot %u)", robot_id);
}

static void print_event(const loop *lp, const loop_event *e)
{
    char who[32];
    robot_label(lp, e->robot_id, who, sizeof who);
    switch (e->kind) {
    case LOOP_EVENT_BAD_INPUT_BURST: {
        fprintf(stderr, "fieldbrain: warning: dropped %llu bad sensor message(s)%s: %s (%llu so far)\n",
                (unsigned long long)e->count, who, wire_bad_name(e->reason), (unsigned long long)e->total);
        break;
    }
    case LOOP_EVENT_BRAIN_FAULT:
        fprintf(stderr, "fieldbrain: error: %llu failed brain cycle(s)%s, the last at cycle %llu (%s): "
                "motors went out as zeros flagged fault and the brain was reset to a fresh field "
                "from its seed\n",
                (unsigned long long)e->count, who, (unsigned long long)e->cycle,
                brain_strerror(e->reason));
        break;
    case LOOP_EVENT_OVERRUN_BURST:
        fprintf(stderr, "fieldbrain: warning: %llu overrun(s) at cycle %llu: work ran past the deadline, ticks skipped\n",
                (unsigned long long)e->count, (unsigned long long)e->cycle);
        break;
    case LOOP_EVENT_PEERS_CUT:
        fprintf(stderr, "fieldbrain: warning: cut %llu motor connection(s) that sent more than a "
                "subscriber may (%llu so far; io/PROTOCOL.md, Security)\n",
                (unsigned long long)e->count, (unsigned long long)e->total);
        break;
    case LOOP_EVENT_PARAM_CHANGED:
        fprintf(stderr, "fieldbrain: %s changed from %s to %s at cycle %llu%s\n", e->key, e->old_value,
                e->new_value, (unsigned long long)e->cycle, who);
        break;
    default:
        fprintf(stderr, "fieldbrain: event %s robot=%u cycle=%llu\n", loop_event_name(e->kind),
                e->robot_id, (unsigned long long)e->cycle);
        break;
    }
}

static void call_event_hooks(const loop *lp, const loop_event *e)
{
    for (int i = 0; i < LOOP_MAX_HOOKS; i++)
        if (lp->event_hooks[i].fn)
            lp->event_hooks[i].fn(e, lp->event_hooks[i].user);
}

/* On the loop's thread: the hooks now, the printing later on the keeper. */
static void emit_event(loop *lp, const loop_event *ev)
{
    const loop_event e = *ev;
    call_event_hooks(lp, &e);
    unsigned head = atomic_load_explicit(&lp->ring_head, memory_order_relaxed);
    unsigned tail = atomic_load_explicit(&lp->ring_tail, memory_order_acquire);
    if (head - tail >= lp->ring_size) {
        lp->events_dropped++;
        return;
    }
    lp->ring[head & (lp->ring_size - 1)] = e;
    atomic_store_explicit(&lp->ring_head, head + 1, memory_order_release);
}

/* An event of robot r at its cycle. */
static void emit(loop *lp, loop_robot *r, loop_event_kind kind, int reason, uint64_t count, int64_t t)
{
    loop_event e = {.kind = kind, .cycle = r->cycle, .time_ns = t, .robot_id = r->id,
                    .reason = reason, .count = count};
    emit_event(lp, &e);
}

/* An event of the whole fleet; with one robot, that robot's. */
static void emit_fleet(loop *lp, loop_event_kind kind, int reason, uint64_t count, int64_t t)
{
    if (lp->n == 1) {
        emit(lp, &lp->robots[0], kind, reason, count, t);
        return;
    }
    loop_event e = {.kind = kind, .cycle = lp->ticks, .time_ns = t, .robot_id = LOOP_FLEET_ROBOT,
                    .reason = reason, .count = count};
    emit_event(lp, &e);
}

/* A bad_input_burst of robot r (NULL: of the input that named no robot of
 * the fleet): count since the last, total from the start. */
static void emit_bad(loop *lp, loop_robot *r, int reason, uint64_t count, uint64_t total, int64_t t)
{
    loop_event e = {.kind = LOOP_EVENT_BAD_INPUT_BURST, .cycle = r ? r->cycle : lp->ticks, .time_ns = t,
                    .robot_id = r ? r->id : LOOP_FLEET_ROBOT, .reason = reason, .count = count,
                    .total = total};
    emit_event(lp, &e);
}

static void keeper_drain(loop *lp)
{
    unsigned tail = atomic_load_explicit(&lp->ring_tail, memory_order_relaxed);
    unsigned head = atomic_load_explicit(&lp->ring_head, memory_order_acquire);
    while (tail != head) {
        print_event(lp, &lp->ring[tail & (lp->ring_size - 1)]);
        tail++;
        atomic_store_explicit(&lp->ring_tail, tail, memory_order_release);
    }
}

/* Through the files held since create when they could be opened (so that
 * idle connections that took every descriptor cannot stop a save), else by
 * path. */
static int save_snapshot(const loop_robot *r, const brain_snapshot *s, char *err, size_t err_len)
{
    if (r->ckpt_files)
        return brain_snapshot_save_held(s, r->ckpt_files, err, err_len);
    return brain_snapshot_save(s, r->ckpt_path, err, err_len);
}

static void keeper_save(loop *lp)
{
    if (atomic_load_explicit(&lp->snap_state, memory_order_acquire) != SNAP_PENDING)
        return;
    const loop_robot *r = &lp->robots[lp->snap_robot];
    int rc = save_snapshot(r, lp->snap, lp->snap_err, sizeof lp->snap_err);
    if (rc < 0) {
        char who[32];
        robot_label(lp, r->id, who, sizeof who);
        fprintf(stderr, "fieldbrain: autosave failed%s: %s\n", who, lp->snap_err);
    }
    atomic_store_explicit(&lp->snap_state, rc < 0 ? SNAP_FAILED : SNAP_DONE, memory_order_release);
}

static void *keeper_main(void *arg)
{
    loop *lp = arg;
    for (;;) {
        bool stop = atomic_load(&lp->keeper_stop);
        keeper_drain(lp);
        keeper_save(lp);
        if (stop)
            break;
        struct timespec ts = {0, KEEPER_PERIOD_NS};
        nanosleep(&ts, NULL);
    }
    keeper_drain(lp);
    return NULL;
}

static int robot_init(loop *lp, loop_robot *r, uint32_t i, const loop_checkpoint_options *ck, char *err,
                      size_t err_len)
{
    r->id = link_robot_id(lp->l, i);
    r->b = brain_fleet_brain(lp->fleet, i);
    snprintf(r->ckpt_path, sizeof r->ckpt_path, "%s", ck->path);
    size_t nz = (lp->n_sensors > lp->n_motors ? lp->n_sensors : lp->n_motors) + 1u;
    r->held = calloc(nz, sizeof(float));
    r->motors = calloc(nz, sizeof(float));
    if (!r->held || !r->motors)
        return fb_fail(err, err_len, LOOP_ERR_NOMEM, "loop: out of memory");
    /* A path that cannot be opened at start (no such directory, no right
     * to write there) would fail every save of the run: refused now. */
    char why[512];
    if (r->ckpt_path[0] && (lp->ckpt_every_ns || lp->ckpt_on_exit) &&
        brain_ckpt_files_open(r->ckpt_path, &r->ckpt_files, why, sizeof why) != 0) {
        char who[32] = "";
        if (lp->n > 1)
            snprintf(who, sizeof who, " (robot %u)", r->id);
        return fb_fail(err, err_len, LOOP_ERR_PARAM, "checkpoint.path%s: %s", who, why);
    }
    r->lost = true;  /* no robot yet: zero motors until the first valid message */
    r->last = (brain_stats){.cycle = brain_get_cycle(r->b), .energy = NAN, .saturated = NAN,
                            .activity = -1.0f, .gpu_ms = -1.0};
    atomic_init(&r->st_brain_cycle, brain_get_cycle(r->b));
    atomic_init(&r->st_lost, true);
    lp->motor_ptrs[i] = r->motors;
    return LOOP_OK;
}

int loop_create(const loop_options *o, const loop_checkpoint_options *ck, brain_fleet *f,
                robot_link *l, loop **out, char *err, size_t err_len)
{
    *out = NULL;
    if (o->mode == LOOP_FIXED_RATE && !(o->rate_hz > 0 && o->rate_hz <= 1e6))
        return fb_fail(err, err_len, LOOP_ERR_PARAM, "loop.rate_hz: %g is out of range (0, 1000000]",
                       o->rate_hz);
    if (o->stats_window < 1)
        return fb_fail(err, err_len, LOOP_ERR_PARAM, "loop.stats_window: must be at least 1");
    if (brain_fleet_size(f) != link_robot_count(l))
        return fb_fail(err, err_len, LOOP_ERR_PARAM, "loop: %u brains for %u robots on the link",
                       brain_fleet_size(f), link_robot_count(l));
    loop *lp = calloc(1, sizeof *lp);
    if (!lp)
        return fb_fail(err, err_len, LOOP_ERR_NOMEM, "loop: out of memory");
    const brain_params *p = brain_get_params(brain_fleet_brain(f, 0));
    lp->clock = (loop_clock){monotonic_now_ns, monotonic_sleep_until, NULL};
    lp->fleet = f;
    lp->l = l;
    lp->n = brain_fleet_size(f);
    lp->mode = o->mode;
    lp->period_ns = o->mode == LOOP_FIXED_RATE ? llround(1e9 / o->rate_hz) : 0;
    if (lp->period_ns < 1)
        lp->period_ns = 1;
    lp->realtime = o->realtime;
    lp->cpu = o->cpu;
    lp->timeout_ns = (int64_t)link_timeout_ms(l) * 1000000LL;
    lp->ckpt_every_ns = ck[0].every_s > 0 ? (int64_t)llround(ck[0].every_s * 1e9) : 0;
    lp->ckpt_on_exit = ck[0].on_exit;
    lp->snap_next = -1;
    lp->n_sensors = p->sensors;
    lp->n_motors = p->motors;
    size_t nz = (p->sensors > p->motors ? p->sensors : p->motors) + 1u;
    lp->zeros = calloc(nz, sizeof(float));
    lp->robots = calloc(lp->n, sizeof *lp->robots);
    lp->step = calloc(lp->n, sizeof *lp->step);
    lp->used = calloc(lp->n, sizeof *lp->used);
    lp->motor_ptrs = calloc(lp->n, sizeof *lp->motor_ptrs);
    lp->stats = calloc(lp->n, sizeof *lp->stats);
    lp->step_rc = calloc(lp->n, sizeof *lp->step_rc);
    lp->sensors = calloc(lp->n, sizeof *lp->sensors);
    lp->ring_size = 1;
    while (lp->ring_size < EVENT_RING_PER_ROBOT * lp->n)
        lp->ring_size <<= 1;
    lp->ring = calloc(lp->ring_size, sizeof *lp->ring);
    lp->win_n = o->stats_window;
    lp->win_lat = calloc(lp->win_n, sizeof(int64_t));
    lp->win_work = calloc(lp->win_n, sizeof(int64_t));
    lp->win_gpu = calloc(lp->win_n, sizeof(int64_t));
    lp->win_scratch = calloc(lp->win_n, sizeof(int64_t));
    int rc = LOOP_ERR_NOMEM;
    if (!lp->zeros || !lp->robots || !lp->step || !lp->used || !lp->motor_ptrs || !lp->stats ||
        !lp->step_rc || !lp->sensors || !lp->ring || !lp->win_lat || !lp->win_work ||
        !lp->win_gpu || !lp->win_scratch)
        goto fail;
    bool any_ckpt = false;
    for (uint32_t i = 0; i < lp->n; i++) {
        int irc = robot_init(lp, &lp->robots[i], i, &ck[i], err, err_len);
        if (irc != LOOP_OK) {
            rc = irc;
            goto fail_said;
        }
        any_ckpt = any_ckpt || lp->robots[i].ckpt_path[0];
    }
    if (!any_ckpt)
        lp->ckpt_every_ns = 0, lp->ckpt_on_exit = false;
    if (lp->ckpt_every_ns && brain_snapshot_create(lp->robots[0].b, &lp->snap) < 0)
        goto fail;
    atomic_init(&lp->ring_head, 0);
    atomic_init(&lp->ring_tail, 0);
    atomic_init(&lp->snap_state, SNAP_IDLE);
    atomic_init(&lp->keeper_stop, false);
    atomic_init(&lp->cmd_state, CMD_IDLE);
    atomic_init(&lp->st_period_ns, lp->mode == LOOP_FIXED_RATE ? lp->period_ns : 0);
    if (pthread_create(&lp->keeper, NULL, keeper_main, lp) != 0) {
        rc = fb_fail(err, err_len, LOOP_ERR_THREAD, "loop: cannot start the keeper thread");
        goto fail;
    }
    lp->keeper_running = true;
    *out = lp;
    return LOOP_OK;
fail:
    if (rc == LOOP_ERR_NOMEM)
        fb_fail(err, err_len, rc, "loop: out of memory");
fail_said:
    loop_destroy(&lp);
    return rc;
}

static void keeper_stop(loop *lp)
{
    if (lp->keeper_running) {
        atomic_store(&lp->keeper_stop, true);
        pthread_join(lp->keeper, NULL);
        lp->keeper_running = false;
    }
}

void loop_destroy(loop **pp)
{
    loop *lp = pp ? *pp : NULL;
    if (!lp)
        return;
    keeper_stop(lp);
    brain_snapshot_destroy(&lp->snap);
    for (uint32_t i = lp->n; lp->robots && i-- > 0;) {
        brain_ckpt_files_close(&lp->robots[i].ckpt_files);
        free(lp->robots[i].motors);
        free(lp->robots[i].held);
    }
    free(lp->win_scratch);
    free(lp->win_gpu);
    free(lp->win_work);
    free(lp->win_lat);
    free(lp->ring);
    free(lp->sensors);
    free(lp->step_rc);
    free(lp->stats);
    free(lp->motor_ptrs);
    free(lp->used);
    free(lp->step);
    free(lp->robots);
    free(lp->zeros);
    free(lp);
    *pp = NULL;
}

void loop_set_clock(loop *lp, const loop_clock *clock)
{
    if (clock)
        lp->clock = *clock;
    else
        lp->clock = (loop_clock){monotonic_now_ns, monotonic_sleep_until, NULL};
}

/* One slot per hook; a free slot has fn NULL. Set before loop_run (the
 * loop's thread reads the slots without a lock). */
#define HOOK_ADD(slots, f, u)                                   \
    do {                                                        \
        for (int i_ = 0; i_ < LOOP_MAX_HOOKS; i_++)             \
            if (!(slots)[i_].fn) {                              \
                (slots)[i_].fn = (f);                           \
                (slots)[i_].user = (u);                         \
                return LOOP_OK;                                 \
            }                                                   \
        return LOOP_ERR_PARAM;                                  \
    } while (0)
#define HOOK_REMOVE(slots, f, u)                                \
    do {                                                        \
        for (int i_ = 0; i_ < LOOP_MAX_HOOKS; i_++)             \
            if ((slots)[i_].fn == (f) && (slots)[i_].user == (u)) \
                (slots)[i_].fn = NULL;                          \
    } while (0)

int loop_add_cycle_hook(loop *lp, loop_cycle_hook fn, void *user) { HOOK_ADD(lp->cycle_hooks, fn, user); }
int loop_add_event_hook(loop *lp, loop_event_hook fn, void *user) { HOOK_ADD(lp->event_hooks, fn, user); }
void loop_remove_cycle_hook(loop *lp, loop_cycle_hook fn, void *user) { HOOK_REMOVE(lp->cycle_hooks, fn, user); }
void loop_remove_event_hook(loop *lp, loop_event_hook fn, void *user) { HOOK_REMOVE(lp->event_hooks, fn, user); }

/* k-th smallest of a[0..n) (Hoare's quickselect; reorders a, no allocation). */
static int64_t select_kth(int64_t *a, uint32_t n, uint32_t k)
{
    long lo = 0, hi = (long)n - 1;
    while (lo < hi) {
        int64_t pivot = a[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                int64_t t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if ((long)k <= j)
            hi = j;
        else if ((long)k >= i)
            lo = i;
        else
            return a[k];
    }
    return a[k];
}

static loop_window window_of(const int64_t *v, int64_t *scratch, uint32_t n)
{
    loop_window w = {v[0], 0, 0, v[0]};
    for (uint32_t i = 0; i < n; i++) {
        scratch[i] = v[i];
        if (v[i] < w.min_ns)
            w.min_ns = v[i];
        if (v[i] > w.max_ns)
            w.max_ns = v[i];
    }
    uint32_t k99 = (uint32_t)(((uint64_t)n * 99) / 100);
    if (k99 >= n)
        k99 = n - 1;
    w.p99_ns = select_kth(scratch, n, k99);
    w.p50_ns = select_kth(scratch, n, n / 2);
    return w;
}

static void record_timing(loop *lp, int64_t lateness, int64_t work, int64_t gpu)
{
    uint32_t bin = 0;
    if (lateness > 0) {
        uint64_t v = (uint64_t)lateness;
        while (v >>= 1)
            bin++;
        if (bin >= LOOP_HIST_BINS)
            bin = LOOP_HIST_BINS - 1;
    }
    lp->hist[bin]++;
    lp->win_lat[lp->win_pos] = lateness;
    lp->win_work[lp->win_pos] = work;
    lp->win_gpu[lp->win_pos] = gpu;
    if (++lp->win_pos == lp->win_n) {
        lp->win_pos = 0;
        lp->lat = window_of(lp->win_lat, lp->win_scratch, lp->win_n);
        lp->work = window_of(lp->win_work, lp->win_scratch, lp->win_n);
        lp->gpu = window_of(lp->win_gpu, lp->win_scratch, lp->win_n);
    }
}

/* Bursts of bad input (each robot's, and the fleet's that named no robot)
 * and overruns: at most one event a second each, or (last: at shutdown)
 * whatever came since the last event, so that the last second's drops are
 * logged too. */
static void check_bursts(loop *lp, int64_t t, bool last)
{
    const int64_t gap = last ? 0 : NS_PER_S;
    for (uint32_t i = 0; i < lp->n; i++) {
        loop_robot *r = &lp->robots[i];
        const link_counters *lc = link_robot_counters(lp->l, i);
        if (lc->bad_total == 0)
            continue;
        for (int k = 0; k < WIRE_BAD_REASONS; k++)
            if (lc->bad[k] > r->bad_at_emit[k] && t - r->bad_emit_ns[k] >= gap) {
                emit_bad(lp, r, k, lc->bad[k] - r->bad_at_emit[k], lc->bad[k], t);
                r->bad_at_emit[k] = lc->bad[k];
                r->bad_emit_ns[k] = t;
            }
    }
    const link_counters *fc = link_get_counters(lp->l);
    if (lp->n > 1 && fc->bad_total > 0) {
        for (int k = 0; k < WIRE_BAD_REASONS; k++) {
            uint64_t named = 0;  /* what the robots' own counters hold */
            for (uint32_t i = 0; i < lp->n && fc->bad[k]; i++)
                named += link_robot_counters(lp->l, i)->bad[k];
            uint64_t unnamed = fc->bad[k] - named;
            if (unnamed > lp->bad_at_emit[k] && t - lp->bad_emit_ns[k] >= gap) {
                emit_bad(lp, NULL, k, unnamed - lp->bad_at_emit[k], unnamed, t);
                lp->bad_at_emit[k] = unnamed;
                lp->bad_emit_ns[k] = t;
            }
        }
    }
    if (fc->peers_cut > lp->cut_at_emit && t - lp->cut_emit_ns >= gap) {
        loop_event e = {.kind = LOOP_EVENT_PEERS_CUT, .cycle = lp->n == 1 ? lp->robots[0].cycle : lp->ticks,
                        .time_ns = t, .robot_id = lp->n == 1 ? lp->robots[0].id : LOOP_FLEET_ROBOT,
                        .count = fc->peers_cut - lp->cut_at_emit, .total = fc->peers_cut};
        emit_event(lp, &e);
        lp->cut_at_emit = fc->peers_cut;
        lp->cut_emit_ns = t;
    }
    if (lp->overruns > lp->overrun_at_emit && t - lp->overrun_emit_ns >= gap) {
        emit_fleet(lp, LOOP_EVENT_OVERRUN_BURST, 0, lp->overruns - lp->overrun_at_emit, t);
        lp->overrun_at_emit = lp->overruns;
        lp->overrun_emit_ns = t;
    }
}

/* The next robot from `from` on that has a checkpoint, -1 if none. */
static int next_saved_robot(const loop *lp, uint32_t from)
{
    for (uint32_t i = from; i < lp->n; i++)
        if (lp->robots[i].ckpt_path[0])
            return (int)i;
    return -1;
}

/* Autosave: every ckpt_every_ns a round saves each robot with a checkpoint,
 * one after the other: the readback here (one brain's, on this thread), the
 * disk write on the keeper. */
static void check_autosave(loop *lp, int64_t t)
{
    int st = atomic_load_explicit(&lp->snap_state, memory_order_acquire);
    if (st == SNAP_DONE || st == SNAP_FAILED) {
        emit(lp, &lp->robots[lp->snap_robot],
             st == SNAP_DONE ? LOOP_EVENT_CHECKPOINT_WRITTEN : LOOP_EVENT_CHECKPOINT_FAILED, 0,
             brain_snapshot_cycle(lp->snap), t);
        atomic_store_explicit(&lp->snap_state, SNAP_IDLE, memory_order_release);
        st = SNAP_IDLE;
    }
    if (!lp->ckpt_every_ns || st != SNAP_IDLE)
        return;
    if (lp->snap_next < 0) {
        if (t < lp->next_save_ns)
            return;
        lp->snap_next = next_saved_robot(lp, 0);
        lp->next_save_ns = t + lp->ckpt_every_ns;
    }
    if (lp->snap_next < 0)
        return;
    uint32_t i = (uint32_t)lp->snap_next;
    lp->snap_next = next_saved_robot(lp, i + 1);
    if (brain_snapshot_take(lp->robots[i].b, lp->snap) == 0) {
        lp->snap_robot = i;
        atomic_store_explicit(&lp->snap_state, SNAP_PENDING, memory_order_release);
    }
}

/* A failed cycle of robot r (brain_step refused, a device error, or a
 * non-finite motor or state: a device fault): zero motors flagged fault go
 * out, and its brain is reset to a fresh field from its seed (brain_reset),
 * which keeps running from there; the other robots' brains are untouched.
 * The event is emitted at the first fault and then at most once a second,
 * with the count since the last one. */
static void brain_fault(loop *lp, loop_robot *r, int rc, int64_t t)
{
    r->brain_errors++;
    if (brain_reset(r->b) != 0)
        r->reset_failed++;
    if (r->brain_errors - r->fault_at_emit >= 1 &&
        (r->fault_emit_ns == 0 || t - r->fault_emit_ns >= NS_PER_S)) {
        emit(lp, r, LOOP_EVENT_BRAIN_FAULT, rc, r->brain_errors - r->fault_at_emit, t);
        r->fault_at_emit = r->brain_errors;
        r->fault_emit_ns = t;
    }
}

/* ---- commands ---- */

int loop_command_submit(loop *lp, const loop_command *cmd)
{
    if (atomic_load_explicit(&lp->cmd_state, memory_order_acquire) != CMD_IDLE)
        return LOOP_ERR_BUSY;
    lp->cmd = *cmd;
    atomic_store_explicit(&lp->cmd_state, CMD_SUBMITTED, memory_order_release);
    return LOOP_OK;
}

int loop_command_withdraw(loop *lp)
{
    int expected = CMD_SUBMITTED;
    return atomic_compare_exchange_strong_explicit(&lp->cmd_state, &expected, CMD_IDLE,
                                                   memory_order_acq_rel, memory_order_acquire);
}

int loop_command_poll(loop *lp, loop_command_result *out)
{
    int st = atomic_load_explicit(&lp->cmd_state, memory_order_acquire);
    if (st == CMD_IDLE)
        return LOOP_ERR_PARAM;
    if (st != CMD_DONE)
        return 0;
    *out = lp->cmd_result;
    atomic_store_explicit(&lp->cmd_state, CMD_IDLE, memory_order_release);
    return 1;
}

void loop_get_status(loop *lp, uint32_t robot, loop_status *s)
{
    const loop_robot *r = &lp->robots[robot < lp->n ? robot : 0];
    int64_t period = atomic_load_explicit(&lp->st_period_ns, memory_order_relaxed);
    *s = (loop_status){
        .cycle = atomic_load_explicit(&r->st_cycle, memory_order_relaxed),
        .brain_cycle = atomic_load_explicit(&r->st_brain_cycle, memory_order_relaxed),
        .overruns = atomic_load_explicit(&lp->st_overruns, memory_order_relaxed),
        .brain_faults = atomic_load_explicit(&r->st_faults, memory_order_relaxed),
        .received = atomic_load_explicit(&r->st_received, memory_order_relaxed),
        .published = atomic_load_explicit(&r->st_published, memory_order_relaxed),
        .bad_total = atomic_load_explicit(&r->st_bad, memory_order_relaxed),
        .rate_hz = period > 0 ? 1e9 / (double)period : 0.0,
        .paused = atomic_load_explicit(&r->st_paused, memory_order_relaxed),
        .link_lost = atomic_load_explicit(&r->st_lost, memory_order_relaxed),
        .robot_id = r->id,
    };
}

uint32_t loop_robot_count(const loop *lp) { return lp->n; }
uint32_t loop_robot_id(const loop *lp, uint32_t robot) { return lp->robots[robot < lp->n ? robot : 0].id; }
brain *loop_robot_brain(loop *lp, uint32_t robot) { return robot < lp->n ? lp->robots[robot].b : NULL; }
int loop_robot_index(const loop *lp, uint32_t robot_id) { return link_robot_index(lp->l, robot_id); }

/* key of p (an entry of brain_param_table) set to v. */
static void param_set(brain_params *p, const brain_param_info *k, double v)
{
    char *field = (char *)p + k->offset;
    switch (k->type) {
    case BRAIN_PARAM_U32: *(uint32_t *)(void *)field = (uint32_t)v; break;
    case BRAIN_PARAM_U64: *(uint64_t *)(void *)field = (uint64_t)v; break;
    case BRAIN_PARAM_FLOAT: *(float *)(void *)field = (float)v; break;
    }
}

/* The command's work on one robot's brain; 0 or a negative code with the
 * sentence in r->err. */
static int command_on_robot(loop *lp, loop_robot *rb, const loop_command *c, loop_command_result *r)
{
    int rc = 0;
    switch (c->kind) {
    case LOOP_CMD_PARAMS:
        return brain_set_params(rb->b, &c->params, r->err, sizeof r->err);
    case LOOP_CMD_PARAM: {
        if (!c->param)
            return fb_fail(r->err, sizeof r->err, LOOP_ERR_PARAM, "a parameter without a key");
        brain_params p = *brain_get_params(rb->b);
        param_set(&p, c->param, c->value);
        return brain_set_params(rb->b, &p, r->err, sizeof r->err);
    }
    case LOOP_CMD_PAUSE:
    case LOOP_CMD_RESUME:
        rb->paused = c->kind == LOOP_CMD_PAUSE;
        atomic_store_explicit(&rb->st_paused, rb->paused, memory_order_relaxed);
        return 0;
    case LOOP_CMD_RESET:
        rc = brain_reset(rb->b);
        if (rc)
            fb_fail(r->err, sizeof r->err, rc, "reset: %s", brain_strerror(rc));
        return rc;
    case LOOP_CMD_SAVED:
        return 0;
    case LOOP_CMD_SNAPSHOT:
        rc = c->snapshot ? brain_snapshot_take(rb->b, c->snapshot) : LOOP_ERR_PARAM;
        r->brain_cycle = brain_get_cycle(rb->b);
        if (rc)
            fb_fail(r->err, sizeof r->err, rc, "save: the state could not be read (%s)",
                    brain_strerror(rc));
        return rc;
    default:
        (void)lp;
        return fb_fail(r->err, sizeof r->err, LOOP_ERR_PARAM, "unknown command %d", (int)c->kind);
    }
}

/* The pending command, if any, applied on the loop's thread at the start of
 * a tick, before any robot's cycle: a copy, brain calls, events; nothing
 * waits. Each robot's event names the cycle of its next motor message. */
static void take_command(loop *lp, int64_t t)
{
    int expected = CMD_SUBMITTED;
    if (!atomic_compare_exchange_strong_explicit(&lp->cmd_state, &expected, CMD_TAKEN,
                                                 memory_order_acq_rel, memory_order_relaxed))
        return;
    const loop_command *c = &lp->cmd;
    loop_command_result *r = &lp->cmd_result;
    bool fleet = c->kind == LOOP_CMD_RATE || c->kind == LOOP_CMD_CALL;
    bool all = !fleet && c->robot == LOOP_ALL_ROBOTS;
    uint32_t first = fleet || all ? 0 : c->robot;
    *r = (loop_command_result){0};
    if (first >= lp->n || (all && (c->kind == LOOP_CMD_SNAPSHOT || c->kind == LOOP_CMD_PARAMS ||
                                   c->kind == LOOP_CMD_SAVED))) {
        r->rc = fb_fail(r->err, sizeof r->err, LOOP_ERR_PARAM,
                        all ? "this command takes one robot, not every robot"
                            : "robot %u: the fleet has robots 0 to %u", first, lp->n - 1);
        atomic_store_explicit(&lp->cmd_state, CMD_DONE, memory_order_release);
        return;
    }
    r->cycle = lp->robots[first].cycle + 1;
    r->brain_cycle = brain_get_cycle(lp->robots[first].b) + 1;
    loop_event_kind kind = LOOP_EVENT_PARAM_CHANGED;
    if (c->kind == LOOP_CMD_RATE) {
        if (lp->mode != LOOP_FIXED_RATE || !(c->rate_hz > 0 && c->rate_hz <= 1e6)) {
            r->rc = fb_fail(r->err, sizeof r->err, LOOP_ERR_PARAM, "loop.rate_hz: %s",
                            lp->mode != LOOP_FIXED_RATE
                                ? "the loop runs in lockstep (a cycle per sensor message): a rate has no effect"
                                : "out of range (0, 1000000]");
        } else {
            lp->period_ns = llround(1e9 / c->rate_hz);
            if (lp->period_ns < 1)
                lp->period_ns = 1;
            atomic_store_explicit(&lp->st_period_ns, lp->period_ns, memory_order_relaxed);
        }
    } else if (c->kind == LOOP_CMD_CALL) {
        r->rc = c->call ? c->call(c->call_user, r->err, sizeof r->err)
                        : fb_fail(r->err, sizeof r->err, LOOP_ERR_PARAM, "a call without a function");
    } else {
        uint32_t last = all ? lp->n - 1 : first;
        for (uint32_t i = first; i <= last && r->rc == 0; i++)
            r->rc = command_on_robot(lp, &lp->robots[i], c, r);
        kind = c->kind == LOOP_CMD_PAUSE ? LOOP_EVENT_PAUSED :
               c->kind == LOOP_CMD_RESUME ? LOOP_EVENT_RESUMED :
               c->kind == LOOP_CMD_RESET ? LOOP_EVENT_RESET :
               c->kind == LOOP_CMD_SNAPSHOT ? LOOP_EVENT_KINDS /* its event comes when written */ :
               c->kind == LOOP_CMD_SAVED ? (c->saved_ok ? LOOP_EVENT_CHECKPOINT_WRITTEN
                                                        : LOOP_EVENT_CHECKPOINT_FAILED) :
               LOOP_EVENT_PARAM_CHANGED;
    }
    if (r->rc == 0 && kind != LOOP_EVENT_KINDS) {
        /* Once per robot it changed: each robot's telemetry tells its own story. */
        uint32_t last = fleet || all ? lp->n - 1 : first;
        for (uint32_t i = first; i <= last; i++) {
            loop_robot *rb = &lp->robots[i];
            /* a reset's count: the first brain cycle stepped from the fresh
             * field (the reply's brain_cycle); a save's: the cycle saved */
            uint64_t count = kind == LOOP_EVENT_RESET ? brain_get_cycle(rb->b) + 1
                           : c->kind == LOOP_CMD_SAVED ? c->saved_cycle : 0;
            loop_event e = {.kind = kind, .cycle = c->kind == LOOP_CMD_SAVED ? rb->cycle : rb->cycle + 1,
                            .time_ns = t, .robot_id = rb->id, .count = count};
            memcpy(e.key, c->key, sizeof e.key);
            memcpy(e.old_value, c->old_value, sizeof e.old_value);
            memcpy(e.new_value, c->new_value, sizeof e.new_value);
            e.key[LOOP_TEXT - 1] = e.old_value[LOOP_TEXT - 1] = e.new_value[LOOP_TEXT - 1] = '\0';
            emit_event(lp, &e);
        }
    }
    atomic_store_explicit(&lp->cmd_state, CMD_DONE, memory_order_release);
}

/* Robot r's link state at the start of its cycle: a fresh message is held,
 * a restored link or a lost one (no valid message for link.timeout_ms) is
 * an event at this cycle. */
static void robot_take_sensors(loop *lp, loop_robot *r, const link_sensor *s, int64_t wake)
{
    if (s->fresh) {
        memcpy(r->held, s->values, lp->n_sensors * sizeof(float));
        r->last_valid_ns = s->recv_ns;
        r->answer_seq = s->seq;
        r->answer_time_ns = s->time_ns;
        if (r->lost) {
            r->lost = false;
            emit(lp, r, LOOP_EVENT_LINK_RESTORED, 0, 0, wake);
        }
    } else if (!r->lost && wake - r->last_valid_ns > lp->timeout_ns) {
        r->lost = true;
        r->link_losses++;
        emit(lp, r, LOOP_EVENT_LINK_LOST, 0, 0, wake);
    }
}

/* After the fleet step: robot i's motors out (what it is sent kept in r
 * for its report). */
static void robot_finish(loop *lp, uint32_t i, int64_t wake)
{
    loop_robot *r = &lp->robots[i];
    bool step = lp->step[i];
    bool ok = !step || lp->step_rc[i] == 0;
    brain_stats st = r->last;
    if (step) {
        for (uint32_t k = 0; ok && k < lp->n_motors; k++)
            if (!isfinite(r->motors[k]))
                ok = false;  /* never a NaN to a motor */
        if (ok) {
            st = lp->stats[i];
            r->last = st;
        } else {
            brain_fault(lp, r, lp->step_rc[i] ? lp->step_rc[i] : BRAIN_ERR_NONFINITE, wake);
        }
    }
    if (!step || !ok) {
        /* Nothing measured this cycle: the brain's own cycle and the last
         * measured energy and saturation; no step ran. */
        st.cycle = brain_get_cycle(r->b);
        st.activity = -1.0f;
        st.gpu_ms = -1.0;
        st.diffused = st.noised = st.energized = false;
    }
    r->out = r->lost || !ok || r->paused ? lp->zeros : r->motors;
    uint8_t flags = (uint8_t)((r->lost ? WIRE_FLAG_LINK_LOST : 0) | (ok ? 0 : WIRE_FLAG_FAULT) |
                              (r->paused ? WIRE_FLAG_STOP : 0));
    r->sent_ns = now_ns(lp);
    link_publish(lp->l, i, r->out, flags, r->cycle, r->answer_seq, r->answer_time_ns, r->sent_ns);
    r->stepped = step && ok;
    r->fault = !ok;
    r->st = st;
}

/* Robot i's report, after the tick's timing is recorded. */
static void robot_report(loop *lp, uint32_t i, int64_t wake, int64_t lateness)
{
    loop_robot *r = &lp->robots[i];
    loop_cycle_report rep = {
        .cycle = r->cycle, .time_ns = r->sent_ns, .lateness_ns = lateness,
        .work_ns = r->sent_ns - wake, .gpu_ms = r->st.gpu_ms, .lateness = lp->lat,
        .work = lp->work, .gpu = lp->gpu, .lateness_hist = lp->hist, .overruns = lp->overruns,
        .skipped_ticks = lp->skipped_ticks, .motors = r->out, .n_motors = lp->n_motors,
        .sensors = lp->used[i], .n_sensors = lp->n_sensors,
        .stepped = r->stepped, .fault = r->fault, .brain_faults = r->brain_errors,
        .brain = r->st,
        .sensor_age_ns = r->answer_seq ? r->sent_ns - r->last_valid_ns : -1,
        .robot_id = r->id, .robot = i, .n_robots = lp->n, .link_lost = r->lost,
        .answer_seq = r->answer_seq, .link = *link_robot_counters(lp->l, i),
    };
    for (int k = 0; k < LOOP_MAX_HOOKS; k++)
        if (lp->cycle_hooks[k].fn)
            lp->cycle_hooks[k].fn(&rep, lp->cycle_hooks[k].user);
    atomic_store_explicit(&r->st_cycle, r->cycle, memory_order_relaxed);
    atomic_store_explicit(&r->st_brain_cycle, brain_get_cycle(r->b), memory_order_relaxed);
    atomic_store_explicit(&r->st_faults, r->brain_errors, memory_order_relaxed);
    atomic_store_explicit(&r->st_received, rep.link.received, memory_order_relaxed);
    atomic_store_explicit(&r->st_published, rep.link.published, memory_order_relaxed);
    atomic_store_explicit(&r->st_bad, rep.link.bad_total, memory_order_relaxed);
    atomic_store_explicit(&r->st_lost, r->lost, memory_order_relaxed);
}

/* One tick: a cycle for every robot whose `due` is set (fixed_rate: all;
 * lockstep: those with a message, or whose link state is due), the brains
 * of those whose step[] is set stepped together in one brain_fleet_step.
 * Each robot's cycle number (the seq of its motor message) is counted
 * first, so that the events it emits carry the cycle whose motors show
 * them. */
static void tick(loop *lp, int64_t wake, int64_t lateness)
{
    lp->ticks++;
    take_command(lp, wake);
    for (uint32_t i = 0; i < lp->n; i++) {
        loop_robot *r = &lp->robots[i];
        if (!r->due) {
            lp->step[i] = false;
            continue;
        }
        r->cycle++;
        robot_take_sensors(lp, r, &lp->sensors[i], wake);
        lp->step[i] = lp->step[i] && !r->paused;
        /* Lost: the field runs on with no input rather than a stale one. */
        lp->used[i] = r->lost ? lp->zeros : r->held;
    }
    brain_fleet_step(lp->fleet, lp->step, lp->used, lp->motor_ptrs, lp->stats, lp->step_rc);
    int64_t gpu = -1;
    for (uint32_t i = 0; i < lp->n; i++)
        if (lp->robots[i].due) {
            robot_finish(lp, i, wake);
            int64_t g = lp->robots[i].st.gpu_ms >= 0 ? (int64_t)(lp->robots[i].st.gpu_ms * 1e6) : -1;
            gpu = g > gpu ? g : gpu;  /* the slowest brain's */
        }
    int64_t end = now_ns(lp);
    record_timing(lp, lateness, end - wake, gpu);
    for (uint32_t i = 0; i < lp->n; i++) {
        if (lp->robots[i].due)
            robot_report(lp, i, wake, lateness);
        lp->robots[i].due = false;
    }
    atomic_store_explicit(&lp->st_overruns, lp->overruns, memory_order_relaxed);
    check_bursts(lp, end, false);
    check_autosave(lp, end);
}

static void go_realtime(loop *lp)
{
    /* The default 50 us timer slack would show up as wake-up lateness. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    if (!lp->realtime && lp->cpu < 0)
        return;
    if (lp->realtime) {
        /* Startup only: these messages are the warnings the issue asks for. */
        if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
            fprintf(stderr, "fieldbrain: warning: loop.realtime: mlockall refused (%s); running without locked memory\n",
                    strerror(errno));
        struct sched_param sp = {.sched_priority = 50};
        int e = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
        if (e != 0)
            fprintf(stderr, "fieldbrain: warning: loop.realtime: SCHED_FIFO refused (%s); running at normal priority\n",
                    strerror(e));
    }
    if (lp->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(lp->cpu, &set);
        int e = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
        if (e != 0)
            fprintf(stderr, "fieldbrain: warning: loop.cpu: cannot pin to CPU %d (%s); running unpinned\n",
                    lp->cpu, strerror(e));
    }
}

static void run_fixed_rate(loop *lp, volatile sig_atomic_t *stop)
{
    int64_t next = now_ns(lp) + lp->period_ns;
    while (!*stop) {
        int r = lp->clock.sleep_until(lp->clock.user, next);
        if (r == EINTR)
            continue;  /* a signal: look at *stop, then sleep on to the same deadline */
        int64_t wake = now_ns(lp);
        link_recv(lp->l, true, wake, lp->sensors);
        for (uint32_t i = 0; i < lp->n; i++)
            lp->robots[i].due = lp->step[i] = true;
        tick(lp, wake, wake - next);
        int64_t end = now_ns(lp);
        next += lp->period_ns;
        if (end > next) {
            /* Skip the missed ticks instead of running them in a burst. */
            int64_t missed = (end - next) / lp->period_ns + 1;
            lp->overruns++;
            lp->skipped_ticks += (uint64_t)missed;
            next += missed * lp->period_ns;
        }
    }
}

/* Lockstep: a robot with a message has a cycle that steps its brain. One
 * without has a cycle that does not step when its link is lost now (no
 * valid message for link.timeout_ms) and, while it stays lost, every 100
 * ms: a zero message flagged link_lost, which a robot that has just
 * subscribed waits for before it sends its first sensors, so it never
 * misses the answer to them (PROTOCOL.md, lockstep). */
static void run_lockstep(loop *lp, volatile sig_atomic_t *stop)
{
    while (!*stop) {
        int64_t t = now_ns(lp);
        link_recv(lp->l, false, t, lp->sensors);
        bool any = false;
        int64_t wait_ns = 100 * 1000000LL;
        for (uint32_t i = 0; i < lp->n; i++) {
            loop_robot *r = &lp->robots[i];
            bool fresh = lp->sensors[i].fresh;
            bool beat = !fresh && ((!r->lost && t - r->last_valid_ns > lp->timeout_ns) ||
                                   (r->lost && t - r->heartbeat_ns >= LOCKSTEP_HEARTBEAT_NS));
            if (beat)
                r->heartbeat_ns = t;
            r->due = fresh || beat;
            lp->step[i] = fresh;
            any = any || r->due;
            int64_t left = r->lost ? r->heartbeat_ns + LOCKSTEP_HEARTBEAT_NS - t
                                   : r->last_valid_ns + lp->timeout_ns - t;
            if (!r->due && left < wait_ns)
                wait_ns = left;
        }
        if (any) {
            tick(lp, t, 0);
            continue;
        }
        take_command(lp, t);  /* no cycle now: from the next one */
        check_bursts(lp, t, false);
        check_autosave(lp, t);
        int64_t wait_ms = wait_ns / 1000000 + 1;
        if (!link_holds_message(lp->l))
            link_wait(lp->l, (int)(wait_ms < 100 ? wait_ms : 100));
    }
}

/* The exit checkpoint of robot r: 0, or a negative code with the reason
 * printed. */
static int save_on_exit(loop *lp, loop_robot *r, brain_snapshot **s)
{
    char err[256];
    loop_event e = {.kind = LOOP_EVENT_CHECKPOINT_WRITTEN, .cycle = r->cycle, .time_ns = now_ns(lp),
                    .robot_id = r->id, .count = brain_get_cycle(r->b)};
    int src = LOOP_ERR_NOMEM;
    if (!*s && brain_snapshot_create(r->b, s) != 0)
        snprintf(err, sizeof err, "out of memory for a checkpoint");
    else if ((src = brain_snapshot_take(r->b, *s)) != 0)
        snprintf(err, sizeof err, "reading the field back failed: %s", brain_strerror(src));
    else
        src = save_snapshot(r, *s, err, sizeof err);
    char who[32];
    robot_label(lp, r->id, who, sizeof who);
    if (src < 0) {
        fprintf(stderr, "fieldbrain: exit checkpoint failed%s: %s\n", who, err);
        e.kind = LOOP_EVENT_CHECKPOINT_FAILED;
    } else {
        fprintf(stderr, "fieldbrain: checkpoint written to %s (brain cycle %llu)%s\n", r->ckpt_path,
                (unsigned long long)brain_get_cycle(r->b), who);
    }
    call_event_hooks(lp, &e);
    return src < 0 ? LOOP_ERR_BRAIN : LOOP_OK;
}

int loop_run(loop *lp, volatile sig_atomic_t *stop)
{
    go_realtime(lp);
    int64_t t0 = now_ns(lp);
    lp->next_save_ns = t0 + lp->ckpt_every_ns;
    for (uint32_t i = 0; i < lp->n; i++) {
        lp->robots[i].last_valid_ns = t0;
        emit(lp, &lp->robots[i], LOOP_EVENT_START, 0, 0, t0);  /* cycle 0: before the first */
    }
    if (lp->mode == LOOP_LOCKSTEP)
        run_lockstep(lp, stop);
    else
        run_fixed_rate(lp, stop);

    /* Shutdown: the cycle in progress has finished. */
    int64_t t = now_ns(lp);
    check_bursts(lp, t, true);
    for (uint32_t i = 0; i < lp->n; i++) {
        loop_robot *r = &lp->robots[i];
        r->cycle++;
        link_publish(lp->l, i, lp->zeros, WIRE_FLAG_STOP | (r->lost ? WIRE_FLAG_LINK_LOST : 0),
                     r->cycle, r->answer_seq, r->answer_time_ns, t);
        emit(lp, r, LOOP_EVENT_SHUTDOWN, 0, 0, t);
    }
    keeper_stop(lp);  /* finishes a pending autosave and prints the events */

    int rc = LOOP_OK;
    if (lp->ckpt_on_exit) {
        brain_snapshot *s = lp->snap;
        for (uint32_t i = 0; i < lp->n; i++)
            if (lp->robots[i].ckpt_path[0] && save_on_exit(lp, &lp->robots[i], &s) != LOOP_OK)
                rc = LOOP_ERR_BRAIN;
        if (s != lp->snap)
            brain_snapshot_destroy(&s);
    }

    if (lp->ticks <= lp->win_n && lp->win_pos > 0) {
        /* Fewer ticks than one window: summarise what there is. */
        lp->lat = window_of(lp->win_lat, lp->win_scratch, lp->win_pos);
        lp->work = window_of(lp->win_work, lp->win_scratch, lp->win_pos);
    }
    loop_summary s;
    loop_get_summary(lp, &s);
    char bad[512];
    size_t n = 0;
    for (int r = 0; r < WIRE_BAD_REASONS && n < sizeof bad; r++)
        n += (size_t)snprintf(bad + n, sizeof bad - n, " %s=%llu", wire_bad_name(r),
                              (unsigned long long)s.link.bad[r]);
    fprintf(stderr,
            "fieldbrain: summary: cycles=%llu overruns=%llu skipped_ticks=%llu received=%llu "
            "skipped=%llu published=%llu brain_errors=%llu bad=%llu%s "
            "lateness_ns p50=%lld p99=%lld max=%lld work_ns p50=%lld p99=%lld max=%lld peers_cut=%llu peers_refused=%llu\n",
            (unsigned long long)s.cycles, (unsigned long long)s.overruns,
            (unsigned long long)s.skipped_ticks, (unsigned long long)s.link.received,
            (unsigned long long)s.link.skipped, (unsigned long long)s.link.published,
            (unsigned long long)s.brain_errors, (unsigned long long)s.link.bad_total, bad,
            (long long)s.lateness.p50_ns, (long long)s.lateness.p99_ns, (long long)s.lateness.max_ns,
            (long long)s.work.p50_ns, (long long)s.work.p99_ns, (long long)s.work.max_ns,
            (unsigned long long)s.link.peers_cut, (unsigned long long)s.link.peers_refused);
    for (uint32_t i = 0; lp->n > 1 && i < lp->n; i++) {
        loop_robot_summary rs;
        loop_get_robot_summary(lp, i, &rs);
        fprintf(stderr,
                "fieldbrain: summary: robot %u: cycles=%llu brain_cycle=%llu received=%llu "
                "skipped=%llu published=%llu brain_errors=%llu link_losses=%llu bad=%llu\n",
                rs.robot_id, (unsigned long long)rs.cycles, (unsigned long long)rs.brain_cycle,
                (unsigned long long)rs.link.received, (unsigned long long)rs.link.skipped,
                (unsigned long long)rs.link.published, (unsigned long long)rs.brain_errors,
                (unsigned long long)rs.link_losses, (unsigned long long)rs.link.bad_total);
    }
    return rc;
}

void loop_get_summary(const loop *lp, loop_summary *out)
{
    *out = (loop_summary){
        .overruns = lp->overruns, .skipped_ticks = lp->skipped_ticks,
        .link = *link_get_counters(lp->l), .lateness = lp->lat, .work = lp->work,
    };
    for (uint32_t i = 0; i < lp->n; i++) {
        out->cycles += lp->robots[i].cycle;
        out->brain_errors += lp->robots[i].brain_errors;
    }
}

void loop_get_robot_summary(const loop *lp, uint32_t robot, loop_robot_summary *out)
{
    const loop_robot *r = &lp->robots[robot < lp->n ? robot : 0];
    *out = (loop_robot_summary){
        .robot_id = r->id, .cycles = r->cycle, .brain_cycle = brain_get_cycle(r->b),
        .brain_errors = r->brain_errors, .link_losses = r->link_losses,
        .link = *link_robot_counters(lp->l, robot < lp->n ? robot : 0),
    };
}
