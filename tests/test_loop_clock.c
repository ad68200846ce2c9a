/* test_loop_clock.c: the control loop in this process, on a clock the test
 * owns (loop_set_clock): the fixed-rate schedule, overruns and skipped ticks
 * follow that clock exactly, so these tests count cycles without any
 * wall-clock threshold and run in parallel with everything else. The link
 * binds real ZeroMQ sockets on 127.0.0.1; a subscriber reads the motors.
 */
#include "harness.h"
#include "brain.h"
#include "link.h"
#include "loop.h"
#include "wire.h"

#include <errno.h>
#include <signal.h>
#include <zmq.h>

#define MS 1000000LL

/* Simulated time: sleeping jumps to the deadline; every reading of the
 * clock costs `work_ns` (the time a cycle's work takes). Past `end_ns` the
 * next sleep stops the loop. */
typedef struct {
    int64_t now_ns, work_ns, end_ns;
    volatile sig_atomic_t *stop;
} fake_clock;

static int64_t fake_now(void *user)
{
    fake_clock *f = user;
    f->now_ns += f->work_ns;
    return f->now_ns;
}

static int fake_sleep_until(void *user, int64_t deadline_ns)
{
    fake_clock *f = user;
    if (deadline_ns > f->end_ns) {
        *f->stop = 1;
        return EINTR;
    }
    if (deadline_ns > f->now_ns)
        f->now_ns = deadline_ns;
    return 0;
}

typedef struct {
    uint64_t cycles, stepped, faults, flagged_fault, last_overruns, last_skipped;
    uint64_t first_fault_cycle;
    int nonfinite_motors;
} tally;

/* user: one tally per robot of the fleet. */
static void count_cycle(const loop_cycle_report *r, void *user)
{
    tally *t = (tally *)user + r->robot;
    t->cycles++;
    t->stepped += r->stepped;
    t->last_overruns = r->overruns;
    t->last_skipped = r->skipped_ticks;
    if (r->fault) {
        t->flagged_fault++;
        if (!t->first_fault_cycle)
            t->first_fault_cycle = r->cycle;
    }
    t->faults = r->brain_faults;
    for (uint32_t i = 0; i < r->n_motors; i++)
        t->nonfinite_motors += !isfinite(r->motors[i]);
}

typedef struct {
    brain_fleet *fleet;
    brain *b;
    robot_link *l;
    loop *lp;
} rig;

/* A fleet of n CPU brains (seeds: the default + 0, 1, ...), robots 1 .. n. */
static int rig_open_fleet(rig *r, double rate_hz, uint32_t n)
{
    memset(r, 0, sizeof *r);
    char err[512];
    brain_params p;
    brain_params_default(&p);
    p.size_x = p.size_y = p.size_z = 8;
    p.channels = 8;
    p.backend = BRAIN_BACKEND_CPU;
    p.threads = 1;
    uint64_t seeds[8];
    uint32_t ids[8];
    for (uint32_t i = 0; i < n && i < 8; i++) {
        seeds[i] = p.seed + i;
        ids[i] = i + 1;
    }
    if (brain_fleet_create(&p, seeds, n, &r->fleet, err, sizeof err) < 0) {
        fprintf(stderr, "brain: %s\n", err);
        return -1;
    }
    r->b = brain_fleet_brain(r->fleet, 0);
    link_options lo = {.timeout_ms = 500, .max_message_bytes = 65536, .robot_id = 1,
                       .sensor_limit = 1000};
    snprintf(lo.sensor_endpoint, sizeof lo.sensor_endpoint, "tcp://127.0.0.1:*");
    snprintf(lo.motor_endpoint, sizeof lo.motor_endpoint, "tcp://127.0.0.1:*");
    if (link_create(&lo, ids, n, p.sensors, p.motors, &r->l, err, sizeof err) < 0) {
        fprintf(stderr, "link: %s\n", err);
        return -1;
    }
    loop_options o = {.mode = LOOP_FIXED_RATE, .rate_hz = rate_hz, .cpu = -1, .stats_window = 100};
    loop_checkpoint_options ck[8] = {{.path = ""}};
    if (loop_create(&o, ck, r->fleet, r->l, &r->lp, err, sizeof err) < 0) {
        fprintf(stderr, "loop: %s\n", err);
        return -1;
    }
    return 0;
}

static int rig_open(rig *r, double rate_hz)
{
    return rig_open_fleet(r, rate_hz, 1);
}

static void rig_close(rig *r)
{
    loop_destroy(&r->lp);
    link_destroy(&r->l);
    brain_fleet_destroy(&r->fleet);
}

static void run_on(rig *r, fake_clock *f, tally *t)
{
    volatile sig_atomic_t stop = 0;
    f->stop = &stop;
    loop_clock c = {fake_now, fake_sleep_until, f};
    loop_set_clock(r->lp, &c);
    loop_add_cycle_hook(r->lp, count_cycle, t);
    loop_run(r->lp, &stop);
    loop_remove_cycle_hook(r->lp, count_cycle, t);
}

TEST(fixed_rate_runs_one_cycle_per_period_of_its_clock)
{
    rig r;
    CHECK(rig_open(&r, 200) == 0);
    fake_clock f = {.now_ns = 1000 * MS, .work_ns = 0, .end_ns = 1000 * MS + 10000 * MS};
    tally t = {0};
    run_on(&r, &f, &t);
    /* 10 s at 200 Hz: a deadline every 5 ms, the first one period in. */
    CHECK_EQ_INT(t.cycles, 2000);
    CHECK_EQ_INT(t.stepped, 2000);
    CHECK_EQ_INT(t.last_overruns, 0);
    CHECK_EQ_INT(t.last_skipped, 0);
    CHECK_EQ_INT(brain_get_cycle(r.b), 2000);
    rig_close(&r);
}

TEST(work_longer_than_the_period_skips_ticks_instead_of_bursting)
{
    rig r;
    CHECK(rig_open(&r, 500) == 0);  /* 2 ms period */
    /* Each reading of the clock costs 1 ms: a cycle takes longer than a
     * period, so every cycle overruns and the missed ticks are skipped. */
    fake_clock f = {.now_ns = 0, .work_ns = 1 * MS, .end_ns = 1000 * MS};
    tally t = {0};
    run_on(&r, &f, &t);
    CHECK(t.cycles > 100);
    CHECK_EQ_INT(t.last_overruns, t.cycles - 1);  /* the last one's overrun is counted after its report */
    /* Every tick of the second either ran a cycle or was skipped. */
    CHECK_MSG(t.cycles + t.last_skipped >= 490 && t.cycles + t.last_skipped <= 500,
              "%llu cycles + %llu skipped", (unsigned long long)t.cycles,
              (unsigned long long)t.last_skipped);
    rig_close(&r);
}

TEST(a_failed_cycle_goes_out_flagged_and_the_brain_resets)
{
    rig r;
    CHECK(rig_open(&r, 100) == 0);
    /* A NaN in the field at the first motor's spot: the first cycle's motor
     * is NaN, as a device fault would make it. */
    uint64_t n = brain_field_count(r.b);
    float *f = malloc(n * sizeof *f);
    CHECK(f);
    CHECK_EQ_INT(brain_read_field(r.b, f), 0);
    const uint32_t *ms = brain_motor_spots(r.b);
    const brain_params *p = brain_get_params(r.b);
    f[(((uint64_t)ms[0] * p->size_y + ms[1]) * p->size_z + ms[2]) * p->channels] = NAN;
    CHECK_EQ_INT(brain_write_field(r.b, f), 0);
    free(f);
    fake_clock fc = {.now_ns = 0, .work_ns = 0, .end_ns = 1000 * MS};
    tally t = {0};
    run_on(&r, &fc, &t);
    CHECK_EQ_INT(t.cycles, 100);
    CHECK_EQ_INT(t.flagged_fault, 1);
    CHECK_EQ_INT(t.first_fault_cycle, 1);
    CHECK_EQ_INT(t.faults, 1);
    CHECK_EQ_INT(t.stepped, 99);
    CHECK_EQ_INT(t.nonfinite_motors, 0);
    /* Reset at cycle 1: the brain's counter did not count the failed one. */
    CHECK_EQ_INT(brain_get_cycle(r.b), 99);
    rig_close(&r);
}

/* ---- commands (loop_command_submit) ---- */

typedef struct {
    int paused, changed;
    uint64_t paused_cycle;
    char detail[160];
} seen_events;

static void see_event(const loop_event *e, void *user)
{
    seen_events *s = user;
    if (e->kind == LOOP_EVENT_PAUSED) {
        s->paused++;
        s->paused_cycle = e->cycle;
    } else if (e->kind == LOOP_EVENT_PARAM_CHANGED) {
        s->changed++;
        snprintf(s->detail, sizeof s->detail, "%s %s %s", e->key, e->old_value, e->new_value);
    }
}

/* A command waits in its slot until the start of the next cycle; the result
 * names that cycle. Paused, the loop never steps and flags its motors stop. */
TEST(a_pause_applies_at_the_start_of_the_next_cycle_and_stops_stepping)
{
    rig r;
    CHECK(rig_open(&r, 100) == 0);
    seen_events ev = {0};
    CHECK_EQ_INT(loop_add_event_hook(r.lp, see_event, &ev), 0);
    loop_command c = {.kind = LOOP_CMD_PAUSE};
    loop_command_result res;
    CHECK_EQ_INT(loop_command_poll(r.lp, &res), LOOP_ERR_PARAM);
    CHECK_EQ_INT(loop_command_submit(r.lp, &c), 0);
    CHECK_EQ_INT(loop_command_submit(r.lp, &c), LOOP_ERR_BUSY);
    CHECK_EQ_INT(loop_command_poll(r.lp, &res), 0);
    fake_clock f = {.now_ns = 0, .work_ns = 0, .end_ns = 1000 * MS};
    tally t = {0};
    run_on(&r, &f, &t);
    CHECK_EQ_INT(loop_command_poll(r.lp, &res), 1);
    CHECK_EQ_INT(res.rc, 0);
    CHECK_EQ_INT(res.cycle, 1);
    CHECK_EQ_INT(t.cycles, 100);
    CHECK_EQ_INT(t.stepped, 0);
    CHECK_EQ_INT(brain_get_cycle(r.b), 0);
    CHECK_EQ_INT(ev.paused, 1);
    CHECK_EQ_INT(ev.paused_cycle, 1);
    loop_status st;
    loop_get_status(r.lp, 0, &st);
    CHECK(st.paused && st.cycle == 100 && st.rate_hz == 100);
    rig_close(&r);
}

/* A command taken back before the loop took it is never applied, and frees
 * the slot; one the loop has taken cannot be taken back. */
TEST(a_withdrawn_command_is_never_applied)
{
    rig r;
    CHECK(rig_open(&r, 100) == 0);
    seen_events ev = {0};
    CHECK_EQ_INT(loop_add_event_hook(r.lp, see_event, &ev), 0);
    loop_command c = {.kind = LOOP_CMD_PAUSE};
    loop_command_result res;
    CHECK_EQ_INT(loop_command_withdraw(r.lp), 0); /* nothing to take back */
    CHECK_EQ_INT(loop_command_submit(r.lp, &c), 0);
    CHECK_EQ_INT(loop_command_withdraw(r.lp), 1);
    CHECK_EQ_INT(loop_command_poll(r.lp, &res), LOOP_ERR_PARAM); /* the slot is free */
    fake_clock f = {.now_ns = 0, .work_ns = 0, .end_ns = 200 * MS};
    tally t = {0};
    run_on(&r, &f, &t);
    CHECK_EQ_INT(t.stepped, 20);
    CHECK_EQ_INT(ev.paused, 0);
    /* taken and done: too late to take back, its result waits */
    CHECK_EQ_INT(loop_command_submit(r.lp, &c), 0);
    f = (fake_clock){.now_ns = 0, .work_ns = 0, .end_ns = 100 * MS};
    run_on(&r, &f, &t);
    CHECK_EQ_INT(loop_command_withdraw(r.lp), 0);
    CHECK_EQ_INT(loop_command_poll(r.lp, &res), 1);
    CHECK_EQ_INT(ev.paused, 1);
    rig_close(&r);
}

/* A rate set live gives its cycles per second from the next tick; new
 * parameters reach the brain, with their event. */
TEST(rate_and_params_change_while_running)
{
    rig r;
    CHECK(rig_open(&r, 100) == 0);
    seen_events ev = {0};
    CHECK_EQ_INT(loop_add_event_hook(r.lp, see_event, &ev), 0);
    loop_command c = {.kind = LOOP_CMD_RATE, .rate_hz = 50};
    snprintf(c.key, sizeof c.key, "loop.rate_hz");
    snprintf(c.old_value, sizeof c.old_value, "100");
    snprintf(c.new_value, sizeof c.new_value, "50");
    CHECK_EQ_INT(loop_command_submit(r.lp, &c), 0);
    fake_clock f = {.now_ns = 0, .work_ns = 0, .end_ns = 1000 * MS};
    tally t = {0};
    run_on(&r, &f, &t);
    loop_command_result res;
    CHECK_EQ_INT(loop_command_poll(r.lp, &res), 1);
    CHECK_EQ_INT(res.rc, 0);
    /* the first tick at 10 ms, then one every 20 ms to 1 s */
    CHECK_EQ_INT(t.cycles, 50);
    CHECK_MSG(strcmp(ev.detail, "loop.rate_hz 100 50") == 0, "%s", ev.detail);

    loop_command p = {.kind = LOOP_CMD_PARAMS, .params = *brain_get_params(r.b)};
    p.params.motor_gain = 9.0f;
    CHECK_EQ_INT(loop_command_submit(r.lp, &p), 0);
    f.end_ns += 100 * MS;
    run_on(&r, &f, &t);
    CHECK_EQ_INT(loop_command_poll(r.lp, &res), 1);
    CHECK_EQ_INT(res.rc, 0);
    CHECK(brain_get_params(r.b)->motor_gain == 9.0f);
    /* and one the brain refuses comes back with its sentence */
    p.params.size_x = 9;
    CHECK_EQ_INT(loop_command_submit(r.lp, &p), 0);
    f.end_ns += 100 * MS;
    run_on(&r, &f, &t);
    CHECK_EQ_INT(loop_command_poll(r.lp, &res), 1);
    CHECK_EQ_INT(res.rc, BRAIN_ERR_PARAM);
    CHECK_MSG(strstr(res.err, "size"), "%s", res.err);
    rig_close(&r);
}

/* ---- a fleet ---- */

/* A NaN in brain's field at its first motor's spot: its next cycle's motor
 * is NaN, as a device fault would make it. 0 or -1. */
static int poison(brain *b)
{
    uint64_t n = brain_field_count(b);
    float *f = malloc(n * sizeof *f);
    int rc = f && brain_read_field(b, f) == 0 ? 0 : -1;
    if (rc == 0) {
        const uint32_t *ms = brain_motor_spots(b);
        const brain_params *p = brain_get_params(b);
        f[(((uint64_t)ms[0] * p->size_y + ms[1]) * p->size_z + ms[2]) * p->channels] = NAN;
        rc = brain_write_field(b, f) == 0 ? 0 : -1;
    }
    free(f);
    return rc;
}

/* Whether b's field, momentum and cycle equal those of a brain made alone
 * with its parameters and stepped `cycles` times with zero sensors. */
static bool same_as_alone(brain *b, uint64_t cycles)
{
    brain *a = NULL;
    if (brain_create(brain_get_params(b), &a, NULL, 0) != 0)
        return false;
    float zeros[64] = {0}, motors[64], ma[64], mb[64];
    bool same = true;
    for (uint64_t c = 0; same && c < cycles; c++)
        same = brain_step(a, zeros, brain_get_params(a)->sensors, motors, NULL) == 0;
    uint64_t n = brain_field_count(b);
    float *fa = malloc(n * sizeof *fa), *fb = malloc(n * sizeof *fb);
    uint32_t ch = brain_get_params(b)->channels;
    same = same && fa && fb && brain_read_field(a, fa) == 0 && brain_read_field(b, fb) == 0 &&
           brain_read_momentum(a, ma) == 0 && brain_read_momentum(b, mb) == 0 &&
           memcmp(fa, fb, n * sizeof *fa) == 0 && memcmp(ma, mb, ch * sizeof *ma) == 0 &&
           brain_get_cycle(a) == brain_get_cycle(b);
    free(fb);
    free(fa);
    brain_destroy(&a);
    return same;
}

/* One robot's failed cycle resets its brain only: the others step on bit
 * for bit as brains alone. */
TEST(one_robots_failed_cycle_resets_its_brain_only)
{
    rig r;
    CHECK(rig_open_fleet(&r, 100, 3) == 0);
    CHECK_EQ_INT(poison(brain_fleet_brain(r.fleet, 1)), 0);
    fake_clock fc = {.now_ns = 0, .work_ns = 0, .end_ns = 1000 * MS};
    tally t[3] = {{0}};
    run_on(&r, &fc, t);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(t[i].cycles, 100);
        CHECK_EQ_INT(t[i].nonfinite_motors, 0);
    }
    CHECK_EQ_INT(t[1].flagged_fault, 1);
    CHECK_EQ_INT(t[1].faults, 1);
    CHECK_EQ_INT(t[1].stepped, 99);
    CHECK_EQ_INT(brain_get_cycle(brain_fleet_brain(r.fleet, 1)), 99);
    CHECK_EQ_INT(t[0].flagged_fault + t[2].flagged_fault, 0);
    CHECK_EQ_INT(t[0].stepped, 100);
    CHECK_EQ_INT(t[2].stepped, 100);
    CHECK(same_as_alone(brain_fleet_brain(r.fleet, 0), 100));
    CHECK(same_as_alone(brain_fleet_brain(r.fleet, 2), 100));
    loop_robot_summary rs;
    loop_get_robot_summary(r.lp, 1, &rs);
    CHECK(rs.robot_id == 2 && rs.brain_errors == 1 && rs.cycles == 101);
    loop_summary s;
    loop_get_summary(r.lp, &s);
    CHECK_EQ_INT(s.brain_errors, 1);
    CHECK_EQ_INT(s.cycles, 303);  /* each robot's 100 and its stop message */
    rig_close(&r);
}

/* A command names one robot or every robot; each brain keeps its own
 * other values and seed. */
TEST(commands_take_one_robot_or_every_robot)
{
    rig r;
    CHECK(rig_open_fleet(&r, 100, 3) == 0);
    seen_events ev = {0};
    CHECK_EQ_INT(loop_add_event_hook(r.lp, see_event, &ev), 0);
    loop_command c = {.kind = LOOP_CMD_PAUSE, .robot = 1};
    CHECK_EQ_INT(loop_command_submit(r.lp, &c), 0);
    fake_clock f = {.now_ns = 0, .work_ns = 0, .end_ns = 500 * MS};
    tally t[3] = {{0}};
    run_on(&r, &f, t);
    loop_command_result res;
    CHECK_EQ_INT(loop_command_poll(r.lp, &res), 1);
    CHECK_EQ_INT(res.rc, 0);
    CHECK(t[0].stepped == 50 && t[1].stepped == 0 && t[2].stepped == 50);
    CHECK_EQ_INT(ev.paused, 1);
    loop_status st;
    loop_get_status(r.lp, 1, &st);
    CHECK(st.paused && st.robot_id == 2);
    loop_get_status(r.lp, 0, &st);
    CHECK(!st.paused && st.robot_id == 1);
    CHECK_EQ_INT(loop_robot_index(r.lp, 3), 2);
    CHECK_EQ_INT(loop_robot_index(r.lp, 9), -1);

    /* One key for every robot: each keeps its seed. */
    size_t nkeys;
    const brain_param_info *tab = brain_param_table(&nkeys), *gain = NULL;
    for (size_t k = 0; k < nkeys; k++)
        if (strcmp(tab[k].key, "motor_gain") == 0)
            gain = &tab[k];
    CHECK(gain != NULL);
    c = (loop_command){.kind = LOOP_CMD_PARAM, .robot = LOOP_ALL_ROBOTS, .param = gain, .value = 3.5};
    snprintf(c.key, sizeof c.key, "brain.motor_gain");
    CHECK_EQ_INT(loop_command_submit(r.lp, &c), 0);
    /* A snapshot of every robot at once is refused. */
    f.end_ns = f.now_ns + 100 * MS;
    run_on(&r, &f, t);
    CHECK_EQ_INT(loop_command_poll(r.lp, &res), 1);
    CHECK_MSG(res.rc == 0, "%s", res.err);
    for (uint32_t i = 0; i < 3; i++) {
        const brain_params *p = brain_get_params(brain_fleet_brain(r.fleet, i));
        CHECK(p->motor_gain == 3.5f);
        CHECK_EQ_INT(p->seed, brain_get_params(brain_fleet_brain(r.fleet, 0))->seed + i);
    }
    CHECK_EQ_INT(ev.changed, 3);
    c = (loop_command){.kind = LOOP_CMD_SNAPSHOT, .robot = LOOP_ALL_ROBOTS};
    CHECK_EQ_INT(loop_command_submit(r.lp, &c), 0);
    f.end_ns = f.now_ns + 50 * MS;
    run_on(&r, &f, t);
    CHECK_EQ_INT(loop_command_poll(r.lp, &res), 1);
    CHECK(res.rc == LOOP_ERR_PARAM && strstr(res.err, "one robot"));
    c = (loop_command){.kind = LOOP_CMD_RESET, .robot = 7};
    CHECK_EQ_INT(loop_command_submit(r.lp, &c), 0);
    f.end_ns = f.now_ns + 50 * MS;
    run_on(&r, &f, t);
    CHECK_EQ_INT(loop_command_poll(r.lp, &res), 1);
    CHECK(res.rc == LOOP_ERR_PARAM && strstr(res.err, "robots 0 to 2"));
    rig_close(&r);
}

