/* compare.c: fieldbrain-compare, the Vulkan backend against the CPU reference
 * at any size, to the tolerances of field-brain.md.
 *
 * The unit tests (tests/test_brain_vk.c) compare the backends on small grids;
 * this program does it at the sizes a GPU runs (96^3 x 192), where a bug in
 * how work is split over a large device (workgroup counts, buffer ranges,
 * several submits) would show. For each size it runs
 *   - one cycle of each kind from the same random field on both backends
 *     (plain, diffusion, noise, activity with energy, and a busy cycle with
 *     every step and the clamp binding), comparing every field element, the
 *     momentum, every motor and the stats;
 *   - N cycles of the default schedule from the brain's own initial field,
 *     comparing the motors of every cycle.
 * One JSON object per line and check; exit status 1 if any check fails.
 * Links brain/ only, like fieldbrain-bench, so it can be copied to a GPU
 * machine.
 */
#include "bench_args.h"
#include "brain.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* field-brain.md: every element within 1e-5 * max(1, |ref|) after one cycle,
 * motors within 1e-4 after 100 cycles. */
#define TOL_F32_FIELD 1e-5
#define TOL_F32_MOTORS_RUN 1e-4
/* precision f16 (tests/test_brain_vk.c gives the reasoning): an element is
 * rounded to half at most three times in a cycle, so within 3 * 2^-11 of
 * max(1, |ref|); a motor within motor_gain * 1.5e-3 * 1.5 after one cycle
 * and 5e-3 over 100 cycles with motor_gain 50. */
#define TOL_F16_FIELD 1.5e-3
#define TOL_F16_MOTORS_RUN 5e-3
#define COMPARE_MAX_IO 64 /* sensors and motors of the checks */

typedef struct {
    uint32_t x, y, z, c;
} compare_size;

typedef struct {
    const char *device;
    uint32_t cycles, threads;
    brain_precision precision;
} compare_options;

/* One comparison of two arrays: the worst error relative to max(1, |ref|),
 * how many elements are over the tolerance and the first of them. */
typedef struct {
    double worst;
    uint64_t over, first;
} compare_diff;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static compare_diff diff_arrays(const float *got, const float *ref, uint64_t n, double tol)
{
    compare_diff d = {0.0, 0, n};
    for (uint64_t i = 0; i < n; i++) {
        double r = fabs((double)ref[i]);
        double e = fabs((double)got[i] - (double)ref[i]) / (r > 1.0 ? r : 1.0);
        if (!(e <= tol)) {
            if (d.over++ == 0)
                d.first = i;
        }
        /* a NaN is the worst error there is */
        if (!(e <= d.worst))
            d.worst = isnan(e) ? INFINITY : e;
    }
    return d;
}

/* A reproducible field with values in [-2, 2], the same on both backends. */
static void random_field(float *f, uint64_t n, uint64_t seed)
{
    uint64_t s = 0x9E3779B97F4A7C15ull ^ seed;
    for (uint64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        f[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 4.0 - 2.0);
    }
}

/* "64x128" is 64^3 x 128; "96x80x40x32" is 96x80x40 x 32. */
static int parse_size(const char *text, compare_size *out)
{
    uint32_t d[4];
    if (!bench_size_parse(text, d))
        return -1;
    *out = (compare_size){d[0], d[1], d[2], d[3]};
    return 0;
}

/* The two brains of a check and the host copies of their fields. */
typedef struct {
    brain *vk, *cpu;
    float *fv, *fc;
    uint64_t n;
    char err[512];
} compare_pair;

static void pair_destroy(compare_pair *pr)
{
    brain_destroy(&pr->cpu);
    brain_destroy(&pr->vk);
    free(pr->fc);
    free(pr->fv);
    pr->fv = pr->fc = NULL;
}

/* The Vulkan brain in the precision asked for, the CPU one in float32, both
 * from p; the CPU brain then holds what the Vulkan one holds (for f16, the
 * half-rounded initial field). */
static int pair_create(compare_pair *pr, brain_params p, const compare_options *o)
{
    memset(pr, 0, sizeof *pr);
    p.backend = BRAIN_BACKEND_VULKAN;
    p.precision = o->precision;
    int rc = brain_create(&p, &pr->vk, pr->err, sizeof pr->err);
    if (rc)
        return rc;
    p.backend = BRAIN_BACKEND_CPU;
    p.precision = BRAIN_PRECISION_F32;
    rc = brain_create(&p, &pr->cpu, pr->err, sizeof pr->err);
    if (rc)
        return rc;
    pr->n = brain_field_count(pr->vk);
    pr->fv = malloc(pr->n * sizeof(float));
    pr->fc = malloc(pr->n * sizeof(float));
    if (!pr->fv || !pr->fc) {
        snprintf(pr->err, sizeof pr->err, "out of memory for two copies of the field");
        return BRAIN_ERR_NOMEM;
    }
    if (o->precision == BRAIN_PRECISION_F16) {
        rc = brain_read_field(pr->vk, pr->fc);
        if (!rc)
            rc = brain_write_field(pr->cpu, pr->fc);
    }
    return rc;
}

/* Writes the same random field to both (for f16: what the Vulkan brain
 * stores of it). */
static int pair_write_random(compare_pair *pr, uint64_t seed)
{
    random_field(pr->fc, pr->n, seed);
    int rc = brain_write_field(pr->vk, pr->fc);
    if (!rc)
        rc = brain_read_field(pr->vk, pr->fc);
    if (!rc)
        rc = brain_write_field(pr->cpu, pr->fc);
    return rc;
}

static brain_params base_params(compare_size sz, const compare_options *o)
{
    brain_params p;
    brain_params_default(&p);
    p.size_x = sz.x;
    p.size_y = sz.y;
    p.size_z = sz.z;
    p.channels = sz.c;
    p.threads = o->threads;
    if (o->device)
        snprintf(p.device, sizeof p.device, "%s", o->device);
    return p;
}

/* The cycle kinds of the one-cycle checks: the first cycle (t = 1) runs
 * exactly the optional steps asked for. */
typedef enum { KIND_PLAIN, KIND_DIFFUSION, KIND_NOISE, KIND_ACTIVITY, KIND_BUSY, KIND_COUNT } compare_kind;
static const char *const kind_names[KIND_COUNT] = {"plain", "diffusion", "noise", "activity_energy", "busy_clamp"};

static brain_params kind_params(compare_kind k, compare_size sz, const compare_options *o)
{
    brain_params p = base_params(sz, o);
    p.seed = 7;
    p.diffusion_every = p.noise_every = p.activity_every = 1000000;
    if (k == KIND_DIFFUSION || k == KIND_BUSY)
        p.diffusion_every = 1;
    if (k == KIND_NOISE || k == KIND_BUSY) {
        p.noise_every = 1;
        p.noise_fraction = 0.3f;
        p.noise_std = 0.5f;
    }
    if (k == KIND_ACTIVITY || k == KIND_BUSY) {
        /* far over the field's mean |F| (about 1): energy is injected */
        p.activity_every = 1;
        p.activity_threshold = 100.0f;
        p.energy_fraction = 0.3f;
        p.energy_std = 0.5f;
    }
    if (k == KIND_BUSY) {
        /* the field is in [-2, 2]: the clamp and saturation bite */
        p.momentum_gain = 0.05f;
        p.sensor_gain = 0.7f;
        p.motor_gain = 2.0f;
        p.clamp_limit = 1.5f;
    }
    return p;
}

/* An error sentence as a JSON string's contents: double quotes and
 * backslashes become single quotes, control characters spaces. */
static void print_json_text(const char *text)
{
    for (; *text; text++)
        putchar(*text == '"' || *text == '\\' ? '\'' : (unsigned char)*text < 0x20 ? ' ' : *text);
}

static void print_size(compare_size sz)
{
    printf("\"size\": [%u, %u, %u, %u]", sz.x, sz.y, sz.z, sz.c);
}

/* One cycle of kind k: 0 if every figure is within tolerance, 1 if not, a
 * negative brain_err if a brain call failed. Prints its JSON line. */
static int check_one_cycle(compare_kind k, compare_size sz, const compare_options *o)
{
    bool f16 = o->precision == BRAIN_PRECISION_F16;
    brain_params p = kind_params(k, sz, o);
    double t0 = now_s();
    compare_pair pr;
    int rc = pair_create(&pr, p, o);
    if (!rc)
        rc = pair_write_random(&pr, (uint64_t)sz.x * 1000003u + sz.c * 31u + (uint64_t)k);
    float s[COMPARE_MAX_IO], mv[COMPARE_MAX_IO], mc[COMPARE_MAX_IO], Mv[4096], Mc[4096];
    for (uint32_t i = 0; i < p.sensors; i++)
        s[i] = (float)sin(0.7 * i + 0.3) * 2.0f;
    brain_stats sv = {0}, sc = {0};
    if (!rc)
        rc = brain_step(pr.vk, s, p.sensors, mv, &sv);
    if (!rc)
        rc = brain_step(pr.cpu, s, p.sensors, mc, &sc);
    if (!rc)
        rc = brain_read_field(pr.vk, pr.fv);
    if (!rc)
        rc = brain_read_field(pr.cpu, pr.fc);
    if (!rc)
        rc = brain_read_momentum(pr.vk, Mv);
    if (!rc)
        rc = brain_read_momentum(pr.cpu, Mc);
    if (rc) {
        printf("{\"check\": \"one_cycle\", \"kind\": \"%s\", \"precision\": \"%s\", ", kind_names[k],
               f16 ? "f16" : "f32");
        print_size(sz);
        printf(", \"pass\": false, \"error\": \"%s: ", brain_strerror(rc));
        print_json_text(pr.err);
        printf("\"}\n");
        pair_destroy(&pr);
        return rc;
    }
    double tol_field = f16 ? TOL_F16_FIELD : TOL_F32_FIELD;
    double tol_motor = f16 ? p.motor_gain * TOL_F16_FIELD * 1.5 : TOL_F32_FIELD;
    compare_diff field = diff_arrays(pr.fv, pr.fc, pr.n, tol_field);
    compare_diff motor = diff_arrays(mv, mc, p.motors, tol_motor);
    compare_diff mom = diff_arrays(Mv, Mc, p.channels, f16 ? 1e-4 : TOL_F32_FIELD);
    /* The steps that ran must be the same, and the kind's own. */
    bool want_diff = p.diffusion_every == 1, want_noise = p.noise_every == 1, want_energy = p.activity_every == 1;
    bool steps = sv.diffused == sc.diffused && sv.noised == sc.noised && sv.energized == sc.energized &&
                 sc.diffused == want_diff && sc.noised == want_noise && sc.energized == want_energy;
    /* energy is NaN on a Vulkan cycle that skipped the dense pass (lazy) */
    double energy_err = isnan(sv.energy) ? 0.0 : fabs((double)sv.energy - (double)sc.energy) / (double)sc.energy;
    double sat_err = fabs((double)sv.saturated - (double)sc.saturated);
    bool stats = energy_err <= tol_field && sat_err <= (f16 ? 0.01 : 2.0 / (double)pr.n) &&
                 (k != KIND_BUSY || sc.saturated > 0.0f);
    bool pass = field.over == 0 && motor.over == 0 && mom.over == 0 && steps && stats;
    printf("{\"check\": \"one_cycle\", \"kind\": \"%s\", \"precision\": \"%s\", \"device\": \"%s\", ",
           kind_names[k], f16 ? "f16" : "f32", brain_device_name(pr.vk));
    print_size(sz);
    printf(", \"pass\": %s, \"tol_field\": %.3g, \"field_worst\": %.3g, \"field_over\": %llu, ",
           pass ? "true" : "false", tol_field, field.worst, (unsigned long long)field.over);
    if (field.over)
        printf("\"field_first\": {\"index\": %llu, \"vulkan\": %.9g, \"cpu\": %.9g}, ",
               (unsigned long long)field.first, pr.fv[field.first], pr.fc[field.first]);
    printf("\"tol_motor\": %.3g, \"motor_worst\": %.3g, \"momentum_worst\": %.3g, "
           "\"steps_agree\": %s, \"lazy\": %s, \"energy_err\": %.3g, \"saturated\": [%.6g, %.6g], "
           "\"seconds\": %.2f}\n",
           tol_motor, motor.worst, mom.worst, steps ? "true" : "false", isnan(sv.energy) ? "true" : "false",
           energy_err, sv.saturated, sc.saturated, now_s() - t0);
    fflush(stdout);
    pair_destroy(&pr);
    return pass ? 0 : 1;
}

/* o->cycles cycles of the default schedule (motor_gain 50, so the motors use
 * their range) from the brain's initial field: every cycle's motors and
 * optional steps compared. */
static int check_run(compare_size sz, const compare_options *o)
{
    bool f16 = o->precision == BRAIN_PRECISION_F16;
    brain_params p = base_params(sz, o);
    p.seed = 42;
    p.motor_gain = 50.0f;
    double t0 = now_s();
    compare_pair pr;
    int rc = pair_create(&pr, p, o);
    float s[COMPARE_MAX_IO], mv[COMPARE_MAX_IO], mc[COMPARE_MAX_IO];
    double worst = 0.0, moved = 0.0, vk_s = 0.0, cpu_s = 0.0;
    uint32_t energized = 0, diffused = 0, noised = 0, lazy = 0, steps_differ = 0, done = 0;
    for (uint32_t t = 0; t < o->cycles && !rc; t++) {
        for (uint32_t i = 0; i < p.sensors; i++)
            s[i] = (float)sin(0.05 * t * (i + 1));
        brain_stats sv, sc;
        double a = now_s();
        rc = brain_step(pr.vk, s, p.sensors, mv, &sv);
        double b = now_s();
        if (!rc)
            rc = brain_step(pr.cpu, s, p.sensors, mc, &sc);
        vk_s += b - a;
        cpu_s += now_s() - b;
        if (rc)
            break;
        for (uint32_t j = 0; j < p.motors; j++) {
            double d = fabs((double)mv[j] - (double)mc[j]);
            if (isnan(d))
                d = INFINITY;
            worst = d > worst ? d : worst;
            moved = fabs((double)mc[j]) > moved ? fabs((double)mc[j]) : moved;
        }
        energized += sv.energized;
        diffused += sv.diffused;
        noised += sv.noised;
        lazy += isnan(sv.energy);
        steps_differ += sv.energized != sc.energized || sv.diffused != sc.diffused || sv.noised != sc.noised;
        done++;
    }
    compare_diff field = {0.0, 0, 0};
    if (!rc)
        rc = brain_read_field(pr.vk, pr.fv);
    if (!rc)
        rc = brain_read_field(pr.cpu, pr.fc);
    if (!rc)
        field = diff_arrays(pr.fv, pr.fc, pr.n, f16 ? TOL_F16_FIELD : TOL_F32_FIELD);
    double tol = f16 ? TOL_F16_MOTORS_RUN : TOL_F32_MOTORS_RUN;
    /* the motors must have moved, or the tolerance proves nothing */
    bool pass = !rc && worst <= tol && steps_differ == 0 && moved > 0.01;
    printf("{\"check\": \"run\", \"precision\": \"%s\", \"device\": \"%s\", ", f16 ? "f16" : "f32",
           pr.vk ? brain_device_name(pr.vk) : "");
    print_size(sz);
    printf(", \"pass\": %s, ", pass ? "true" : "false");
    if (rc) {
        printf("\"error\": \"%s: ", brain_strerror(rc));
        print_json_text(pr.err);
        printf("\", ");
    }
    printf("\"cycles\": %u, \"tol_motor\": %.3g, \"motor_worst\": %.3g, \"motor_max\": %.3g, "
           "\"steps_differ\": %u, \"diffused\": %u, \"noised\": %u, \"energized\": %u, \"lazy\": %u, "
           "\"field_worst_end\": %.3g, \"vulkan_ms_mean\": %.3f, \"cpu_ms_mean\": %.3f, \"seconds\": %.2f}\n",
           done, tol, worst, moved, steps_differ, diffused, noised, energized, lazy, field.worst,
           done ? vk_s * 1e3 / done : 0.0, done ? cpu_s * 1e3 / done : 0.0, now_s() - t0);
    fflush(stdout);
    pair_destroy(&pr);
    return rc ? rc : pass ? 0 : 1;
}

static void usage(FILE *f)
{
    fputs("usage: fieldbrain-compare [options]\n"
          "  --sizes LIST      comma-separated sizes: SxC (S^3 x C) or XxYxZxC (default 16x16)\n"
          "  --precision P     f32 or f16: how the Vulkan brain stores the field (default f32)\n"
          "  --cycles N        cycles of the motor run (default 200; 0: no run)\n"
          "  --device NAME     Vulkan device: index or name substring (default: best)\n"
          "  --threads N       CPU backend threads, 0 to 1024 (default 0: as brain.threads 0,\n"
          "                    one per core and fewer for a small field)\n"
          "  --help\n"
          "For each size: one cycle of each kind (plain, diffusion, noise, activity with\n"
          "energy, busy with the clamp binding) from the same random field on the Vulkan\n"
          "and CPU backends, every field element compared (f32: 1e-5 * max(1, |ref|), f16:\n"
          "1.5e-3); then N cycles of the default schedule, every motor compared (f32: 1e-4,\n"
          "f16: 5e-3). One JSON line per check; exit status 1 if any fails.\n",
          f);
}

int main(int argc, char **argv)
{
    compare_options o = {.cycles = 200};
    const char *sizes = "16x16";
    static const struct option longs[] = {
        {"sizes", required_argument, NULL, 's'},     {"precision", required_argument, NULL, 'p'},
        {"cycles", required_argument, NULL, 'n'},    {"device", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 't'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        bool ok = true;
        switch (ch) {
        case 's': sizes = optarg; break;
        case 'd': o.device = optarg; break;
        case 'n': ok = bench_whole(optarg, 0, 1000000, &o.cycles); break;
        case 't': ok = bench_whole(optarg, 0, 1024, &o.threads); break;
        case 'p':
            if (strcmp(optarg, "f32") == 0)
                o.precision = BRAIN_PRECISION_F32;
            else if (strcmp(optarg, "f16") == 0)
                o.precision = BRAIN_PRECISION_F16;
            else {
                fprintf(stderr, "fieldbrain-compare: --precision must be f32 or f16, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (!ok) {
            fprintf(stderr, "fieldbrain-compare: '%s' is not a whole number in the option's range "
                    "(--cycles 0 to 1000000, --threads 0 to 1024)\n", optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fieldbrain-compare: unexpected argument '%s' (every option has its --name)\n",
                argv[optind]);
        return 2;
    }
    compare_size list[32];
    int n_sizes = 0;
    char copy[512];
    snprintf(copy, sizeof copy, "%s", sizes);
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n_sizes == 32 || parse_size(tok, &list[n_sizes]) || list[n_sizes].c > 4096) {
            fprintf(stderr, "fieldbrain-compare: bad size '%s' (want SxC or XxYxZxC, C <= 4096, at most 32)\n", tok);
            return 2;
        }
        n_sizes++;
    }
    int failures = 0;
    for (int si = 0; si < n_sizes; si++) {
        for (int k = 0; k < KIND_COUNT; k++)
            failures += check_one_cycle((compare_kind)k, list[si], &o) != 0;
        if (o.cycles)
            failures += check_run(list[si], &o) != 0;
    }
    return failures ? 1 : 0;
}
