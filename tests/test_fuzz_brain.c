/* test_fuzz_brain.c: a running brain (CPU backend, the real link and the
 * fixed-rate loop on its own thread, in this process so that ASan and UBSan
 * watch all of it) fed a fixed sequence of random, mutated and valid sensor
 * frames over a real ZeroMQ socket: every frame is counted once, as received
 * or as bad, no motor is ever non-finite, and the state stays finite.
 */
#include "harness.h"
#include "brain.h"
#include "link.h"
#include "loop.h"
#include "wire.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>
#include <zmq.h>

#define SENSORS 16
#define FRAMES 20000

typedef struct {
    _Atomic uint64_t taken;   /* received + bad, as the loop's thread last saw it */
    _Atomic uint64_t nonfinite_motors, cycles;
} watch;

static void on_cycle(const loop_cycle_report *r, void *user)
{
    watch *w = user;
    for (uint32_t i = 0; i < r->n_motors; i++)
        if (!isfinite(r->motors[i]))
            atomic_fetch_add(&w->nonfinite_motors, 1);
    atomic_store(&w->taken, r->link.received + r->link.bad_total);
    atomic_fetch_add(&w->cycles, 1);
}

typedef struct {
    loop *lp;
    volatile sig_atomic_t stop;
} runner;

static void *run_loop(void *arg)
{
    runner *r = arg;
    loop_run(r->lp, &r->stop);
    return NULL;
}

/* One frame of the sequence into buf (up to cap bytes); *multipart: send it
 * twice as two frames of one message. */
static size_t make_frame(uint64_t *rng, uint8_t *buf, size_t cap, int *multipart)
{
    float v[SENSORS];
    for (int i = 0; i < SENSORS; i++)
        v[i] = (float)((double)harness_rand_below(rng, 2000) / 1000.0 - 1.0);
    wire_header h = {.version = WIRE_VERSION, .kind = WIRE_KIND_SENSORS, .robot_id = 1,
                     .count = SENSORS, .seq = harness_rand(rng), .time_ns = 1};
    uint64_t what = harness_rand_below(rng, 10);
    *multipart = what == 9;
    if (what == 1)
        v[harness_rand_below(rng, SENSORS)] = (float)(harness_rand_below(rng, 2) ? 3.4e38 : -3.4e38);
    if (what == 2)
        v[harness_rand_below(rng, SENSORS)] = NAN;
    if (what == 3)
        h.robot_id = 2;
    if (what == 4)
        h.count = (uint32_t)harness_rand_below(rng, SENSORS);
    size_t len = 0;
    wire_encode(&h, v, buf, cap, &len);
    if (what == 5) /* flipped bytes anywhere */
        for (int k = 0; k < 4; k++)
            buf[harness_rand_below(rng, len)] ^= (uint8_t)(1u << harness_rand_below(rng, 8));
    if (what == 6) /* cut or lengthened */
        len = (size_t)harness_rand_below(rng, cap);
    if (what == 7) /* noise */
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)harness_rand(rng);
    return len;
}

TEST(a_running_brain_survives_random_and_mutated_frames)
{
    char dir[] = "/tmp/fb_fuzz_brain_XXXXXX", ep_s[128], ep_m[128], err[512];
    CHECK(mkdtemp(dir));
    snprintf(ep_s, sizeof ep_s, "ipc://%s/sensors", dir);
    snprintf(ep_m, sizeof ep_m, "ipc://%s/motors", dir);
    brain_params p;
    brain_params_default(&p);
    p.size_x = p.size_y = p.size_z = 8;
    p.channels = 8;
    p.sensors = SENSORS;
    p.sensor_gain = 1e6f; /* the largest the config accepts */
    p.backend = BRAIN_BACKEND_CPU;
    p.threads = 1;
    brain_fleet *fleet = NULL;
    const uint64_t seeds[1] = {p.seed};
    CHECK_MSG(brain_fleet_create(&p, seeds, 1, &fleet, err, sizeof err) == 0, "%s", err);
    brain *b = brain_fleet_brain(fleet, 0);
    link_options lo = {.timeout_ms = 500, .max_message_bytes = 4096, .robot_id = 1, .sensor_limit = 1000};
    snprintf(lo.sensor_endpoint, sizeof lo.sensor_endpoint, "%s", ep_s);
    snprintf(lo.motor_endpoint, sizeof lo.motor_endpoint, "%s", ep_m);
    robot_link *l = NULL;
    const uint32_t ids[1] = {1};
    CHECK_MSG(link_create(&lo, ids, 1, p.sensors, p.motors, &l, err, sizeof err) == 0, "%s", err);
    loop_options o = {.mode = LOOP_FIXED_RATE, .rate_hz = 1000, .cpu = -1, .stats_window = 100};
    loop_checkpoint_options ck = {.path = ""};
    runner r = {0};
    CHECK_MSG(loop_create(&o, &ck, fleet, l, &r.lp, err, sizeof err) == 0, "%s", err);
    watch w = {0};
    CHECK_EQ_INT(loop_add_cycle_hook(r.lp, on_cycle, &w), 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, run_loop, &r) == 0);

    void *ctx = zmq_ctx_new();
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    int zero = 0;
    zmq_setsockopt(push, ZMQ_LINGER, &zero, sizeof zero);
    CHECK(zmq_connect(push, ep_s) == 0);
    uint64_t rng = 42;
    uint8_t buf[4096];
    for (int i = 0; i < FRAMES; i++) {
        int multipart;
        size_t len = make_frame(&rng, buf, 200, &multipart);
        if (multipart)
            zmq_send(push, buf, len, ZMQ_SNDMORE);
        zmq_send(push, buf, len, 0);
    }
    /* Every message taken, as received or as bad (a multipart one once). */
    int64_t deadline = harness_now_ns() + 30000000000LL;
    while (atomic_load(&w.taken) < FRAMES && harness_now_ns() < deadline)
        usleep(10000);
    uint64_t taken = atomic_load(&w.taken);
    r.stop = 1;
    pthread_join(t, NULL);
    zmq_close(push);
    zmq_ctx_term(ctx);

    CHECK_MSG(taken == FRAMES, "%llu of %d messages counted", (unsigned long long)taken, FRAMES);
    const link_counters *lc = link_get_counters(l);
    CHECK(lc->received > FRAMES / 10 && lc->bad_total > FRAMES / 2);
    for (int k = 0; k < WIRE_BAD_REASONS; k++)
        CHECK_MSG(lc->bad[k] > 0, "no frame was bad for %s", wire_bad_name(k));
    CHECK_EQ_INT(atomic_load(&w.nonfinite_motors), 0);
    CHECK(atomic_load(&w.cycles) > 10);
    uint64_t n = brain_field_count(b);
    float *f = malloc(n * sizeof *f), m[64];
    CHECK(f);
    CHECK_EQ_INT(brain_read_field(b, f), 0);
    CHECK_EQ_INT(brain_read_momentum(b, m), 0);
    bool finite = true;
    for (uint64_t i = 0; i < n; i++)
        finite &= isfinite(f[i]) != 0;
    for (uint32_t c = 0; c < p.channels; c++)
        finite &= isfinite(m[c]) != 0;
    free(f);
    loop_destroy(&r.lp);
    link_destroy(&l);
    brain_fleet_destroy(&fleet);
    CHECK(finite);
    CHECK(harness_remove_tree(dir) == 0);
}
