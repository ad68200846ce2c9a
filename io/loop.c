/* loop.c: the fixed-rate and lockstep control loops. The loop's thread only
 * receives, steps, publishes and records numbers into buffers allocated at
 * creation; a keeper thread prints events and warnings and writes autosaved
 * checkpoints, handed over through atomics so the loop never waits on it.
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
#define EVENT_RING 64   /* a power of two */
#define KEEPER_PERIOD_NS (20 * 1000000LL)
#define LOCKSTEP_HEARTBEAT_NS (100 * 1000000LL)

enum { SNAP_IDLE = 0, SNAP_PENDING, SNAP_DONE, SNAP_FAILED };

struct loop {
    loop_clock clock;
    brain *b;
    robot_link *l;
    loop_mode mode;
    int64_t period_ns;
    bool realtime;
    int cpu;
    int64_t timeout_ns;
    char ckpt_path[IO_STR];
    int64_t ckpt_every_ns;
    bool ckpt_on_exit;

    uint32_t n_sensors, n_motors;
    float *held;        /* last valid sensor vector */
    float *zeros;       /* n_sensors (>= n_motors) zeros */
    float *motors;

    /* timing windows */
    uint32_t win_n, win_pos;
    int64_t *win_lat, *win_work, *win_gpu, *win_scratch;
    loop_window lat, work, gpu;
    uint64_t hist[LOOP_HIST_BINS];
    uint64_t overruns, skipped_ticks;

    /* link state */
    bool lost;
    int64_t last_valid_ns;
    uint64_t answer_seq, answer_time_ns;
    uint64_t cycle;
    int64_t heartbeat_ns;
    uint64_t brain_errors;      /* cycles that failed (brain_fault) */
    uint64_t reset_failed;      /* brain_reset failed too after a fault */
    brain_stats last;           /* of the last cycle that stepped */
    int64_t fault_emit_ns;
    uint64_t fault_at_emit;

    /* rate limits of burst events */
    int64_t bad_emit_ns[WIRE_BAD_REASONS];
    uint64_t bad_at_emit[WIRE_BAD_REASONS];
    int64_t overrun_emit_ns;
    uint64_t overrun_at_emit;

    struct { loop_cycle_hook fn; void *user; } cycle_hooks[LOOP_MAX_HOOKS];
    struct { loop_event_hook fn; void *user; } event_hooks[LOOP_MAX_HOOKS];

    /* loop -> keeper */
    loop_event ring[EVENT_RING];
    atomic_uint ring_head;   /* written by the loop */
    atomic_uint ring_tail;   /* written by the keeper */
    uint64_t events_dropped;
    brain_snapshot *snap;
    brain_ckpt_files *ckpt_files;  /* held from the start: saves need no new descriptor */
    atomic_int snap_state;
    char snap_err[256];
    int64_t next_save_ns;
    pthread_t keeper;
    bool keeper_running;
    atomic_bool keeper_stop;

    /* commands (loop_command_submit) and what loop_get_status reads */
    bool paused;
    atomic_int cmd_state;
    loop_command cmd;
    loop_command_result cmd_result;
    _Atomic uint64_t st_cycle, st_brain_cycle, st_overruns, st_faults;
    _Atomic uint64_t st_received, st_published, st_bad;
    _Atomic int64_t st_period_ns;
    atomic_bool st_paused, st_lost;
};

enum { CMD_IDLE = 0, CMD_SUBMITTED, CMD_DONE };

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
        "param_changed", "paused", "resumed", "reset",
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

static void print_event(const loop *lp, const loop_event *e)
{
    switch (e->kind) {
    case LOOP_EVENT_BAD_INPUT_BURST:
        fprintf(stderr, "fieldbrain: warning: dropped %llu bad sensor message(s): %s (%llu so far)\n",
                (unsigned long long)e->count, wire_bad_name(e->reason),
                (unsigned long long)link_get_counters(lp->l)->bad[e->reason]);
        break;
    case LOOP_EVENT_BRAIN_FAULT:
        fprintf(stderr, "fieldbrain: error: %llu failed brain cycle(s), the last at cycle %llu (%s): "
                "motors went out as zeros flagged fault and the brain was reset to a fresh field "
                "from its seed\n",
                (unsigned long long)e->count, (unsigned long long)e->cycle, brain_strerror(e->reason));
        break;
    case LOOP_EVENT_OVERRUN_BURST:
        fprintf(stderr, "fieldbrain: warning: %llu overrun(s) at cycle %llu: work ran past the deadline, ticks skipped\n",
                (unsigned long long)e->count, (unsigned long long)e->cycle);
        break;
    case LOOP_EVENT_PARAM_CHANGED:
        fprintf(stderr, "fieldbrain: %s changed from %s to %s at cycle %llu\n", e->key, e->old_value,
                e->new_value, (unsigned long long)e->cycle);
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
    if (head - tail >= EVENT_RING) {
        lp->events_dropped++;
        return;
    }
    lp->ring[head % EVENT_RING] = e;
    atomic_store_explicit(&lp->ring_head, head + 1, memory_order_release);
}

static void emit(loop *lp, loop_event_kind kind, int reason, uint64_t count, int64_t t)
{
    loop_event e = {.kind = kind, .cycle = lp->cycle, .time_ns = t,
                    .robot_id = link_robot_id(lp->l), .reason = reason, .count = count};
    emit_event(lp, &e);
}

static void keeper_drain(loop *lp)
{
    unsigned tail = atomic_load_explicit(&lp->ring_tail, memory_order_relaxed);
    unsigned head = atomic_load_explicit(&lp->ring_head, memory_order_acquire);
    while (tail != head) {
        print_event(lp, &lp->ring[tail % EVENT_RING]);
        tail++;
        atomic_store_explicit(&lp->ring_tail, tail, memory_order_release);
    }
}

/* Through the files held since create when they could be opened (so that
 * idle connections that took every descriptor cannot stop a save), else by
 * path. */
static int save_snapshot(loop *lp, const brain_snapshot *s, char *err, size_t err_len)
{
    if (lp->ckpt_files)
        return brain_snapshot_save_held(s, lp->ckpt_files, err, err_len);
    return brain_snapshot_save(s, lp->ckpt_path, err, err_len);
}

static void keeper_save(loop *lp)
{
    if (atomic_load_explicit(&lp->snap_state, memory_order_acquire) != SNAP_PENDING)
        return;
    int rc = save_snapshot(lp, lp->snap, lp->snap_err, sizeof lp->snap_err);
    if (rc < 0)
        fprintf(stderr, "fieldbrain: autosave failed: %s\n", lp->snap_err);
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

int loop_create(const loop_options *o, const loop_checkpoint_options *ck, brain *b, robot_link *l,
                loop **out, char *err, size_t err_len)
{
    *out = NULL;
    if (o->mode == LOOP_FIXED_RATE && !(o->rate_hz > 0 && o->rate_hz <= 1e6))
        return fb_fail(err, err_len, LOOP_ERR_PARAM, "loop.rate_hz: %g is out of range (0, 1000000]",
                       o->rate_hz);
    if (o->stats_window < 1)
        return fb_fail(err, err_len, LOOP_ERR_PARAM, "loop.stats_window: must be at least 1");
    loop *lp = calloc(1, sizeof *lp);
    if (!lp)
        return fb_fail(err, err_len, LOOP_ERR_NOMEM, "loop: out of memory");
    const brain_params *p = brain_get_params(b);
    lp->clock = (loop_clock){monotonic_now_ns, monotonic_sleep_until, NULL};
    lp->b = b;
    lp->l = l;
    lp->mode = o->mode;
    lp->period_ns = o->mode == LOOP_FIXED_RATE ? llround(1e9 / o->rate_hz) : 0;
    if (lp->period_ns < 1)
        lp->period_ns = 1;
    lp->realtime = o->realtime;
    lp->cpu = o->cpu;
    lp->timeout_ns = (int64_t)link_timeout_ms(l) * 1000000LL;
    snprintf(lp->ckpt_path, sizeof lp->ckpt_path, "%s", ck->path);
    lp->ckpt_every_ns = lp->ckpt_path[0] && ck->every_s > 0
                            ? (int64_t)llround(ck->every_s * 1e9) : 0;
    lp->ckpt_on_exit = lp->ckpt_path[0] && ck->on_exit;
    lp->n_sensors = p->sensors;
    lp->n_motors = p->motors;
    size_t nz = (p->sensors > p->motors ? p->sensors : p->motors) + 1u;
    lp->held = calloc(nz, sizeof(float));
    lp->zeros = calloc(nz, sizeof(float));
    lp->motors = calloc(nz, sizeof(float));
    lp->win_n = o->stats_window;
    lp->win_lat = calloc(lp->win_n, sizeof(int64_t));
    lp->win_work = calloc(lp->win_n, sizeof(int64_t));
    lp->win_gpu = calloc(lp->win_n, sizeof(int64_t));
    lp->win_scratch = calloc(lp->win_n, sizeof(int64_t));
    int rc = LOOP_ERR_NOMEM;
    if (!lp->held || !lp->zeros || !lp->motors || !lp->win_lat || !lp->win_work || !lp->win_gpu ||
        !lp->win_scratch)
        goto fail;
    if (lp->ckpt_every_ns && brain_snapshot_create(b, &lp->snap) < 0)
        goto fail;
    /* A path that cannot be opened now is tried again by name at each save,
     * which then says what is wrong. */
    if ((lp->ckpt_every_ns || lp->ckpt_on_exit) &&
        brain_ckpt_files_open(lp->ckpt_path, &lp->ckpt_files, NULL, 0) != 0)
        lp->ckpt_files = NULL;
    lp->lost = true;  /* no robot yet: zero motors until the first valid message */
    lp->last = (brain_stats){.cycle = brain_get_cycle(b), .energy = NAN, .saturated = NAN,
                             .activity = -1.0f, .gpu_ms = -1.0};
    atomic_init(&lp->ring_head, 0);
    atomic_init(&lp->ring_tail, 0);
    atomic_init(&lp->snap_state, SNAP_IDLE);
    atomic_init(&lp->keeper_stop, false);
    atomic_init(&lp->cmd_state, CMD_IDLE);
    atomic_init(&lp->st_period_ns, lp->mode == LOOP_FIXED_RATE ? lp->period_ns : 0);
    atomic_init(&lp->st_brain_cycle, brain_get_cycle(b));
    atomic_init(&lp->st_lost, true);
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
    brain_ckpt_files_close(&lp->ckpt_files);
    brain_snapshot_destroy(&lp->snap);
    free(lp->win_scratch);
    free(lp->win_gpu);
    free(lp->win_work);
    free(lp->win_lat);
    free(lp->motors);
    free(lp->zeros);
    free(lp->held);
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

/* Bursts of bad input and overruns: at most one event a second each. */
static void check_bursts(loop *lp, int64_t t)
{
    const link_counters *lc = link_get_counters(lp->l);
    for (int r = 0; r < WIRE_BAD_REASONS; r++) {
        if (lc->bad[r] > lp->bad_at_emit[r] && t - lp->bad_emit_ns[r] >= NS_PER_S) {
            emit(lp, LOOP_EVENT_BAD_INPUT_BURST, r, lc->bad[r] - lp->bad_at_emit[r], t);
            lp->bad_at_emit[r] = lc->bad[r];
            lp->bad_emit_ns[r] = t;
        }
    }
    if (lp->overruns > lp->overrun_at_emit && t - lp->overrun_emit_ns >= NS_PER_S) {
        emit(lp, LOOP_EVENT_OVERRUN_BURST, 0, lp->overruns - lp->overrun_at_emit, t);
        lp->overrun_at_emit = lp->overruns;
        lp->overrun_emit_ns = t;
    }
}

static void check_autosave(loop *lp, int64_t t)
{
    int st = atomic_load_explicit(&lp->snap_state, memory_order_acquire);
    if (st == SNAP_DONE || st == SNAP_FAILED) {
        emit(lp, st == SNAP_DONE ? LOOP_EVENT_CHECKPOINT_WRITTEN : LOOP_EVENT_CHECKPOINT_FAILED, 0,
             brain_snapshot_cycle(lp->snap), t);
        atomic_store_explicit(&lp->snap_state, SNAP_IDLE, memory_order_release);
        st = SNAP_IDLE;
    }
    if (!lp->ckpt_every_ns || st != SNAP_IDLE || t < lp->next_save_ns)
        return;
    /* The one readback on this thread; the disk write is the keeper's. */
    if (brain_snapshot_take(lp->b, lp->snap) == 0)
        atomic_store_explicit(&lp->snap_state, SNAP_PENDING, memory_order_release);
    lp->next_save_ns = t + lp->ckpt_every_ns;
}

/* A failed cycle (brain_step refused, a device error, or a non-finite motor
 * or state: a device fault): zero motors flagged fault go out, and the brain
 * is reset to a fresh field from its seed (brain_reset), which keeps running
 * from there. The event is emitted at the first fault and then at most once
 * a second, with the count since the last one. */
static void brain_fault(loop *lp, int rc, int64_t t)
{
    lp->brain_errors++;
    if (brain_reset(lp->b) != 0)
        lp->reset_failed++;
    if (lp->brain_errors - lp->fault_at_emit >= 1 &&
        (lp->fault_emit_ns == 0 || t - lp->fault_emit_ns >= NS_PER_S)) {
        emit(lp, LOOP_EVENT_BRAIN_FAULT, rc, lp->brain_errors - lp->fault_at_emit, t);
        lp->fault_at_emit = lp->brain_errors;
        lp->fault_emit_ns = t;
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

void loop_get_status(loop *lp, loop_status *s)
{
    int64_t period = atomic_load_explicit(&lp->st_period_ns, memory_order_relaxed);
    *s = (loop_status){
        .cycle = atomic_load_explicit(&lp->st_cycle, memory_order_relaxed),
        .brain_cycle = atomic_load_explicit(&lp->st_brain_cycle, memory_order_relaxed),
        .overruns = atomic_load_explicit(&lp->st_overruns, memory_order_relaxed),
        .brain_faults = atomic_load_explicit(&lp->st_faults, memory_order_relaxed),
        .received = atomic_load_explicit(&lp->st_received, memory_order_relaxed),
        .published = atomic_load_explicit(&lp->st_published, memory_order_relaxed),
        .bad_total = atomic_load_explicit(&lp->st_bad, memory_order_relaxed),
        .rate_hz = period > 0 ? 1e9 / (double)period : 0.0,
        .paused = atomic_load_explicit(&lp->st_paused, memory_order_relaxed),
        .link_lost = atomic_load_explicit(&lp->st_lost, memory_order_relaxed),
        .robot_id = link_robot_id(lp->l),
    };
}

/* The pending command, if any, applied on the loop's thread before cycle
 * `at` runs: a copy, one brain call, an event; nothing waits. */
static void take_command(loop *lp, uint64_t at, int64_t t)
{
    if (atomic_load_explicit(&lp->cmd_state, memory_order_acquire) != CMD_SUBMITTED)
        return;
    const loop_command *c = &lp->cmd;
    loop_command_result *r = &lp->cmd_result;
    *r = (loop_command_result){.cycle = at, .brain_cycle = brain_get_cycle(lp->b) + 1};
    loop_event e = {.cycle = at, .time_ns = t, .robot_id = link_robot_id(lp->l)};
    switch (c->kind) {
    case LOOP_CMD_PARAMS:
        r->rc = brain_set_params(lp->b, &c->params, r->err, sizeof r->err);
        e.kind = LOOP_EVENT_PARAM_CHANGED;
        break;
    case LOOP_CMD_RATE:
        if (lp->mode != LOOP_FIXED_RATE || !(c->rate_hz > 0 && c->rate_hz <= 1e6)) {
            r->rc = fb_fail(r->err, sizeof r->err, LOOP_ERR_PARAM, "loop.rate_hz: %s",
                            lp->mode != LOOP_FIXED_RATE
                                ? "the loop runs in lockstep (a cycle per sensor message): a rate has no effect"
                                : "out of range (0, 1000000]");
            break;
        }
        lp->period_ns = llround(1e9 / c->rate_hz);
        if (lp->period_ns < 1)
            lp->period_ns = 1;
        atomic_store_explicit(&lp->st_period_ns, lp->period_ns, memory_order_relaxed);
        e.kind = LOOP_EVENT_PARAM_CHANGED;
        break;
    case LOOP_CMD_PAUSE:
    case LOOP_CMD_RESUME:
        lp->paused = c->kind == LOOP_CMD_PAUSE;
        atomic_store_explicit(&lp->st_paused, lp->paused, memory_order_relaxed);
        e.kind = lp->paused ? LOOP_EVENT_PAUSED : LOOP_EVENT_RESUMED;
        break;
    case LOOP_CMD_RESET:
        r->rc = brain_reset(lp->b);
        if (r->rc)
            fb_fail(r->err, sizeof r->err, r->rc, "reset: %s", brain_strerror(r->rc));
        e.kind = LOOP_EVENT_RESET;
        e.count = brain_get_cycle(lp->b);
        break;
    case LOOP_CMD_SNAPSHOT:
        r->rc = c->snapshot ? brain_snapshot_take(lp->b, c->snapshot) : LOOP_ERR_PARAM;
        r->brain_cycle = brain_get_cycle(lp->b);
        if (r->rc)
            fb_fail(r->err, sizeof r->err, r->rc, "save: the state could not be read (%s)",
                    brain_strerror(r->rc));
        e.kind = LOOP_EVENT_KINDS; /* the save's own event comes when it is written */
        break;
    case LOOP_CMD_CALL:
        r->rc = c->call ? c->call(c->call_user, r->err, sizeof r->err)
                        : fb_fail(r->err, sizeof r->err, LOOP_ERR_PARAM, "a call without a function");
        e.kind = LOOP_EVENT_PARAM_CHANGED;
        break;
    default:
        r->rc = fb_fail(r->err, sizeof r->err, LOOP_ERR_PARAM, "unknown command %d", (int)c->kind);
        e.kind = LOOP_EVENT_KINDS;
        break;
    }
    if (r->rc == 0 && e.kind != LOOP_EVENT_KINDS) {
        memcpy(e.key, c->key, sizeof e.key);
        memcpy(e.old_value, c->old_value, sizeof e.old_value);
        memcpy(e.new_value, c->new_value, sizeof e.new_value);
        e.key[LOOP_TEXT - 1] = e.old_value[LOOP_TEXT - 1] = e.new_value[LOOP_TEXT - 1] = '\0';
        emit_event(lp, &e);
    }
    atomic_store_explicit(&lp->cmd_state, CMD_DONE, memory_order_release);
}

/* One cycle. s: what the link gave this tick; step: run the brain. The
 * cycle's number (the seq of its motor message) is counted first, so that
 * the events it emits carry the cycle whose motors show them. */
static void cycle(loop *lp, const link_sensor *s, int64_t wake, int64_t lateness, bool step)
{
    lp->cycle++;
    take_command(lp, lp->cycle, wake);
    step = step && !lp->paused;
    if (s->fresh) {
        memcpy(lp->held, s->values, lp->n_sensors * sizeof(float));
        lp->last_valid_ns = s->recv_ns;
        lp->answer_seq = s->seq;
        lp->answer_time_ns = s->time_ns;
        if (lp->lost) {
            lp->lost = false;
            emit(lp, LOOP_EVENT_LINK_RESTORED, 0, 0, wake);
        }
    } else if (!lp->lost && wake - lp->last_valid_ns > lp->timeout_ns) {
        lp->lost = true;
        emit(lp, LOOP_EVENT_LINK_LOST, 0, 0, wake);
    }

    brain_stats st = lp->last;
    bool ok = true;
    const float *used = lp->lost ? lp->zeros : lp->held;
    if (step) {
        /* Lost: the field runs on with no input rather than a stale one. */
        int rc = brain_step(lp->b, used, lp->n_sensors, lp->motors, &st);
        for (uint32_t i = 0; rc == 0 && i < lp->n_motors; i++)
            if (!isfinite(lp->motors[i]))
                rc = BRAIN_ERR_NONFINITE;  /* never a NaN to a motor */
        ok = rc == 0;
        if (ok) {
            lp->last = st;
        } else {
            brain_fault(lp, rc, wake);
            st = lp->last;
        }
    }
    if (!step || !ok) {
        /* Nothing measured this cycle: the brain's own cycle and the last
         * measured energy and saturation; no step ran. */
        st.cycle = brain_get_cycle(lp->b);
        st.activity = -1.0f;
        st.gpu_ms = -1.0;
        st.diffused = st.noised = st.energized = false;
    }
    const float *out = lp->lost || !ok || lp->paused ? lp->zeros : lp->motors;
    uint8_t flags = (uint8_t)((lp->lost ? WIRE_FLAG_LINK_LOST : 0) | (ok ? 0 : WIRE_FLAG_FAULT) |
                              (lp->paused ? WIRE_FLAG_STOP : 0));
    int64_t t = now_ns(lp);
    link_publish(lp->l, out, flags, lp->cycle, lp->answer_seq, lp->answer_time_ns, t);
    int64_t work = t - wake;
    record_timing(lp, lateness, work, st.gpu_ms >= 0 ? (int64_t)(st.gpu_ms * 1e6) : -1);

    loop_cycle_report r = {
        .cycle = lp->cycle, .time_ns = t, .lateness_ns = lateness, .work_ns = work,
        .gpu_ms = st.gpu_ms, .lateness = lp->lat, .work = lp->work, .gpu = lp->gpu,
        .lateness_hist = lp->hist, .overruns = lp->overruns,
        .skipped_ticks = lp->skipped_ticks, .motors = out, .n_motors = lp->n_motors,
        .sensors = used, .n_sensors = lp->n_sensors,
        .stepped = step && ok, .fault = !ok, .brain_faults = lp->brain_errors, .brain = st,
        .sensor_age_ns = lp->answer_seq ? t - lp->last_valid_ns : -1,
        .robot_id = link_robot_id(lp->l), .link_lost = lp->lost,
        .answer_seq = lp->answer_seq, .link = *link_get_counters(lp->l),
    };
    for (int i = 0; i < LOOP_MAX_HOOKS; i++)
        if (lp->cycle_hooks[i].fn)
            lp->cycle_hooks[i].fn(&r, lp->cycle_hooks[i].user);
    atomic_store_explicit(&lp->st_cycle, lp->cycle, memory_order_relaxed);
    atomic_store_explicit(&lp->st_brain_cycle, brain_get_cycle(lp->b), memory_order_relaxed);
    atomic_store_explicit(&lp->st_overruns, lp->overruns, memory_order_relaxed);
    atomic_store_explicit(&lp->st_faults, lp->brain_errors, memory_order_relaxed);
    atomic_store_explicit(&lp->st_received, r.link.received, memory_order_relaxed);
    atomic_store_explicit(&lp->st_published, r.link.published, memory_order_relaxed);
    atomic_store_explicit(&lp->st_bad, r.link.bad_total, memory_order_relaxed);
    atomic_store_explicit(&lp->st_lost, lp->lost, memory_order_relaxed);
    check_bursts(lp, t);
    check_autosave(lp, t);
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
    link_sensor s;
    while (!*stop) {
        int r = lp->clock.sleep_until(lp->clock.user, next);
        if (r == EINTR)
            continue;  /* a signal: look at *stop, then sleep on to the same deadline */
        int64_t wake = now_ns(lp);
        link_recv(lp->l, true, wake, &s);
        cycle(lp, &s, wake, wake - next, true);
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

static void run_lockstep(loop *lp, volatile sig_atomic_t *stop)
{
    link_sensor s;
    while (!*stop) {
        int64_t t = now_ns(lp);
        link_recv(lp->l, false, t, &s);
        if (s.fresh) {
            cycle(lp, &s, t, 0, true);
            continue;
        }
        /* Losing the link publishes a zero message flagged link_lost, and
         * while it stays lost one more every 100 ms: a robot that has just
         * subscribed waits for one before it sends its first sensors, so it
         * never misses the answer to them (PROTOCOL.md, lockstep). */
        if ((!lp->lost && t - lp->last_valid_ns > lp->timeout_ns) ||
            (lp->lost && t - lp->heartbeat_ns >= LOCKSTEP_HEARTBEAT_NS)) {
            lp->heartbeat_ns = t;
            cycle(lp, &s, t, 0, false);
            continue;
        }
        take_command(lp, lp->cycle + 1, t);  /* no cycle now: from the next one */
        check_bursts(lp, t);
        check_autosave(lp, t);
        int64_t left_ms = lp->lost ? (lp->heartbeat_ns + LOCKSTEP_HEARTBEAT_NS - t) / 1000000 + 1
                                   : (lp->last_valid_ns + lp->timeout_ns - t) / 1000000 + 1;
        link_wait(lp->l, (int)(left_ms < 100 ? left_ms : 100));
    }
}

int loop_run(loop *lp, volatile sig_atomic_t *stop)
{
    go_realtime(lp);
    int64_t t0 = now_ns(lp);
    lp->last_valid_ns = t0;
    lp->next_save_ns = t0 + lp->ckpt_every_ns;
    emit(lp, LOOP_EVENT_START, 0, 0, t0);  /* cycle 0: before the first */
    if (lp->mode == LOOP_LOCKSTEP)
        run_lockstep(lp, stop);
    else
        run_fixed_rate(lp, stop);

    /* Shutdown: the cycle in progress has finished. */
    int64_t t = now_ns(lp);
    lp->cycle++;
    link_publish(lp->l, lp->zeros, WIRE_FLAG_STOP | (lp->lost ? WIRE_FLAG_LINK_LOST : 0),
                 lp->cycle, lp->answer_seq, lp->answer_time_ns, t);
    emit(lp, LOOP_EVENT_SHUTDOWN, 0, 0, t);
    keeper_stop(lp);  /* finishes a pending autosave and prints the events */

    int rc = LOOP_OK;
    if (lp->ckpt_on_exit) {
        char err[256];
        loop_event e = {.kind = LOOP_EVENT_CHECKPOINT_WRITTEN, .cycle = lp->cycle, .time_ns = now_ns(lp),
                        .robot_id = link_robot_id(lp->l), .count = brain_get_cycle(lp->b)};
        int src = LOOP_ERR_NOMEM;
        brain_snapshot *s = lp->snap;
        if (!s && brain_snapshot_create(lp->b, &s) != 0)
            snprintf(err, sizeof err, "out of memory for a checkpoint");
        else if ((src = brain_snapshot_take(lp->b, s)) != 0)
            snprintf(err, sizeof err, "reading the field back failed: %s", brain_strerror(src));
        else
            src = save_snapshot(lp, s, err, sizeof err);
        if (s != lp->snap)
            brain_snapshot_destroy(&s);
        if (src < 0) {
            fprintf(stderr, "fieldbrain: exit checkpoint failed: %s\n", err);
            e.kind = LOOP_EVENT_CHECKPOINT_FAILED;
            rc = LOOP_ERR_BRAIN;
        } else {
            fprintf(stderr, "fieldbrain: checkpoint written to %s (brain cycle %llu)\n", lp->ckpt_path,
                    (unsigned long long)brain_get_cycle(lp->b));
        }
        call_event_hooks(lp, &e);
    }

    if (lp->cycle <= lp->win_n && lp->win_pos > 0) {
        /* Fewer cycles than one window: summarise what there is. */
        lp->lat = window_of(lp->win_lat, lp->win_scratch, lp->win_pos);
        lp->work = window_of(lp->win_work, lp->win_scratch, lp->win_pos);
    }
    const link_counters *lc = link_get_counters(lp->l);
    char bad[512];
    size_t n = 0;
    for (int r = 0; r < WIRE_BAD_REASONS && n < sizeof bad; r++)
        n += (size_t)snprintf(bad + n, sizeof bad - n, " %s=%llu", wire_bad_name(r),
                              (unsigned long long)lc->bad[r]);
    fprintf(stderr,
            "fieldbrain: summary: cycles=%llu overruns=%llu skipped_ticks=%llu received=%llu "
            "skipped=%llu published=%llu brain_errors=%llu bad=%llu%s "
            "lateness_ns p50=%lld p99=%lld max=%lld work_ns p50=%lld p99=%lld max=%lld\n",
            (unsigned long long)lp->cycle, (unsigned long long)lp->overruns,
            (unsigned long long)lp->skipped_ticks, (unsigned long long)lc->received,
            (unsigned long long)lc->skipped, (unsigned long long)lc->published,
            (unsigned long long)lp->brain_errors, (unsigned long long)lc->bad_total, bad,
            (long long)lp->lat.p50_ns, (long long)lp->lat.p99_ns, (long long)lp->lat.max_ns,
            (long long)lp->work.p50_ns, (long long)lp->work.p99_ns, (long long)lp->work.max_ns);
    return rc;
}

void loop_get_summary(const loop *lp, loop_summary *out)
{
    *out = (loop_summary){
        .cycles = lp->cycle, .overruns = lp->overruns, .skipped_ticks = lp->skipped_ticks,
        .brain_errors = lp->brain_errors, .link = *link_get_counters(lp->l),
        .lateness = lp->lat, .work = lp->work,
    };
}
