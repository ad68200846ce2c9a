/* test_telemetry_bench.c: fieldbrain-telemetry-bench, what telemetry costs
 * the control loop. Steps a real brain and, after each cycle, does what the
 * loop's telemetry hook does (copy the stats into a slot; on slice cycles
 * read the plane shown into the slice buffer), timing that part alone, with
 * a live subscriber reading everything. Runs once with telemetry off and
 * once on, and prints both.
 *   fieldbrain-telemetry-bench [--size S] [--channels C] [--cycles N]
 *                              [--every N] [--slice-every N] [--threads T]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "brain.h"
#include "telemetry.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const char *endpoint;
    _Atomic bool stop;
    _Atomic uint64_t received;
} reader;

static void *read_all(void *arg)
{
    reader *r = arg;
    void *ctx = zmq_ctx_new(), *sub = zmq_socket(ctx, ZMQ_SUB);
    int zero = 0, timeout = 100;
    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    zmq_connect(sub, r->endpoint);
    static char buf[1 << 20];
    while (!atomic_load(&r->stop)) {
        if (zmq_recv(sub, buf, sizeof buf, 0) >= 0)
            atomic_fetch_add(&r->received, 1);
    }
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return NULL;
}

static void summary(const char *what, int64_t *v, size_t n)
{
    if (n == 0) {
        printf("  %-28s (none)\n", what);
        return;
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)v[i];
    qsort(v, n, sizeof *v, cmp_i64);
    printf("  %-28s n=%-6zu mean %9.2f us  p50 %9.2f us  p99 %9.2f us  max %9.2f us\n", what, n,
           sum / (double)n / 1e3, v[n / 2] / 1e3, v[(size_t)((double)n * 0.99)] / 1e3, v[n - 1] / 1e3);
}

static int run(const brain_params *p, uint32_t cycles, bool on, uint32_t every, uint32_t slice_every)
{
    char err[512];
    brain *b = NULL;
    telemetry *t = NULL;
    reader rd = {0};
    pthread_t th;
    bool th_started = false;
    int rc = 1;
    int64_t *step = calloc(cycles, sizeof *step), *hook = calloc(cycles, sizeof *hook);
    int64_t *slice = calloc(cycles, sizeof *slice);
    float motors[4096];
    if (!step || !hook || !slice || brain_create(p, &b, err, sizeof err) < 0) {
        fprintf(stderr, "bench: %s\n", err);
        goto out;
    }
    if (on) {
        telemetry_options o;
        telemetry_options_default(&o);
        snprintf(o.endpoint, sizeof o.endpoint, "tcp://127.0.0.1:*");
        o.every = every;
        o.slice_every = slice_every;
        o.size_x = p->size_x, o.size_y = p->size_y, o.size_z = p->size_z, o.channels = p->channels;
        o.motors = p->motors;
        o.rate_hz = 0;
        snprintf(o.device, sizeof o.device, "%s", brain_device_name(b));
        snprintf(o.backend, sizeof o.backend, "%s", brain_backend_name(brain_get_backend(b)));
        if (telemetry_create(&o, &t, err, sizeof err) < 0) {
            fprintf(stderr, "bench: %s\n", err);
            goto out;
        }
        rd.endpoint = telemetry_endpoint(t);
        if (pthread_create(&th, NULL, read_all, &rd) != 0)
            goto out;
        th_started = true;
        struct timespec settle = {0, 200000000};
        nanosleep(&settle, NULL);
    }
    float sensors[4096] = {0};
    size_t n_slice = 0, n_hook = 0;
    uint64_t hist[TELEMETRY_HIST_BINS] = {0};
    for (uint32_t i = 0; i < cycles; i++) {
        brain_stats st;
        sensors[i % p->sensors] = (float)(i % 7) * 0.1f;
        int64_t t0 = now_ns();
        if (brain_step(b, sensors, p->sensors, motors, &st) < 0)
            goto out;
        int64_t t1 = now_ns();
        step[i] = t1 - t0;
        if (!on)
            continue;
        /* what app/app_telemetry.c's on_cycle does */
        telemetry_cycle c = {.cycle = i + 1, .time_ns = t1, .work_ns = t1 - t0, .gpu_ms = st.gpu_ms,
                             .lateness_hist = hist, .motors = motors, .n_motors = p->motors,
                             .stepped = true, .brain_cycle = st.cycle, .energy = st.energy,
                             .saturated = st.saturated, .activity = st.activity};
        telemetry_push_cycle(t, &c);
        bool sliced = false;
        if (telemetry_slice_due(t, c.cycle)) {
            float *dst = telemetry_slice_acquire(t);
            if (dst) {
                int read = brain_read_slab(b, telemetry_slice_axis(t), telemetry_slice_index(t), dst);
                telemetry_slice_commit(t, c.cycle, read == 0);
                sliced = true;
            }
        }
        int64_t t2 = now_ns();
        if (sliced)
            slice[n_slice++] = t2 - t1;
        else
            hook[n_hook++] = t2 - t1;
    }
    printf("telemetry %s: %ux%ux%u x %u field on %s, %u cycles back to back%s\n", on ? "ON" : "OFF",
           p->size_x, p->size_y, p->size_z, p->channels, brain_device_name(b), cycles,
           on ? "" : "");
    if (on)
        printf("  (stats every %u cycles, a slice every %u, a subscriber reading everything)\n", every, slice_every);
    summary("brain_step", step, cycles);
    if (on) {
        summary("hook, ordinary cycles", hook, n_hook);
        summary("hook, slice cycles", slice, n_slice);
        telemetry_flush(t, 5000);
        telemetry_counters tc;
        telemetry_get_counters(t, &tc);
        printf("  counters: stats pushed %llu dropped %llu sent %llu; slices pushed %llu dropped %llu "
               "(read failed %llu) sent %llu\n",
               (unsigned long long)tc.pushed_stats, (unsigned long long)tc.dropped_stats,
               (unsigned long long)tc.sent_stats, (unsigned long long)tc.pushed_slices,
               (unsigned long long)tc.dropped_slices, (unsigned long long)tc.slice_read_failed,
               (unsigned long long)tc.sent_slices);
    }
    rc = 0;
out:
    if (th_started) {
        atomic_store(&rd.stop, true);
        pthread_join(th, NULL);
    }
    telemetry_destroy(&t);
    brain_destroy(&b);
    free(step);
    free(hook);
    free(slice);
    return rc;
}

int main(int argc, char **argv)
{
    brain_params p;
    brain_params_default(&p);
    p.backend = BRAIN_BACKEND_CPU;
    uint32_t cycles = 2000, every = 1, slice_every = 100;
    static const char usage[] = "usage: %s [--size S] [--channels C] [--cycles N] [--every N] "
                                "[--slice-every N] [--threads T]\n"
                                "Telemetry's cost on the loop: the same cycles with it off, then on.\n";
    static const char *const names[] = {"--size", "--channels", "--cycles", "--every", "--slice-every",
                                        "--threads"};
    uint32_t size = 32, channels = p.channels, threads = 0;
    uint32_t *into[] = {&size, &channels, &cycles, &every, &slice_every, &threads};
    static const uint32_t lo[] = {1, 1, 1, 1, 0, 0}, hi[] = {512, 4096, 10000000, 1000000, 1000000, 1024};
    for (int i = 1; i < argc; i += 2) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf(usage, argv[0]);
            return 0;
        }
        size_t k = 0;
        while (k < 6 && strcmp(argv[i], names[k]) != 0)
            k++;
        char *end = NULL;
        unsigned long v = k < 6 && i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9'
                              ? strtoul(argv[i + 1], &end, 10)
                              : 0;
        if (k == 6 || !end || *end || v < lo[k] || v > hi[k]) {
            fprintf(stderr, usage, argv[0]);
            if (k < 6)
                fprintf(stderr, "%s: %s takes a whole number from %u to %u\n", argv[0], names[k], lo[k], hi[k]);
            return 2;
        }
        *into[k] = (uint32_t)v;
    }
    p.size_x = p.size_y = p.size_z = size;
    p.channels = channels;
    p.threads = threads;
    if (run(&p, cycles, false, every, slice_every) != 0 || run(&p, cycles, true, every, slice_every) != 0)
        return 1;
    return 0;
}
