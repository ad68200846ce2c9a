/* telemetry_fleet_source.c: a stand-in for a fieldbrain serving a fleet, for
 * the tests of the monitor, the recorder and the plots: the real publisher
 * (telemetry.h) fed with N robots' cycles at 100 Hz, each robot with its own
 * cycle numbers, energy and motors, their link events, a fleet event (robot
 * null) and slices of the slice robot. Prints the bound endpoint on stdout,
 * then runs until SIGTERM or --seconds.
 * usage: telemetry-fleet-source ROBOTS [--seconds S] [--slice-every N]
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "telemetry.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: telemetry-fleet-source ROBOTS [--seconds S] [--slice-every N]\n");
        return 2;
    }
    uint32_t n = (uint32_t)strtoul(argv[1], NULL, 10);
    double seconds = 60;
    uint32_t slice_every = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--slice-every") == 0)
            slice_every = (uint32_t)strtoul(argv[i + 1], NULL, 10);
    }
    if (n < 1 || n > TELEMETRY_MAX_ROBOTS)
        return 2;
    static telemetry_options o;
    telemetry_options_default(&o);
    snprintf(o.endpoint, sizeof o.endpoint, "tcp://127.0.0.1:*");
    o.every = 1;
    o.slice_every = slice_every;
    o.size_x = o.size_y = o.size_z = 4;
    o.channels = 2;
    o.motors = 6;
    o.rate_hz = 100;
    snprintf(o.device, sizeof o.device, "cpu: fleet source");
    snprintf(o.backend, sizeof o.backend, "cpu");
    o.n_robots = n;
    for (uint32_t i = 0; i < n; i++)
        o.robot_ids[i] = 10 + 10 * i; /* 10, 20, 30, ... */
    o.slice_robot = o.robot_ids[n - 1];
    telemetry *t = NULL;
    char err[256];
    if (telemetry_create(&o, &t, err, sizeof err) < 0) {
        fprintf(stderr, "telemetry-fleet-source: %s\n", err);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("%s\n", telemetry_endpoint(t));
    fflush(stdout);

    /* Robot i starts at cycle 1 + 100 i (as if it joined later), so each
     * robot's cycle numbers are its own. The last robot's link is lost. */
    uint64_t hist[TELEMETRY_HIST_BINS] = {0};
    int64_t start = now_ns(), next = start;
    for (uint64_t tick = 1; !g_stop && now_ns() - start < (int64_t)(seconds * 1e9); tick++) {
        for (uint32_t i = 0; i < n; i++) {
            uint64_t cycle = tick + 100 * i;
            float motors[6];
            for (int k = 0; k < 6; k++)
                motors[k] = (float)sin(0.05 * (double)tick + i + k) * 0.9f;
            telemetry_cycle c = {
                .cycle = cycle, .time_ns = now_ns(), .lateness_ns = 1000, .work_ns = 200000,
                .gpu_ms = -1, .lateness = {100, 1000, 2000, 3000}, .work = {1000, 200000, 300000, 400000},
                .lateness_hist = hist, .motors = motors, .n_motors = 6, .stepped = true,
                .brain_cycle = cycle, .energy = 0.01f * (float)(i + 1), .saturated = 0,
                .activity = -1, .sensor_age_ns = 1000000, .robot_id = o.robot_ids[i],
                .link_lost = i == n - 1 && n > 1, .answer_seq = cycle, .received = cycle,
                .published = cycle,
            };
            telemetry_push_cycle(t, &c);
            if (tick == 5) {
                telemetry_event e = {.kind = "link_restored", .cycle = cycle, .time_ns = c.time_ns,
                                     .robot_id = o.robot_ids[i]};
                telemetry_push_event(t, &e);
            }
            if (slice_every && c.robot_id == telemetry_slice_robot(t) && telemetry_slice_due(t, cycle)) {
                float *dst = telemetry_slice_acquire_robot(t, c.robot_id);
                if (dst) {
                    for (uint64_t k = 0; k < telemetry_slice_count(t); k++)
                        dst[k] = (float)((k * 7 + cycle) % 13);
                    telemetry_slice_commit(t, cycle, true);
                }
            }
        }
        if (tick == 6) {
            telemetry_event e = {.kind = "overrun_burst", .cycle = tick, .time_ns = now_ns(),
                                 .robot_id = TELEMETRY_FLEET_ROBOT, .count = 2};
            telemetry_push_event(t, &e);
        }
        next += 10000000;
        int64_t wait = next - now_ns();
        if (wait > 0) {
            struct timespec ts = {wait / 1000000000, wait % 1000000000};
            nanosleep(&ts, NULL);
        }
    }
    telemetry_flush(t, 2000);
    telemetry_destroy(&t);
    return 0;
}
