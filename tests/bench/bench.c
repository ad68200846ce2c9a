/* bench.c: fieldbrain-bench, the cost of a brain cycle.
 *
 * For each size and backend: ms per cycle (median, p99, mean) over hundreds of
 * cycles after warm-up, by wall clock and by GPU timestamps, for all cycles
 * and for plain and diffusion cycles apart; the bytes a dense cycle must move
 * (one read and one write of the field, the floor of field-brain.md); the
 * device's own measured copy bandwidth; and the fraction of that floor the
 * cycle reaches; and the process's peak resident memory over the size's run
 * (creation, probe and cycles). Links brain/ only: it needs nothing but the Vulkan loader at
 * run time, so it can be copied to a GPU machine.
 */
#include "bench_args.h"
#include "brain.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    uint32_t x, y, z, c;
} bench_size;

typedef struct {
    double median, p99, mean;
    uint32_t n;
} bench_summary;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Linux: starts a new peak of resident memory (writing 5 to clear_refs
 * resets VmHWM), so each size reports its own. */
static void peak_rss_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

/* The peak resident memory since peak_rss_reset in MiB (VmHWM), NaN where
 * /proc does not tell. */
static double peak_rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return NAN;
    char line[256];
    double mib = NAN;
    unsigned long long kb;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
            mib = (double)kb / 1024.0;
    fclose(f);
    return mib;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v in place. */
static bench_summary summarize(double *v, uint32_t n)
{
    bench_summary s = {0};
    if (n == 0)
        return (bench_summary){NAN, NAN, NAN, 0};
    qsort(v, n, sizeof *v, cmp_double);
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += v[i];
    s.n = n;
    s.mean = sum / n;
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    uint32_t k = (uint32_t)ceil(0.99 * n) - 1;
    s.p99 = v[k < n ? k : n - 1];
    return s;
}

/* The kinds of cycle, by which optional steps ran: diffusion 4, activity 2,
 * noise 1 (so 0 is a plain cycle); their names for kinds_ms. */
#define BENCH_KINDS 8
static const char *const bench_kind_names[BENCH_KINDS] = {
    "plain", "noise", "activity", "activity+noise",
    "diffusion", "diffusion+noise", "diffusion+activity", "diffusion+activity+noise",
};

static uint32_t bench_kind(const brain_stats *st)
{
    return (st->diffused ? 4u : 0u) + (st->activity >= 0 ? 2u : 0u) + (st->noised ? 1u : 0u);
}

/* kinds_ms: {"name": {"median": ms, "n": cycles}, ...} for each kind that
 * ran, from the n-wide rows of by_kind (sorted in place). */
static void bench_kinds_json(double *by_kind, const uint32_t *n_kind, uint32_t n, char *out, size_t out_len)
{
    size_t at = (size_t)snprintf(out, out_len, "{");
    for (uint32_t k = 0; k < BENCH_KINDS && at < out_len; k++) {
        if (!n_kind[k])
            continue;
        bench_summary s = summarize(by_kind + (size_t)k * n, n_kind[k]);
        at += (size_t)snprintf(out + at, out_len - at, "%s\"%s\": {\"median\": %.4f, \"n\": %u}", at > 1 ? ", " : "",
                               bench_kind_names[k], s.median, s.n);
    }
    if (at < out_len)
        snprintf(out + at, out_len - at, "}");
}

/* Prints line with every non-finite value (": nan", ": -inf", ...) as null,
 * since JSON has no NaN; a missing figure (no GPU timestamps) is null. */
static void print_json_line(const char *line)
{
    static const char *const bad[] = {": -nan", ": nan", ": -inf", ": inf"};
    while (*line) {
        size_t skip = 0;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0] && !skip; i++)
            if (strncmp(line, bad[i], strlen(bad[i])) == 0)
                skip = strlen(bad[i]);
        if (skip) {
            fputs(": null", stdout);
            line += skip;
        } else {
            putchar(*line++);
        }
    }
}

/* "64x128" is 64^3 x 128; "96x80x40x32" is 96x80x40 x 32. */
static int parse_size(const char *text, bench_size *out)
{
    uint32_t d[4];
    if (!bench_size_parse(text, d))
        return -1;
    *out = (bench_size){d[0], d[1], d[2], d[3]};
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: fieldbrain-bench [options]\n"
          "  --sizes LIST      comma-separated sizes: SxC (S^3 x C) or XxYxZxC (default 32x64,64x64)\n"
          "  --backend NAME    cpu, vulkan or all (default all: cpu, then vulkan if it works)\n"
          "  --device NAME     Vulkan device: index or name substring (default: best)\n"
          "  --cycles N        measured cycles, 10 to 1000000 (default 300)\n"
          "  --warmup N        cycles before measuring, 0 to 1000000 (default 30)\n"
          "  --threads N       CPU backend threads, 0 to 1024 (default 0: as brain.threads 0,\n"
          "                    one per core and fewer for a small field)\n"
          "  --precision P     f32 or f16 (the field stored in half precision; Vulkan only)\n"
          "  --brains N        fleets instead: a fleet of N brains (one brain_fleet_step per\n"
          "                    tick) beside N brains alone stepped one after another and one\n"
          "                    brain's cycle alone (see below)\n"
          "  --json            one JSON object per line instead of the table\n"
          "  --help\n"
          "Times are per brain_step (one cycle, submit to motors on the host). GB/s counts\n"
          "the bytes a dense cycle must move: one read and one write of the field, 8 bytes\n"
          "per element in f32, 4 in f16;\n"
          "'floor' is the time the measured copy bandwidth allows for those bytes over the\n"
          "plain cycle's median (1.0: at the floor). gpu_med is the device time of a cycle\n"
          "(timestamps), ovh_med the rest of it: submit, fence wait and readback.\n"
          "peak_MiB is the process's peak resident memory over that size's run (Linux VmHWM,\n"
          "reset before each size): the field, the backend's buffers, the probe.\n"
          "--json also gives kinds_ms: the median and count of each kind of cycle, by which\n"
          "optional steps ran (plain, noise, activity, diffusion and their combinations).\n"
          "With --brains N: tick_ms is one brain_fleet_step of all N (median, p99) and\n"
          "fleet_c/s the brain-cycles per second; round_ms is N brains alone stepped one\n"
          "after another with brain_step (N submissions on Vulkan; the CPU's default\n"
          "threads each) and alone_c/s theirs; one_ms is one brain's cycle alone and\n"
          "x_one = tick / (N x one_ms); bytes is what a dense cycle of all N moves, bytes_ms\n"
          "the time the measured copy bandwidth needs for it and x_bytes = tick / bytes_ms;\n"
          "mk_fleet and mk_alone are the ms brain_fleet_create and N brain_create took.\n",
          f);
}

typedef struct {
    const char *backend;
    const char *device;
    uint32_t cycles, warmup, threads;
    brain_precision precision;
    bool json;
    uint32_t brains;     /* --brains: 0, or the fleet mode with this many */
} bench_options;

/* The default parameters with the options' size, backend, threads,
 * precision and device. */
static brain_params bench_params(const bench_options *o, brain_backend backend, bench_size sz)
{
    brain_params p;
    brain_params_default(&p);
    p.size_x = sz.x;
    p.size_y = sz.y;
    p.size_z = sz.z;
    p.channels = sz.c;
    p.backend = backend;
    p.threads = o->threads;
    p.precision = o->precision;
    if (o->device)
        snprintf(p.device, sizeof p.device, "%s", o->device);
    return p;
}

static int bench_one(const bench_options *o, brain_backend backend, bench_size sz)
{
    brain_params p = bench_params(o, backend, sz);
    brain *b;
    char err[512];
    peak_rss_reset();
    int rc = brain_create(&p, &b, err, sizeof err);
    if (rc) {
        fprintf(stderr, "fieldbrain-bench: %s %ux%ux%u x %u: %s\n", brain_backend_name(backend), sz.x, sz.y,
                sz.z, sz.c, err);
        return rc;
    }
    uint64_t count = brain_field_count(b);
    double floor_bytes = (o->precision == BRAIN_PRECISION_F16 ? 4.0 : 8.0) * (double)count;
    double copy_bw = NAN;
    if (brain_measure_bandwidth(b, (uint64_t)(4.0 * count), &copy_bw) != 0)
        copy_bw = NAN;

    uint32_t n = o->cycles;
    double *wall = calloc(n, sizeof *wall), *gpu = calloc(n, sizeof *gpu);
    double *diff = calloc(n, sizeof *diff);
    double *plain_gpu = calloc(n, sizeof *plain_gpu), *diff_gpu = calloc(n, sizeof *diff_gpu);
    double *overhead = calloc(n, sizeof *overhead); /* wall - GPU time: submit, wait, readback */
    /* each kind of cycle apart: by_kind + i * n, i = bench_kind(stats);
     * row 0 holds the plain cycles */
    double *by_kind = calloc((size_t)BENCH_KINDS * n, sizeof *by_kind);
    uint32_t n_kind[BENCH_KINDS] = {0};
    if (!wall || !gpu || !diff || !plain_gpu || !diff_gpu || !overhead || !by_kind) {
        fprintf(stderr, "fieldbrain-bench: out of memory\n");
        rc = BRAIN_ERR_NOMEM;
        goto out;
    }
    float sensors[64], motors[64];
    uint32_t n_gpu = 0, n_diff = 0, n_plain_gpu = 0, n_diff_gpu = 0;
    for (uint32_t k = 0; k < o->warmup + n && rc == 0; k++) {
        for (uint32_t i = 0; i < p.sensors; i++)
            sensors[i] = sinf(0.05f * (float)k + (float)i);
        brain_stats st;
        double t0 = now_ms();
        rc = brain_step(b, sensors, p.sensors, motors, &st);
        double dt = now_ms() - t0;
        if (k < o->warmup)
            continue;
        uint32_t i = k - o->warmup;
        wall[i] = dt;
        const uint32_t kind = bench_kind(&st);
        const bool is_plain = kind == 0;
        by_kind[(size_t)kind * n + n_kind[kind]++] = dt;
        if (st.diffused)
            diff[n_diff++] = dt;
        if (st.gpu_ms >= 0) {
            overhead[n_gpu] = dt - st.gpu_ms;
            gpu[n_gpu++] = st.gpu_ms;
            if (is_plain)
                plain_gpu[n_plain_gpu++] = st.gpu_ms;
            if (st.diffused)
                diff_gpu[n_diff_gpu++] = st.gpu_ms;
        }
    }
    if (rc) {
        fprintf(stderr, "fieldbrain-bench: step failed: %s\n", brain_strerror(rc));
    } else {
        bench_summary all = summarize(wall, n), g = summarize(gpu, n_gpu);
        bench_summary pl = summarize(by_kind, n_kind[0]), df = summarize(diff, n_diff);
        bench_summary plg = summarize(plain_gpu, n_plain_gpu), dfg = summarize(diff_gpu, n_diff_gpu);
        bench_summary ov = summarize(overhead, n_gpu);
        double gbps = floor_bytes / (all.mean * 1e-3) / 1e9;
        double plain_gbps = floor_bytes / (pl.median * 1e-3) / 1e9;
        double floor_ms = floor_bytes / copy_bw * 1e3;
        double peak_mib = peak_rss_mib();
        if (o->json) {
            char kinds[1024];
            bench_kinds_json(by_kind, n_kind, n, kinds, sizeof kinds);
            char line[4096];
            snprintf(line, sizeof line, "{\"backend\": \"%s\", \"device\": \"%s\", \"precision\": \"%s\", \"size\": [%u, %u, %u, %u], "
                   "\"elements\": %llu, \"cycles\": %u, \"warmup\": %u, "
                   "\"wall_ms\": {\"median\": %.4f, \"p99\": %.4f, \"mean\": %.4f}, "
                   "\"gpu_ms\": {\"median\": %.4f, \"p99\": %.4f, \"mean\": %.4f, \"n\": %u}, "
                   "\"overhead_ms\": {\"median\": %.4f, \"p99\": %.4f}, "
                   "\"plain_ms\": {\"median\": %.4f, \"p99\": %.4f, \"n\": %u, \"gpu_median\": %.4f}, "
                   "\"diffusion_ms\": {\"median\": %.4f, \"p99\": %.4f, \"n\": %u, \"gpu_median\": %.4f}, "
                   "\"bytes_per_cycle\": %.0f, \"gbps_mean\": %.2f, \"gbps_plain\": %.2f, "
                   "\"copy_gbps\": %.2f, \"floor_ms\": %.4f, \"fraction_of_floor_plain\": %.3f, "
                   "\"fraction_of_floor_mean\": %.3f, \"peak_rss_mib\": %.1f, \"kinds_ms\": %s}\n",
                   brain_backend_name(brain_get_backend(b)), brain_device_name(b),
                   o->precision == BRAIN_PRECISION_F16 ? "f16" : "f32", sz.x, sz.y, sz.z, sz.c,
                   (unsigned long long)count, n, o->warmup, all.median, all.p99, all.mean, g.median, g.p99,
                   g.mean, g.n, ov.median, ov.p99, pl.median, pl.p99, pl.n, plg.median, df.median, df.p99, df.n, dfg.median,
                   floor_bytes, gbps, plain_gbps, copy_bw / 1e9, floor_ms, floor_ms / pl.median,
                   floor_ms / all.mean, peak_mib, kinds);
            print_json_line(line);
        } else {
            printf("%-7s %-28.28s %4ux%4ux%4u x %4u  %8.3f %8.3f %8.3f  %8.3f %8.3f  %8.3f %8.3f  %7.1f %7.1f  %5.2f  %8.1f\n",
                   brain_backend_name(brain_get_backend(b)), brain_device_name(b), sz.x, sz.y, sz.z, sz.c,
                   all.median, all.p99, all.mean, pl.median, df.median, g.n ? g.median : NAN,
                   g.n ? ov.median : NAN, gbps,
                   copy_bw / 1e9, floor_ms / pl.median, peak_mib);
        }
        fflush(stdout);
    }
out:
    free(by_kind);
    free(overhead);
    free(diff_gpu);
    free(plain_gpu);
    free(diff);
    free(gpu);
    free(wall);
    brain_destroy(&b);
    return rc;
}

/* --brains N: for one size and backend, side by side (a) a fleet of N
 * brains, one brain_fleet_step of all N per tick; (b) N brains made alone,
 * stepped one after another with brain_step (a round: N submissions on
 * Vulkan); (c) one brain's cycle alone. The seeds are 1..N; the sensors
 * change every tick as in bench_one. */
static int bench_fleet(const bench_options *o, brain_backend backend, bench_size sz, uint32_t nb)
{
    brain_params p = bench_params(o, backend, sz);
    const uint32_t n = o->cycles, S = p.sensors, MO = p.motors;
    uint64_t *seeds = calloc(nb, sizeof *seeds);
    float *sens = calloc((size_t)nb * S, sizeof *sens), *mot = calloc((size_t)nb * MO, sizeof *mot);
    const float **sp = calloc(nb, sizeof *sp);
    float **mp = calloc(nb, sizeof *mp);
    bool *step = calloc(nb, sizeof *step);
    int *rcs = calloc(nb, sizeof *rcs);
    brain_stats *st = calloc(nb, sizeof *st);
    brain **alone = calloc(nb, sizeof *alone);
    double *tick = calloc(n, sizeof *tick), *round = calloc(n, sizeof *round), *one = calloc(n, sizeof *one);
    brain_fleet *f = NULL;
    char err[512], device[BRAIN_DEVICE_LEN] = "";
    int rc = BRAIN_ERR_NOMEM;
    double copy_bw = NAN, make_fleet_ms = NAN, make_alone_ms = NAN;
    if (!seeds || !sens || !mot || !sp || !mp || !step || !rcs || !st || !alone || !tick || !round || !one) {
        fprintf(stderr, "fieldbrain-bench: out of memory\n");
        goto out;
    }
    for (uint32_t i = 0; i < nb; i++) {
        seeds[i] = i + 1;
        sp[i] = sens + (size_t)i * S;
        mp[i] = mot + (size_t)i * MO;
        step[i] = true;
    }
    /* (a) the fleet */
    double t_make = now_ms();
    rc = brain_fleet_create(&p, seeds, nb, &f, err, sizeof err);
    make_fleet_ms = now_ms() - t_make;
    if (rc) {
        fprintf(stderr, "fieldbrain-bench: %s fleet of %u x %ux%ux%u x %u: %s\n", brain_backend_name(backend), nb,
                sz.x, sz.y, sz.z, sz.c, err);
        goto out;
    }
    brain *b0 = brain_fleet_brain(f, 0);
    snprintf(device, sizeof device, "%s", brain_fleet_device_name(f));
    const brain_backend used = brain_get_backend(b0);
    const uint64_t count = brain_field_count(b0);
    if (brain_measure_bandwidth(b0, (uint64_t)(4.0 * count), &copy_bw) != 0)
        copy_bw = NAN;
    for (uint32_t k = 0; k < o->warmup + n && rc == 0; k++) {
        for (uint32_t i = 0; i < nb; i++)
            for (uint32_t s = 0; s < S; s++)
                sens[(size_t)i * S + s] = sinf(0.05f * (float)k + (float)s + (float)i);
        double t0 = now_ms();
        rc = brain_fleet_step(f, step, sp, mp, st, rcs);
        double dt = now_ms() - t0;
        for (uint32_t i = 0; i < nb && rc == 0; i++)
            rc = rcs[i];
        if (k >= o->warmup)
            tick[k - o->warmup] = dt;
    }
    brain_fleet_destroy(&f);
    if (rc) {
        fprintf(stderr, "fieldbrain-bench: fleet step failed: %s\n", brain_strerror(rc));
        goto out;
    }
    /* (b) N brains alone, one after another; (c) the first of them alone */
    t_make = now_ms();
    for (uint32_t i = 0; i < nb && rc == 0; i++) {
        brain_params q = p;
        q.seed = seeds[i];
        if ((rc = brain_create(&q, &alone[i], err, sizeof err)))
            fprintf(stderr, "fieldbrain-bench: brain %u alone: %s\n", i, err);
    }
    make_alone_ms = now_ms() - t_make;
    for (uint32_t k = 0; k < o->warmup + n && rc == 0; k++) {
        double t0 = now_ms();
        for (uint32_t i = 0; i < nb && rc == 0; i++)
            rc = brain_step(alone[i], sp[i], S, mp[i], NULL);
        if (k >= o->warmup)
            round[k - o->warmup] = now_ms() - t0;
    }
    for (uint32_t k = 0; k < o->warmup + n && rc == 0; k++) {
        double t0 = now_ms();
        rc = brain_step(alone[0], sp[0], S, mp[0], NULL);
        if (k >= o->warmup)
            one[k - o->warmup] = now_ms() - t0;
    }
    if (rc) {
        fprintf(stderr, "fieldbrain-bench: step failed: %s\n", brain_strerror(rc));
        goto out;
    }
    bench_summary a = summarize(tick, n), r = summarize(round, n), c1 = summarize(one, n);
    const double bytes = (o->precision == BRAIN_PRECISION_F16 ? 4.0 : 8.0) * (double)count * nb;
    const double bytes_ms = bytes / copy_bw * 1e3;
    const double fleet_cps = nb * 1e3 / a.median, alone_cps = nb * 1e3 / r.median;
    if (o->json) {
        char line[2048];
        snprintf(line, sizeof line,
                 "{\"backend\": \"%s\", \"device\": \"%s\", \"size\": [%u, %u, %u, %u], \"brains\": %u, "
                 "\"cycles\": %u, \"warmup\": %u, "
                 "\"fleet_tick_ms\": {\"median\": %.4f, \"p99\": %.4f, \"mean\": %.4f}, "
                 "\"fleet_brain_cycles_per_s\": %.1f, \"create_fleet_ms\": %.1f, \"create_alone_ms\": %.1f, "
                 "\"alone_round_ms\": {\"median\": %.4f, \"p99\": %.4f, \"mean\": %.4f}, "
                 "\"alone_brain_cycles_per_s\": %.1f, \"one_cycle_ms\": {\"median\": %.4f, \"p99\": %.4f}, "
                 "\"tick_over_n_cycles\": %.3f, \"bytes_per_tick\": %.0f, \"copy_gbps\": %.2f, "
                 "\"bytes_ms\": %.4f, \"tick_over_bytes_ms\": %.3f}\n",
                 brain_backend_name(used), device, sz.x, sz.y, sz.z, sz.c, nb, n, o->warmup, a.median, a.p99,
                 a.mean, fleet_cps, make_fleet_ms, make_alone_ms, r.median, r.p99, r.mean, alone_cps, c1.median,
                 c1.p99, a.median / (nb * c1.median), bytes, copy_bw / 1e9, bytes_ms, a.median / bytes_ms);
        print_json_line(line);
    } else {
        printf("%-7s %-28.28s %4ux%4ux%4u x %4u %5u  %9.3f %9.3f %10.0f  %9.3f %9.3f %10.0f  %8.4f %6.2f  "
               "%11.0f %8.2f %8.3f %6.2f  %8.0f %8.0f\n",
               brain_backend_name(used), device, sz.x, sz.y, sz.z, sz.c, nb, a.median, a.p99, fleet_cps,
               r.median, r.p99, alone_cps, c1.median, a.median / (nb * c1.median), bytes, copy_bw / 1e9,
               bytes_ms, a.median / bytes_ms, make_fleet_ms, make_alone_ms);
    }
    fflush(stdout);
out:
    for (uint32_t i = 0; alone && i < nb; i++)
        brain_destroy(&alone[i]);
    brain_fleet_destroy(&f);
    free(one);
    free(round);
    free(tick);
    free(alone);
    free(st);
    free(rcs);
    free(step);
    free(mp);
    free(sp);
    free(mot);
    free(sens);
    free(seeds);
    return rc;
}

int main(int argc, char **argv)
{
    bench_options o = {.backend = "all", .cycles = 300, .warmup = 30};
    const char *sizes = "32x64,64x64";
    static const struct option longs[] = {
        {"sizes", required_argument, NULL, 's'},   {"backend", required_argument, NULL, 'b'},
        {"device", required_argument, NULL, 'd'},  {"cycles", required_argument, NULL, 'n'},
        {"warmup", required_argument, NULL, 'w'},  {"threads", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},          {"help", no_argument, NULL, 'h'},
        {"precision", required_argument, NULL, 'p'},
        {"brains", required_argument, NULL, 'N'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        bool ok = true;
        switch (ch) {
        case 's': sizes = optarg; break;
        case 'b': o.backend = optarg; break;
        case 'd': o.device = optarg; break;
        case 'n': ok = bench_whole(optarg, 10, 1000000, &o.cycles); break;
        case 'w': ok = bench_whole(optarg, 0, 1000000, &o.warmup); break;
        case 't': ok = bench_whole(optarg, 0, 1024, &o.threads); break;
        case 'j': o.json = true; break;
        case 'N': ok = bench_whole(optarg, 1, BRAIN_FLEET_MAX, &o.brains); break;
        case 'p':
            if (strcmp(optarg, "f32") == 0)
                o.precision = BRAIN_PRECISION_F32;
            else if (strcmp(optarg, "f16") == 0)
                o.precision = BRAIN_PRECISION_F16;
            else {
                fprintf(stderr, "fieldbrain-bench: --precision must be f32 or f16, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (!ok) {
            fprintf(stderr, "fieldbrain-bench: '%s' is not a whole number in the option's range (--cycles "
                    "10 to 1000000, --warmup 0 to 1000000, --threads 0 to 1024, --brains 1 to %u)\n", optarg,
                    BRAIN_FLEET_MAX);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fieldbrain-bench: unexpected argument '%s' (every option has its --name)\n",
                argv[optind]);
        return 2;
    }
    brain_backend backends[2];
    int n_backends = 0;
    if (strcmp(o.backend, "cpu") == 0 || strcmp(o.backend, "all") == 0)
        backends[n_backends++] = BRAIN_BACKEND_CPU;
    if (strcmp(o.backend, "vulkan") == 0 || strcmp(o.backend, "all") == 0)
        backends[n_backends++] = BRAIN_BACKEND_VULKAN;
    if (n_backends == 0) {
        fprintf(stderr, "fieldbrain-bench: --backend must be cpu, vulkan or all, not '%s'\n", o.backend);
        return 2;
    }

    bench_size list[32];
    int n_sizes = 0;
    char copy[512];
    snprintf(copy, sizeof copy, "%s", sizes);
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n_sizes == 32 || parse_size(tok, &list[n_sizes])) {
            fprintf(stderr, "fieldbrain-bench: bad size '%s' (want SxC or XxYxZxC, at most 32)\n", tok);
            return 2;
        }
        n_sizes++;
    }

    if (!o.json && o.brains)
        printf("%-7s %-28s %-22s %5s  %9s %9s %10s  %9s %9s %10s  %8s %6s  %11s %8s %8s %6s  %8s %8s\n",
               "backend", "device", "size", "N", "tick_ms", "tick_p99", "fleet_c/s", "round_ms", "round_p99",
               "alone_c/s", "one_ms", "x_one", "bytes", "copyGB/s", "bytes_ms", "x_bytes", "mk_fleet", "mk_alone");
    else if (!o.json)
        printf("%-7s %-28s %-22s  %8s %8s %8s  %8s %8s  %8s %8s  %7s %7s  %5s  %8s\n", "backend", "device", "size",
               "med_ms", "p99_ms", "mean_ms", "plain", "diffuse", "gpu_med", "ovh_med", "GB/s", "copyGB/s",
               "floor", "peak_MiB");
    int failures = 0;
    for (int bi = 0; bi < n_backends; bi++)
        for (int si = 0; si < n_sizes; si++)
            if ((o.brains ? bench_fleet(&o, backends[bi], list[si], o.brains)
                          : bench_one(&o, backends[bi], list[si])) != 0) {
                failures++;
                /* a backend that cannot start at all is not tried at other sizes */
                if (strcmp(o.backend, "all") == 0 && backends[bi] == BRAIN_BACKEND_VULKAN)
                    break;
            }
    return failures ? 1 : 0;
}
