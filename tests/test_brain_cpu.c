/* test_brain_cpu.c: the CPU backend against the reference (brain/brain_ref.c,
 * a literal, step-by-step reading of field-brain.md), the statistics of the
 * sparse steps, determinism, and checkpoints (round trip, truncation,
 * corruption, numpy). */
#include "brain.h"
#include "brain_ref.h"
#include "harness.h"
#include "rng.h"

#include <stdint.h>
#include <unistd.h>

/* F[x][y][z][c] of a field of shape p. */
static size_t field_idx(const brain_params *p, int64_t x, int64_t y, int64_t z, uint32_t c)
{
    return (size_t)(((x * p->size_y + y) * p->size_z + z) * p->channels + c);
}

static brain_params small_params(uint32_t x, uint32_t y, uint32_t z, uint32_t c)
{
    brain_params p;
    brain_params_default(&p);
    p.size_x = x;
    p.size_y = y;
    p.size_z = z;
    p.channels = c;
    p.backend = BRAIN_BACKEND_CPU;
    return p;
}

static float *random_field(uint64_t count, uint32_t seed, float scale)
{
    float *f = malloc(count * sizeof(float));
    for (uint64_t i = 0; i < count; i++)
        f[i] = scale * rng_normal(rng_key(seed, 99, 99), (uint32_t)(i / 7), (uint32_t)(i % 7));
    return f;
}

static void sensors_for(uint64_t t, uint32_t n, float *s)
{
    for (uint32_t i = 0; i < n; i++)
        s[i] = sinf(0.1f * (float)t + (float)i);
}

/* Runs the backend and the reference side by side for `cycles`: every
 * element within 1e-5 * max(1, |ref|) and every motor within motor_tol on
 * every cycle; with `cover`, the run must have seen diffusion, noise and
 * energy. */
typedef struct {
    float motor_tol;      /* motors within this */
    float saturated_tol;  /* saturated fraction within this */
    bool cover;           /* must see diffusion, noise and energy */
    int *saturated_cycles; /* if not NULL: counts cycles where the clamp bound */
} ref_tolerance;

static int compare_with_ref_for(brain_params p, uint32_t threads, int cycles, uint32_t n_sensors, ref_tolerance tol)
{
    int *saturated_cycles = tol.saturated_cycles;
    p.threads = threads;
    brain *b;
    char err[256];
    if (brain_create(&p, &b, err, sizeof err)) {
        fprintf(stderr, "create: %s\n", err);
        return 1;
    }
    uint64_t count = brain_field_count(b);
    brain_ref *ref;
    if (brain_ref_create(&p, brain_sensor_spots(b), brain_motor_spots(b), &ref, err, sizeof err)) {
        fprintf(stderr, "reference: %s\n", err);
        brain_destroy(&b);
        return 1;
    }
    float *want = brain_ref_field(ref);
    float *start = random_field(count, 7, 3.0f); /* large enough to reach the clamp */
    memcpy(want, start, count * sizeof(float));
    free(start);
    brain_write_field(b, want);
    float *got = malloc(count * sizeof(float));
    float s[64] = {0}, ma[64], mb[64];
    int bad = 0;
    bool saw_diffusion = false, saw_noise = false, saw_energy = false;
    for (int k = 0; k < cycles && !bad; k++) {
        sensors_for((uint64_t)k, n_sensors, s);
        brain_stats sa = {0}, sb = {0};
        if (brain_step(b, s, n_sensors, ma, &sa)) {
            bad = 1;
            break;
        }
        for (uint32_t i = n_sensors; i < p.sensors; i++)
            s[i] = 0;
        brain_ref_step(ref, s, mb, &sb);
        saw_diffusion |= sa.diffused;
        saw_noise |= sa.noised;
        saw_energy |= sa.energized;
        if (saturated_cycles && sb.saturated > 0)
            ++*saturated_cycles;
        brain_read_field(b, got);
        for (uint64_t e = 0; e < count && !bad; e++)
            if (fabsf(got[e] - want[e]) > 1e-5f * fmaxf(1.0f, fabsf(want[e]))) {
                fprintf(stderr, "cycle %d element %llu: %.9g vs %.9g\n", k + 1, (unsigned long long)e,
                        got[e], want[e]);
                bad = 1;
            }
        for (uint32_t j = 0; j < p.motors && !bad; j++)
            if (fabsf(ma[j] - mb[j]) > tol.motor_tol) {
                fprintf(stderr, "cycle %d motor %u: %.9g vs %.9g\n", k + 1, j, ma[j], mb[j]);
                bad = 1;
            }
        if (!bad && (fabsf(sa.energy - sb.energy) > 1e-5f * fmaxf(1, sb.energy) ||
                     fabsf(sa.saturated - sb.saturated) > tol.saturated_tol || sa.energized != sb.energized)) {
            fprintf(stderr, "cycle %d stats: energy %g vs %g, saturated %g vs %g\n", k + 1, sa.energy,
                    sb.energy, sa.saturated, sb.saturated);
            bad = 1;
        }
    }
    if (!bad && tol.cover && !(saw_diffusion && saw_noise && saw_energy)) {
        fprintf(stderr, "the run did not cover diffusion, noise and energy\n");
        bad = 1;
    }
    free(got);
    brain_ref_destroy(&ref);
    brain_destroy(&b);
    return bad;
}

static int compare_with_ref(brain_params p, uint32_t threads, int cycles, uint32_t n_sensors)
{
    return compare_with_ref_for(p, threads, cycles, n_sensors, (ref_tolerance){1e-5f, 1e-6f, true, NULL});
}

static brain_params covering_params(uint32_t x, uint32_t y, uint32_t z, uint32_t c)
{
    brain_params p = small_params(x, y, z, c);
    p.diffusion_every = 2;
    p.noise_every = 3;
    p.activity_every = 2;
    p.activity_threshold = 100.0f; /* always energize when measured */
    p.noise_fraction = 0.2f;
    p.energy_fraction = 0.2f;
    p.momentum_gain = 0.05f;
    return p;
}

TEST(matches_spec_cube)
{
    CHECK(compare_with_ref(covering_params(8, 8, 8, 16), 1, 12, 16) == 0);
}

TEST(matches_spec_odd_shape_and_channels)
{
    brain_params p = covering_params(7, 5, 3, 13);
    p.sensors = 20; /* more sensors than channels: i mod C wraps */
    CHECK(compare_with_ref(p, 1, 12, 20) == 0);
}

TEST(matches_spec_short_sensor_vector)
{
    CHECK(compare_with_ref(covering_params(6, 9, 4, 6), 1, 8, 5) == 0);
}

TEST(matches_spec_threads)
{
    CHECK(compare_with_ref(covering_params(12, 6, 5, 8), 3, 8, 16) == 0);
}

/* The backend predicts the channel means of step 5 from sums it carries from
 * cycle to cycle (brain_cpu.c, "One pass per cycle"), so it rounds
 * differently from the literal reading: over a long run on the default
 * schedule, with the clamp binding at first and two threads (slab borders
 * inside the in-place diffusion), it must stay within the tolerances. */
TEST(matches_spec_over_a_long_default_run)
{
    int saturated = 0;
    ref_tolerance tol = {1e-4f, 1e-6f, false, &saturated};
    CHECK(compare_with_ref_for(small_params(12, 12, 12, 8), 2, 300, 16, tol) == 0);
    CHECK_MSG(saturated > 0, "the clamp never bound");
}

/* The original's momentum_gain runs the field into the clamp (field-brain.md,
 * Stability): then every cycle pushes elements onto +-clamp_limit, some
 * within rounding of it, so the saturated count may differ by an element or
 * two; values and motors keep their tolerances. */
TEST(matches_spec_over_a_long_runaway)
{
    brain_params p = small_params(12, 12, 12, 8);
    p.momentum_gain = 0.05f;
    int saturated = 0;
    ref_tolerance tol = {1e-4f, 3.0f / (12 * 12 * 12 * 8), false, &saturated};
    CHECK(compare_with_ref_for(p, 1, 300, 16, tol) == 0);
    CHECK_MSG(saturated > 100, "the field did not run into the clamp (%d cycles)", saturated);
}

/* Diffusion runs in place in tiles of y rows sized to the cache
 * (cpu_kernels.c, cpu__job_pass): rows this long give tiles of 4 rows, so 13
 * rows make four tiles, the last one row high, and two threads add slab
 * borders to the tile borders. */
TEST(matches_spec_across_diffusion_tiles)
{
    brain_params p = covering_params(6, 13, 8, 1024);
    CHECK(compare_with_ref(p, 1, 6, 16) == 0);
    CHECK(compare_with_ref(p, 2, 6, 16) == 0);
}

/* The CPU backend draws 16 channels at a time in vector registers; the floats
 * must be rng_normal's bit for bit (the shaders draw with rng.glsl). 37
 * channels: two whole blocks and a tail. */
TEST(initial_field_is_rng_normal_bit_for_bit)
{
    brain_params p = small_params(5, 4, 3, 37);
    p.init_std = 0.7f;
    brain *b;
    CHECK(brain_create(&p, &b, NULL, 0) == 0);
    uint64_t n = brain_field_count(b);
    float *f = malloc(n * sizeof(float));
    brain_read_field(b, f);
    uint32_t key = rng_key(p.seed, 0, RNG_STREAM_INIT);
    uint64_t differ = 0;
    for (uint64_t i = 0; i < n; i++) {
        float want = p.init_std * rng_normal(key, (uint32_t)(i / 37), (uint32_t)(i % 37));
        differ += memcmp(&want, &f[i], sizeof want) != 0;
    }
    CHECK_MSG(differ == 0, "%llu of %llu elements differ", (unsigned long long)differ, (unsigned long long)n);
    free(f);
    brain_destroy(&b);
}

/* The reference draws its own initial field (brain_ref_create), the same as
 * the backend's bit for bit: a replay from the seed alone starts equal. */
TEST(reference_starts_from_the_backends_field)
{
    brain_params p = small_params(5, 4, 3, 37);
    p.init_std = 0.7f;
    brain *b;
    brain_ref *ref;
    char err[256];
    CHECK(brain_create(&p, &b, NULL, 0) == 0);
    CHECK_MSG(brain_ref_create(&p, brain_sensor_spots(b), brain_motor_spots(b), &ref, err, sizeof err) == 0, "%s",
              err);
    uint64_t n = brain_field_count(b);
    float *f = malloc(n * sizeof(float));
    brain_read_field(b, f);
    CHECK(memcmp(f, brain_ref_field(ref), n * sizeof(float)) == 0);
    CHECK(brain_ref_cycle(ref) == 0 && brain_ref_momentum(ref)[36] == 0.0f);
    uint32_t outside[3 * 16] = {0};
    outside[3 * 7 + 1] = p.size_y;
    brain_ref *bad = (brain_ref *)1;
    CHECK(brain_ref_create(&p, outside, brain_motor_spots(b), &bad, err, sizeof err) == BRAIN_ERR_PARAM);
    CHECK(bad == NULL);
    CHECK_MSG(strstr(err, "sensor spot 7") && strstr(err, "outside the grid"), "%s", err);
    free(f);
    brain_ref_destroy(&ref);
    brain_destroy(&b);
}

/* From a zero field with decay 1 and no momentum, one cycle leaves exactly
 * the sparse draws: the picks of rng_bits and std * rng_normal at them. */
static void sparse_draws_exact(bool energy, int *harness_failed_)
{
    brain_params p = small_params(9, 7, 5, 21);
    p.decay = 1.0f;
    p.momentum_gain = 0.0f;
    p.sensor_gain = 0.0f;
    p.diffusion_every = 1000000;
    p.noise_every = energy ? 1000000 : 1;
    p.activity_every = energy ? 1 : 1000000;
    p.activity_threshold = 1.0f;
    p.noise_fraction = 0.3f;
    p.noise_std = 0.2f;
    p.energy_fraction = 0.4f;
    p.energy_std = 0.05f;
    p.threads = 2;
    brain *b;
    CHECK(brain_create(&p, &b, NULL, 0) == 0);
    uint64_t n = brain_field_count(b);
    float *f = calloc(n, sizeof(float)), motors[8];
    brain_write_field(b, f);
    brain_stats st;
    CHECK(brain_step(b, NULL, 0, motors, &st) == 0);
    CHECK(energy ? st.energized : st.noised);
    brain_read_field(b, f);
    uint32_t key = rng_key(p.seed, 1, energy ? RNG_STREAM_ENERGY : RNG_STREAM_NOISE);
    uint32_t thr = rng_threshold(energy ? p.energy_fraction : p.noise_fraction);
    float sd = energy ? p.energy_std : p.noise_std;
    uint64_t differ = 0, picked = 0;
    for (uint32_t pt = 0; pt < n / p.channels; pt++) {
        bool pick = rng_bits(key, pt, 0) < thr;
        picked += pick;
        for (uint32_t c = 0; c < p.channels; c++)
            differ += f[(size_t)pt * p.channels + c] != (pick ? sd * rng_normal(key, pt, c) : 0.0f);
    }
    CHECK(picked > 0);
    CHECK_MSG(differ == 0, "%llu of %llu elements differ", (unsigned long long)differ, (unsigned long long)n);
    free(f);
    brain_destroy(&b);
}

TEST(noise_draws_are_rng_normal_bit_for_bit)
{
    sparse_draws_exact(false, harness_failed_);
}

TEST(energy_draws_are_rng_normal_bit_for_bit)
{
    sparse_draws_exact(true, harness_failed_);
}

TEST(initial_field_is_normal_with_init_std)
{
    brain_params p = small_params(16, 16, 16, 16);
    p.init_std = 0.5f;
    brain *b;
    CHECK(brain_create(&p, &b, NULL, 0) == 0);
    uint64_t n = brain_field_count(b);
    float *f = malloc(n * sizeof(float));
    brain_read_field(b, f);
    double s = 0, s2 = 0, s4 = 0;
    for (uint64_t i = 0; i < n; i++) {
        s += f[i];
        s2 += (double)f[i] * f[i];
        s4 += (double)f[i] * f[i] * f[i] * f[i];
    }
    free(f);
    brain_destroy(&b);
    double var = s2 / n, sd = sqrt(var);
    /* std of the sample std is about sigma / sqrt(2n); kurtosis 3 for a normal */
    CHECK_NEAR(sd, 0.5, 3 * 0.5 / sqrt(2.0 * n));
    CHECK_NEAR(s / n, 0.0, 3 * 0.5 / sqrt((double)n));
    CHECK_NEAR(s4 / n / (var * var), 3.0, 0.1);
}

/* One step from a zero field with every other step switched off shows
 * exactly the sparse additions. */
static void sparse_statistics(bool energy, int *harness_failed_)
{
    brain_params p = small_params(40, 40, 40, 8);
    p.decay = 1.0f;
    p.momentum_gain = 0.0f;
    p.diffusion_every = 1000000;
    p.sensor_gain = 0.0f;
    p.noise_every = energy ? 1000000 : 1;
    p.activity_every = energy ? 1 : 1000000;
    p.activity_threshold = 1.0f;
    p.noise_fraction = 0.03f;
    p.noise_std = 0.2f;
    p.energy_fraction = 0.07f;
    p.energy_std = 0.05f;
    double fraction = energy ? p.energy_fraction : p.noise_fraction;
    double sd = energy ? p.energy_std : p.noise_std;
    brain *b;
    CHECK(brain_create(&p, &b, NULL, 0) == 0);
    uint64_t n = brain_field_count(b), points = n / p.channels;
    float *f = calloc(n, sizeof(float));
    brain_write_field(b, f);
    float motors[8];
    brain_stats st;
    double picked = 0, cycles = 5, s2 = 0, values = 0;
    for (int k = 0; k < (int)cycles; k++) {
        brain_write_field(b, f); /* f is all zeros here */
        CHECK(brain_step(b, NULL, 0, motors, &st) == 0);
        CHECK(energy ? st.energized : st.noised);
        brain_read_field(b, f);
        for (uint64_t pt = 0; pt < points; pt++) {
            bool any = false;
            for (uint32_t c = 0; c < p.channels; c++)
                if (f[pt * p.channels + c] != 0.0f) {
                    any = true;
                    s2 += (double)f[pt * p.channels + c] * f[pt * p.channels + c];
                    values++;
                }
            picked += any;
        }
        memset(f, 0, n * sizeof(float));
    }
    free(f);
    brain_destroy(&b);
    double trials = cycles * points;
    double se_frac = sqrt(fraction * (1 - fraction) / trials);
    CHECK_NEAR(picked / trials, fraction, 3 * se_frac);
    double se_sd = sd / sqrt(2 * values);
    CHECK_NEAR(sqrt(s2 / values), sd, 3 * se_sd);
}

TEST(noise_fraction_and_std)
{
    sparse_statistics(false, harness_failed_);
}

TEST(energy_fraction_and_std)
{
    sparse_statistics(true, harness_failed_);
}

static void run_motors(uint64_t seed, int cycles, float *out, uint32_t threads)
{
    brain_params p = small_params(10, 10, 10, 12);
    p.seed = seed;
    p.threads = threads;
    p.momentum_gain = 0.02f;
    brain *b;
    if (brain_create(&p, &b, NULL, 0))
        abort();
    float s[16];
    for (int k = 0; k < cycles; k++) {
        sensors_for((uint64_t)k, 16, s);
        brain_step(b, s, 16, out + 5 * k, NULL);
    }
    brain_destroy(&b);
}

TEST(deterministic_per_seed)
{
    float a[5 * 60], b[5 * 60], c[5 * 60];
    run_motors(42, 60, a, 2);
    run_motors(42, 60, b, 2);
    run_motors(43, 60, c, 2);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
}

TEST(motors_respond_to_one_sensor)
{
    brain_params p = small_params(10, 10, 10, 12);
    brain *a, *b;
    CHECK(brain_create(&p, &a, NULL, 0) == 0);
    CHECK(brain_create(&p, &b, NULL, 0) == 0);
    float s[16] = {0}, ma[5], mb[5];
    bool differ = false;
    for (int k = 0; k < 50; k++) {
        s[3] = 0.0f;
        brain_step(a, s, 16, ma, NULL);
        s[3] = 1.0f;
        brain_step(b, s, 16, mb, NULL);
    }
    for (int j = 0; j < 5; j++)
        differ |= ma[j] != mb[j];
    brain_destroy(&a);
    brain_destroy(&b);
    CHECK(differ);
}

TEST(refuses_non_finite_sensors_and_long_vectors)
{
    brain_params p = small_params(4, 4, 4, 4);
    brain *b;
    CHECK(brain_create(&p, &b, NULL, 0) == 0);
    float s[17] = {0}, m[5];
    s[2] = NAN;
    CHECK(brain_step(b, s, 16, m, NULL) == BRAIN_ERR_PARAM);
    s[2] = INFINITY;
    CHECK(brain_step(b, s, 16, m, NULL) == BRAIN_ERR_PARAM);
    s[2] = 0;
    CHECK(brain_step(b, s, 17, m, NULL) == BRAIN_ERR_PARAM);
    CHECK(brain_get_cycle(b) == 0);
    CHECK(brain_step(b, s, 16, m, NULL) == 0);
    CHECK(brain_get_cycle(b) == 1);
    brain_destroy(&b);
}

TEST(refuses_bad_params_with_a_sentence)
{
    brain_params p = small_params(4, 4, 4, 4);
    p.decay = 1.5f;
    brain *b = (brain *)1;
    char err[256] = "";
    CHECK(brain_create(&p, &b, err, sizeof err) == BRAIN_ERR_PARAM);
    CHECK(b == NULL);
    CHECK_MSG(strstr(err, "decay") && strstr(err, "allowed 0 to 1"), "%s", err);
    p = small_params(4096, 4096, 4096, 4);
    CHECK(brain_create(&p, &b, err, sizeof err) == BRAIN_ERR_PARAM);
    CHECK_MSG(strstr(err, "too many"), "%s", err);
}

TEST(unstable_momentum_is_warned)
{
    brain_params p = small_params(4, 4, 4, 4);
    char warn[256];
    CHECK(!brain_params_unstable(&p, warn, sizeof warn));
    p.momentum_gain = 0.05f;
    CHECK(brain_params_unstable(&p, warn, sizeof warn));
    CHECK_MSG(strstr(warn, "momentum_gain") && strstr(warn, "decay") && strstr(warn, "cycle"), "%s", warn);
}

/* ---- checkpoints ---- */

static char *temp_dir(void)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/fbtest-XXXXXX");
    return mkdtemp(dir);
}

/* Cycles from..from+n-1, their motors into motors; energized (if not NULL)
 * counts the cycles that added energy. */
static void run_cycles_counting(brain *b, int from, int n, float *motors, int *energized)
{
    float s[16];
    for (int k = from; k < from + n; k++) {
        brain_stats st;
        sensors_for((uint64_t)k, 16, s);
        brain_step(b, s, 16, motors + 5 * (k - from), &st);
        if (energized)
            *energized += st.energized;
    }
}

static void run_cycles(brain *b, int from, int n, float *motors)
{
    run_cycles_counting(b, from, n, motors, NULL);
}

TEST(checkpoint_resume_gives_the_same_motors)
{
    char *dir = temp_dir(), path[128], err[512];
    CHECK(dir);
    snprintf(path, sizeof path, "%s/ckpt", dir);
    brain_params p = small_params(9, 7, 5, 10);
    p.momentum_gain = 0.02f;
    brain *a, *b;
    CHECK(brain_create(&p, &a, NULL, 0) == 0);
    float m1[5 * 40], m2[5 * 40];
    run_cycles(a, 0, 23, m1);
    CHECK_MSG(brain_save(a, path, err, sizeof err) == 0, "%s", err);
    run_cycles(a, 23, 40, m1);

    brain_params q = small_params(1, 1, 1, 1);
    CHECK_MSG(brain_checkpoint_params(path, &q, err, sizeof err) == 0, "%s", err);
    CHECK(q.size_x == 9 && q.size_y == 7 && q.size_z == 5 && q.channels == 10);
    CHECK(q.momentum_gain == p.momentum_gain && q.decay == p.decay && q.seed == p.seed);
    CHECK(brain_create(&q, &b, NULL, 0) == 0);
    CHECK_MSG(brain_load(b, path, err, sizeof err) == 0, "%s", err);
    CHECK(brain_get_cycle(b) == 23);
    run_cycles(b, 23, 40, m2);
    CHECK(memcmp(m1, m2, sizeof m1) == 0);
    brain_destroy(&a);
    brain_destroy(&b);
}

/* An activity cycle keeps both outcomes of step 6 in its one pass and adds
 * the energy after it (brain_cpu.c, "Activity in the same pass"); the sums
 * it carries must still be those of a pass over the energized field, bit for
 * bit, or a brain saved just after energy was added resumes differently. */
TEST(checkpoint_after_energy_resumes_bit_for_bit)
{
    char *dir = temp_dir(), path[128], err[512];
    CHECK(dir);
    snprintf(path, sizeof path, "%s/ckpt-energy", dir);
    brain_params p = small_params(9, 7, 5, 10);
    p.momentum_gain = 0.02f;
    p.threads = 2;
    brain *a, *b;
    CHECK(brain_create(&p, &a, NULL, 0) == 0);
    float m1[5 * 40], m2[5 * 40], s[16];
    run_cycles(a, 0, 29, m1);
    brain_stats st = {0};
    sensors_for(29, 16, s);
    CHECK(brain_step(a, s, 16, m1, &st) == 0);
    CHECK_MSG(st.activity >= 0 && st.energized && st.diffused, "cycle 30 did not diffuse and add energy");
    CHECK_MSG(brain_save(a, path, err, sizeof err) == 0, "%s", err);
    run_cycles(a, 30, 40, m1);

    CHECK(brain_create(&p, &b, NULL, 0) == 0);
    CHECK_MSG(brain_load(b, path, err, sizeof err) == 0, "%s", err);
    CHECK(brain_get_cycle(b) == 30);
    run_cycles(b, 30, 40, m2);
    CHECK(memcmp(m1, m2, sizeof m1) == 0);
    brain_destroy(&a);
    brain_destroy(&b);
}

/* Where bounds on the activity tell before the pass whether energy is due,
 * an activity cycle adds it (or not) directly instead of keeping both
 * outcomes (brain_cpu.c, cpu_energy_due). Writing the field back makes the
 * backend forget those bounds, so it keeps both outcomes on that cycle: both
 * ways must give the same field, motors and stats bit for bit, with energy
 * always due (threshold 100) and never (threshold 1e-4), with 10 channels
 * (runs swept 4 points at a time) and 96 (one at a time). */
TEST(activity_known_before_the_pass_matches_both_outcomes)
{
    const float thresholds[4] = {100.0f, 1e-4f, 100.0f, 1e-4f};
    const uint32_t channels[4] = {10, 10, 96, 96};
    for (int i = 0; i < 4; i++) {
        brain_params p = covering_params(9, 7, 5, channels[i]);
        p.activity_threshold = thresholds[i];
        p.threads = 2;
        brain *a, *b;
        CHECK(brain_create(&p, &a, NULL, 0) == 0);
        CHECK(brain_create(&p, &b, NULL, 0) == 0);
        uint64_t count = brain_field_count(a);
        float *fa = malloc(count * sizeof(float)), *fb = malloc(count * sizeof(float));
        CHECK(fa && fb);
        float s[16], ma[5], mb[5];
        int energized = 0, activity = 0, same = 1;
        for (uint64_t t = 0; t < 24; t++) {
            sensors_for(t, 16, s);
            if ((t + 1) % p.activity_every == 0) {
                CHECK(brain_read_field(b, fb) == 0);
                CHECK(brain_write_field(b, fb) == 0);
            }
            brain_stats sa, sb;
            CHECK(brain_step(a, s, 16, ma, &sa) == 0);
            CHECK(brain_step(b, s, 16, mb, &sb) == 0);
            activity += sa.activity >= 0;
            energized += sa.energized;
            same &= memcmp(ma, mb, sizeof ma) == 0 && sa.energy == sb.energy && sa.saturated == sb.saturated &&
                    sa.activity == sb.activity && sa.energized == sb.energized;
        }
        CHECK(brain_read_field(a, fa) == 0);
        CHECK(brain_read_field(b, fb) == 0);
        CHECK_MSG(same, "threshold %g, %u channels: motors or stats differ", (double)thresholds[i], channels[i]);
        CHECK_MSG(memcmp(fa, fb, count * sizeof(float)) == 0, "threshold %g, %u channels: the fields differ",
                  (double)thresholds[i], channels[i]);
        CHECK(activity == 12);
        CHECK_MSG(energized == (thresholds[i] > 1.0f ? 12 : 0), "threshold %g: energized %d of 12",
                  (double)thresholds[i], energized);
        free(fb);
        free(fa);
        brain_destroy(&b);
        brain_destroy(&a);
    }
}

static void corrupt_file(const char *path, long offset, bool truncate_instead)
{
    if (truncate_instead) {
        if (truncate(path, offset))
            abort();
        return;
    }
    FILE *f = fopen(path, "r+b");
    fseek(f, offset, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, offset, SEEK_SET);
    fputc(ch ^ 0x5A, f);
    fclose(f);
}

TEST(checkpoint_damage_is_refused_and_the_previous_one_loads)
{
    char *dir = temp_dir(), good[128], bad[128], npy[160], err[512];
    CHECK(dir);
    snprintf(good, sizeof good, "%s/good", dir);
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    brain_params p = small_params(6, 6, 6, 6);
    brain *a;
    CHECK(brain_create(&p, &a, NULL, 0) == 0);
    float m[5 * 10];
    run_cycles(a, 0, 10, m);
    CHECK(brain_save(a, good, err, sizeof err) == 0);
    run_cycles(a, 10, 5, m);
    CHECK(brain_save(a, bad, err, sizeof err) == 0);
    snprintf(npy, sizeof npy, "%s/bad.a.npy", dir);

    corrupt_file(npy, 200, true);
    CHECK(brain_load(a, bad, err, sizeof err) == BRAIN_ERR_FORMAT);
    CHECK_MSG(strstr(err, "truncated"), "%s", err);
    CHECK(brain_get_cycle(a) == 15); /* untouched */

    CHECK(brain_save(a, bad, err, sizeof err) == 0); /* writes bad.b.npy */
    snprintf(npy, sizeof npy, "%s/bad.b.npy", dir);
    corrupt_file(npy, 300, false);
    CHECK(brain_load(a, bad, err, sizeof err) == BRAIN_ERR_FORMAT);
    CHECK_MSG(strstr(err, "checksum"), "%s", err);

    char json[160];
    snprintf(json, sizeof json, "%s/bad.json", dir);
    corrupt_file(json, 20, true);
    CHECK(brain_load(a, bad, err, sizeof err) != 0);

    CHECK_MSG(brain_load(a, good, err, sizeof err) == 0, "%s", err);
    CHECK(brain_get_cycle(a) == 10);

    brain_params other = small_params(6, 6, 6, 7);
    brain *o;
    CHECK(brain_create(&other, &o, NULL, 0) == 0);
    CHECK(brain_load(o, good, err, sizeof err) == BRAIN_ERR_MISMATCH);
    CHECK_MSG(strstr(err, "6x6x6 x 6"), "%s", err);
    CHECK(brain_load(o, "/nonexistent/x", err, sizeof err) == BRAIN_ERR_IO);
    brain_destroy(&o);
    brain_destroy(&a);
}

TEST(checkpoint_save_keeps_the_previous_one_when_the_disk_fails)
{
    char *dir = temp_dir(), path[128], err[512];
    CHECK(dir);
    snprintf(path, sizeof path, "%s/ckpt", dir);
    brain_params p = small_params(6, 6, 6, 6);
    brain *a;
    CHECK(brain_create(&p, &a, NULL, 0) == 0);
    float m[5 * 10];
    run_cycles(a, 0, 4, m);
    CHECK(brain_save(a, path, err, sizeof err) == 0);
    run_cycles(a, 4, 3, m);
    /* /dev/full makes every write fail with ENOSPC, as a full disk does */
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s/ckpt.b.npy.tmp", dir);
    if (symlink("/dev/full", tmp) != 0)
        CHECK(0);
    int rc = brain_save(a, path, err, sizeof err);
    CHECK_MSG(rc == BRAIN_ERR_IO && strstr(err, "No space"), "rc %d: %s", rc, err);
    CHECK_MSG(brain_load(a, path, err, sizeof err) == 0, "%s", err);
    CHECK(brain_get_cycle(a) == 4);
    brain_destroy(&a);
}

TEST(checkpoint_opens_with_numpy)
{
    char *dir = temp_dir(), path[128], err[512], cmd[512];
    CHECK(dir);
    snprintf(path, sizeof path, "%s/np", dir);
    brain_params p = small_params(5, 4, 3, 7);
    brain *a;
    CHECK(brain_create(&p, &a, NULL, 0) == 0);
    float m[5];
    run_cycles(a, 0, 1, m);
    CHECK(brain_save(a, path, err, sizeof err) == 0);
    float *f = malloc(brain_field_count(a) * sizeof(float));
    brain_read_field(a, f);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy, json; s = json.load(open('%s.json')); "
             "a = numpy.load('%s/' + s['field_file']); print(a.shape, a.dtype, repr(float(a[4, 3, 2, 6])), s['cycle'])\"",
             path, dir);
    FILE *py = popen(cmd, "r");
    CHECK(py);
    char line[256] = "";
    CHECK(fgets(line, sizeof line, py) != NULL);
    pclose(py);
    float got_value = 0;
    CHECK_MSG(sscanf(line, "(5, 4, 3, 7) float32 %f 1", &got_value) == 1, "numpy said: %s", line);
    CHECK(got_value == f[((4 * 4 + 3) * 3 + 2) * 7 + 6]);
    free(f);
    brain_destroy(&a);
}

TEST(read_slab_matches_the_field_on_every_axis)
{
    brain_params p = small_params(5, 4, 3, 7);
    brain *b;
    CHECK(brain_create(&p, &b, NULL, 0) == 0);
    float *f = malloc(brain_field_count(b) * sizeof(float));
    float slab[5 * 4 * 7];
    brain_read_field(b, f);
    const uint32_t extent[3] = {5, 4, 3};
    for (uint32_t axis = 0; axis < 3; axis++) {
        CHECK(brain_slab_count(b, axis) == brain_field_count(b) / extent[axis]);
        for (uint32_t i = 0; i < extent[axis]; i++) {
            CHECK(brain_read_slab(b, axis, i, slab) == 0);
            uint64_t k = 0;
            for (uint32_t x = 0; x < 5; x++)
                for (uint32_t y = 0; y < 4; y++)
                    for (uint32_t z = 0; z < 3; z++) {
                        const uint32_t at[3] = {x, y, z};
                        if (at[axis] != i)
                            continue;
                        for (uint32_t c = 0; c < 7; c++, k++)
                            CHECK(slab[k] == f[field_idx(&p, x, y, z, c)]);
                    }
            CHECK(k == brain_slab_count(b, axis));
        }
        CHECK(brain_read_slab(b, axis, extent[axis], slab) == BRAIN_ERR_PARAM);
    }
    CHECK(brain_read_slab(b, 3, 0, slab) == BRAIN_ERR_PARAM);
    free(f);
    brain_destroy(&b);
}

/* The bandwidth probe scales the field itself by 1 when it is no larger than
 * the field (so the bench's floor costs no second field): every value, -0
 * included, stays as it was, and the brain goes on bit for bit as one that
 * was never probed; a larger probe takes a buffer of its own. */
TEST(bandwidth_probe_leaves_the_field_as_it_was)
{
    brain_params p = small_params(9, 6, 5, 8);
    p.threads = 2;
    brain *a, *b;
    CHECK(brain_create(&p, &a, NULL, 0) == 0);
    CHECK(brain_create(&p, &b, NULL, 0) == 0);
    const uint64_t n = brain_field_count(a);
    float *f = random_field(n, 3, 0.5f), *fa = malloc(n * sizeof(float)), *fb = malloc(n * sizeof(float));
    for (uint64_t i = 0; i < n; i += 13)
        f[i] = -0.0f;
    CHECK(brain_write_field(a, f) == 0);
    CHECK(brain_write_field(b, f) == 0);
    double bw = 0.0;
    CHECK(brain_measure_bandwidth(b, n * sizeof(float), &bw) == 0 && bw > 0.0);
    brain_read_field(b, fb);
    CHECK(memcmp(f, fb, n * sizeof(float)) == 0);
    CHECK(brain_measure_bandwidth(b, 4 * n * sizeof(float), &bw) == 0 && bw > 0.0);
    float s[64], ma[64], mb[64];
    for (uint64_t t = 0; t < 12; t++) {
        brain_stats sa, sb;
        sensors_for(t, p.sensors, s);
        CHECK(brain_step(a, s, p.sensors, ma, &sa) == 0);
        CHECK(brain_step(b, s, p.sensors, mb, &sb) == 0);
        CHECK(memcmp(ma, mb, p.motors * sizeof(float)) == 0);
    }
    brain_read_field(a, fa);
    brain_read_field(b, fb);
    CHECK(memcmp(fa, fb, n * sizeof(float)) == 0);
    free(fb);
    free(fa);
    free(f);
    brain_destroy(&b);
    brain_destroy(&a);
}

/* ---- parameters changed while running (brain_set_params) ---- */

/* A brain whose gains are set at cycle k steps from k on, bit for bit, as a
 * brain made with those gains and loaded from a checkpoint at k; the
 * checkpoint written after the change holds the new values. */
TEST(set_params_live_matches_a_brain_made_with_them)
{
    char *dir = temp_dir(), path[128], err[512];
    CHECK(dir);
    snprintf(path, sizeof path, "%s/ckpt-live", dir);
    brain_params p = small_params(9, 7, 5, 10);
    p.momentum_gain = 0.02f;
    p.threads = 2;
    brain *a, *b;
    CHECK(brain_create(&p, &a, NULL, 0) == 0);
    float m1[5 * 40], m2[5 * 40];
    run_cycles(a, 0, 23, m1);
    CHECK_MSG(brain_save(a, path, err, sizeof err) == 0, "%s", err);
    brain_params q = p;
    q.motor_gain = 50.0f;
    q.decay = 0.9f;
    q.noise_std = 0.05f;
    q.activity_threshold = 0.2f;
    q.diffusion_every = 2;
    CHECK_MSG(brain_set_params(a, &q, err, sizeof err) == 0, "%s", err);
    CHECK(brain_get_params(a)->motor_gain == 50.0f);
    run_cycles(a, 23, 40, m1);

    CHECK(brain_create(&q, &b, NULL, 0) == 0);
    CHECK_MSG(brain_load(b, path, err, sizeof err) == 0, "%s", err);
    run_cycles(b, 23, 40, m2);
    CHECK(memcmp(m1, m2, sizeof m1) == 0);

    /* and a checkpoint taken now resumes with the changed values */
    CHECK_MSG(brain_save(a, path, err, sizeof err) == 0, "%s", err);
    brain_params r = small_params(1, 1, 1, 1);
    CHECK_MSG(brain_checkpoint_params(path, &r, err, sizeof err) == 0, "%s", err);
    CHECK(r.motor_gain == 50.0f && r.decay == 0.9f && r.diffusion_every == 2);
    brain_destroy(&a);
    brain_destroy(&b);
}

/* ---- sparse draws ahead (brain_cpu.c, "Sparse draws ahead") ---- */

/* The cycles before a noise or activity cycle that neither diffuse nor
 * measure make its picks and draws a share at a time, on each slab: on the
 * default schedule of cycles (5, 3, 10), two threads and slabs of 3 and 4
 * planes (more cycles than planes, so some shares are empty), energized every
 * time, the field and the motors stay the reference's; and with shares of
 * several planes. */
TEST(matches_spec_with_sparse_draws_ahead)
{
    brain_params p = covering_params(7, 6, 5, 12);
    p.diffusion_every = 5;
    p.noise_every = 3;
    p.activity_every = 10;
    CHECK(compare_with_ref(p, 2, 31, 16) == 0);
    p.activity_every = 40; /* more cycles ahead than a slab has planes */
    CHECK(compare_with_ref(p, 2, 41, 16) == 0);
    /* fewer: shares of 3, 3 and 2 planes of slabs of 8 */
    p = covering_params(16, 4, 3, 8);
    p.diffusion_every = 5;
    p.noise_every = 3;
    p.activity_every = 4;
    CHECK(compare_with_ref(p, 2, 13, 16) == 0);
}

/* A brain that drew part of the next noise and activity cycles' draws ahead
 * and is then set live to another std and fraction of both (so what it drew
 * is stale), and one that is not (so it keeps what it drew), each against a
 * brain loaded from a checkpoint at that cycle, which draws from there on
 * only: the same motors and field, bit for bit, with energy added at the
 * activity cycles. */
TEST(sparse_draws_ahead_match_a_brain_that_draws_them_later)
{
    char *dir = temp_dir(), path[128], err[512];
    CHECK(dir);
    snprintf(path, sizeof path, "%s/ckpt-ahead", dir);
    brain_params p = small_params(9, 7, 5, 10);
    p.threads = 2;
    p.activity_threshold = 100.0f; /* energy due at every activity cycle */
    p.energy_fraction = 0.3f;
    for (int stale = 0; stale < 2; stale++) {
        brain *a, *b;
        CHECK(brain_create(&p, &a, NULL, 0) == 0);
        float m1[5 * 30], m2[5 * 30];
        int ea = 0, eb = 0;
        run_cycles_counting(a, 0, 23, m1, &ea); /* cycles 21-23 drew for 30, 23 for 24 */
        CHECK_MSG(brain_save(a, path, err, sizeof err) == 0, "%s", err);
        brain_params q = p;
        if (stale) {
            q.energy_std = 0.2f;
            q.energy_fraction = 0.1f;
            q.noise_std = 0.1f;
            q.noise_fraction = 0.05f;
            CHECK_MSG(brain_set_params(a, &q, err, sizeof err) == 0, "%s", err);
        }
        ea = 0;
        run_cycles_counting(a, 23, 30, m1, &ea);
        CHECK(brain_create(&q, &b, NULL, 0) == 0);
        CHECK_MSG(brain_load(b, path, err, sizeof err) == 0, "%s", err);
        run_cycles_counting(b, 23, 30, m2, &eb);
        CHECK_MSG(ea == 3 && eb == 3, "energized %d and %d times, 3 wanted", ea, eb);
        CHECK(memcmp(m1, m2, sizeof m1) == 0);
        uint64_t n = brain_field_count(a);
        float *fa = malloc(n * sizeof(float)), *fb = malloc(n * sizeof(float));
        CHECK(fa && fb);
        brain_read_field(a, fa);
        brain_read_field(b, fb);
        CHECK_MSG(memcmp(fa, fb, n * sizeof(float)) == 0, "fields differ (stale %d)", stale);
        free(fa);
        free(fb);
        brain_destroy(&a);
        brain_destroy(&b);
    }
}

/* What was fixed at create is refused with a sentence naming it; a value out
 * of range with its range; nothing changes either way. */
TEST(set_params_refuses_shape_seed_and_out_of_range)
{
    brain_params p = small_params(4, 4, 4, 4);
    brain *b;
    char err[256];
    CHECK(brain_create(&p, &b, NULL, 0) == 0);
    brain_params q = p;
    q.size_x = 5;
    CHECK(brain_set_params(b, &q, err, sizeof err) == BRAIN_ERR_PARAM);
    CHECK_MSG(strstr(err, "size") && strstr(err, "cannot change while the brain runs"), "%s", err);
    q = p;
    q.seed = 99;
    CHECK(brain_set_params(b, &q, err, sizeof err) == BRAIN_ERR_PARAM);
    CHECK_MSG(strstr(err, "seed"), "%s", err);
    q = p;
    q.decay = 2.0f;
    CHECK(brain_set_params(b, &q, err, sizeof err) == BRAIN_ERR_PARAM);
    CHECK_MSG(strstr(err, "decay") && strstr(err, "allowed 0 to 1"), "%s", err);
    CHECK(brain_get_params(b)->decay == p.decay && brain_get_params(b)->seed == p.seed);
    brain_destroy(&b);
}

/* A snapshot made before a change and taken after it saves the new values
 * (the loop's autosave and the control socket's save make theirs once). */
TEST(snapshot_taken_after_set_params_saves_the_new_values)
{
    char *dir = temp_dir(), path[128], err[512];
    CHECK(dir);
    snprintf(path, sizeof path, "%s/snap", dir);
    brain_params p = small_params(4, 4, 4, 4);
    brain *b;
    brain_snapshot *s;
    CHECK(brain_create(&p, &b, NULL, 0) == 0);
    CHECK(brain_snapshot_create(b, &s) == 0);
    brain_params q = p;
    q.motor_gain = 42.0f;
    CHECK(brain_set_params(b, &q, err, sizeof err) == 0);
    CHECK(brain_snapshot_take(b, s) == 0);
    CHECK_MSG(brain_snapshot_save(s, path, err, sizeof err) == 0, "%s", err);
    brain_params r = small_params(1, 1, 1, 1);
    CHECK_MSG(brain_checkpoint_params(path, &r, err, sizeof err) == 0, "%s", err);
    CHECK(r.motor_gain == 42.0f);
    brain_snapshot_destroy(&s);
    brain_destroy(&b);
}
