/* test_brain_vk.c: the Vulkan backend against the CPU reference, through the
 * public brain API, on lavapipe with the validation layer on (see
 * tests/brain_vk.cmake). Any validation error makes the next brain call fail,
 * so every test here also proves the layer stayed silent. */
#include "brain.h"
#include "harness.h"

#include <stdint.h>

#define TOL_FIELD 1e-5

/* precision f16 against the CPU reference (float32), from the same
 * (half-rounded) field: every stored element is rounded to half once, an
 * error of at most 2^-11 * max(1, |v|) for |v| < 2 (half an ulp); an element
 * is rounded at most three times in one cycle (a sensor's injection, the
 * activity cycle's stored step-5 field, the clamped result), so after one
 * cycle every element is within 3 * 2^-11 < 1.5e-3 of max(1, |ref|) (at the
 * clamp limits of these tests, |v| <= 1.5). A motor averages such errors
 * through tanh(motor_gain * mean): within motor_gain * 1.5e-3 * 1.5. */
#define TOL_F16_FIELD 1.5e-3

/* Parameters that make every optional step run every cycle, with a field of
 * magnitude ~1 against a clamp of 1.5 so that the clamp and saturation bite. */
static brain_params busy_params(uint32_t x, uint32_t y, uint32_t z, uint32_t c, brain_backend backend)
{
    brain_params p;
    brain_params_default(&p);
    p.size_x = x;
    p.size_y = y;
    p.size_z = z;
    p.channels = c;
    p.seed = 7;
    p.backend = backend;
    p.threads = 1;
    p.diffusion_every = 1;
    p.noise_every = 1;
    p.activity_every = 1;
    p.activity_threshold = 100.0f;
    p.noise_fraction = 0.3f;
    p.noise_std = 0.5f;
    p.energy_fraction = 0.3f;
    p.energy_std = 0.5f;
    p.momentum_gain = 0.05f;
    p.sensor_gain = 0.7f;
    p.motor_gain = 2.0f;
    p.clamp_limit = 1.5f;
    return p;
}

/* A reproducible field with values in [-2, 2]. */
static void random_field(float *f, uint64_t n, uint32_t seed)
{
    uint64_t s = 0x9E3779B97F4A7C15ull ^ seed;
    for (uint64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        f[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 4.0 - 2.0);
    }
}

/* Index of the first element outside 1e-5 * max(1, |ref|), or n if none. */
static uint64_t first_mismatch(const float *got, const float *ref, uint64_t n, double tol)
{
    for (uint64_t i = 0; i < n; i++) {
        double scale = fabs((double)ref[i]) > 1.0 ? fabs((double)ref[i]) : 1.0;
        if (!(fabs((double)got[i] - (double)ref[i]) <= tol * scale))
            return i;
    }
    return n;
}

typedef struct {
    brain *vk, *cpu;
    float *fv, *fc;
    uint64_t n;
} pair;

static void pair_free(pair *pr)
{
    brain_destroy(&pr->vk);
    brain_destroy(&pr->cpu);
    free(pr->fv);
    free(pr->fc);
}

static int pair_create(pair *pr, brain_params p)
{
    char err[512] = "";
    memset(pr, 0, sizeof *pr);
    p.backend = BRAIN_BACKEND_VULKAN;
    int rc = brain_create(&p, &pr->vk, err, sizeof err);
    if (rc) {
        fprintf(stderr, "vulkan brain: %s (%s)\n", err, brain_strerror(rc));
        return rc;
    }
    p.backend = BRAIN_BACKEND_CPU;
    rc = brain_create(&p, &pr->cpu, err, sizeof err);
    if (rc) {
        fprintf(stderr, "cpu brain: %s\n", err);
        return rc;
    }
    pr->n = brain_field_count(pr->vk);
    pr->fv = malloc(pr->n * sizeof(float));
    pr->fc = malloc(pr->n * sizeof(float));
    return pr->fv && pr->fc ? 0 : BRAIN_ERR_NOMEM;
}

/* One busy cycle of a random field on both backends; compares every field
 * element, the momentum, every motor and the stats. */
static int compare_one_cycle(uint32_t x, uint32_t y, uint32_t z, uint32_t c, uint32_t sensors,
                             uint32_t motors, uint32_t n_sensors)
{
    brain_params p = busy_params(x, y, z, c, BRAIN_BACKEND_VULKAN);
    p.sensors = sensors;
    p.motors = motors;
    pair pr;
    int bad = 1;
    if (pair_create(&pr, p))
        goto out;
    random_field(pr.fc, pr.n, x * 1000 + c);
    if (brain_write_field(pr.vk, pr.fc) || brain_write_field(pr.cpu, pr.fc))
        goto out;
    float s[4096], mv[4096], mc[4096];
    for (uint32_t i = 0; i < n_sensors; i++)
        s[i] = (float)sin(0.7 * i + 0.3) * 2.0f;
    brain_stats sv, sc;
    if (brain_step(pr.vk, s, n_sensors, mv, &sv) || brain_step(pr.cpu, s, n_sensors, mc, &sc)) {
        fprintf(stderr, "step failed\n");
        goto out;
    }
    if (brain_read_field(pr.vk, pr.fv) || brain_read_field(pr.cpu, pr.fc))
        goto out;
    uint64_t i = first_mismatch(pr.fv, pr.fc, pr.n, TOL_FIELD);
    if (i != pr.n) {
        fprintf(stderr, "%ux%ux%u x %u: field element %llu (point %llu channel %llu): vulkan %.9g cpu %.9g\n",
                x, y, z, c, (unsigned long long)i, (unsigned long long)(i / c),
                (unsigned long long)(i % c), pr.fv[i], pr.fc[i]);
        goto out;
    }
    if (first_mismatch(mv, mc, motors, TOL_FIELD) != motors) {
        fprintf(stderr, "motors differ: %.9g vs %.9g ...\n", mv[0], mc[0]);
        goto out;
    }
    float Mv[4096], Mc[4096];
    if (brain_read_momentum(pr.vk, Mv) || brain_read_momentum(pr.cpu, Mc))
        goto out;
    if (first_mismatch(Mv, Mc, c, TOL_FIELD) != c) {
        fprintf(stderr, "momentum differs\n");
        goto out;
    }
    if (!sv.diffused || !sv.noised || !sv.energized || !sc.energized ||
        fabs(sv.energy - sc.energy) > 1e-5 * sc.energy ||
        fabs(sv.activity - sc.activity) > 1e-5 * sc.activity ||
        fabs(sv.saturated - sc.saturated) > 2.0 / (double)pr.n || sc.saturated <= 0.0f) {
        fprintf(stderr, "stats differ: energy %.9g/%.9g activity %.9g/%.9g saturated %.9g/%.9g energized %d/%d\n",
                sv.energy, sc.energy, sv.activity, sc.activity, sv.saturated, sc.saturated,
                sv.energized, sc.energized);
        goto out;
    }
    bad = 0;
out:
    pair_free(&pr);
    return bad;
}

TEST(one_cycle_matches_cpu_small_odd_grid)
{
    CHECK_EQ_INT(compare_one_cycle(7, 5, 3, 6, 16, 5, 16), 0);
}

TEST(one_cycle_matches_cpu_channels_not_multiple_of_4)
{
    CHECK_EQ_INT(compare_one_cycle(4, 6, 5, 13, 16, 5, 16), 0);
}

TEST(one_cycle_matches_cpu_two_channel_chunks)
{
    /* 70 channels: two chunks of 35 lanes. */
    CHECK_EQ_INT(compare_one_cycle(5, 3, 4, 70, 16, 7, 16), 0);
}

TEST(one_cycle_matches_cpu_many_lines_per_lane)
{
    /* 4900 lines of 33 channels: two lines per lane (past 4096 line blocks). */
    CHECK_EQ_INT(compare_one_cycle(70, 70, 2, 33, 16, 5, 16), 0);
}

/* The diffusion pass walks bricks of 4 x 4 lines (cycle.comp), shaped by
 * the device type (brain_vk.c's fbvk_plan): whole columns on a CPU device, z
 * segments of 16 or more heights on a GPU. FB_VK_PLAN forces either shape,
 * so lavapipe runs both: partial bricks at the x and y edges, a last short
 * z segment (40 heights: 16 + 16 + 8 on the GPU shape), two bricks a lane
 * (the CPU shape at 9 x 10 lines of 64 channels), two channel chunks. */
TEST(diffusion_bricks_match_cpu_under_either_plan)
{
    static const uint32_t shapes[][4] = {{9, 10, 40, 3}, {9, 10, 40, 64}, {5, 6, 7, 3}, {6, 3, 33, 70}};
    static const char *const plans[] = {"gpu", "cpu"};
    for (int k = 0; k < 2; k++) {
        setenv("FB_VK_PLAN", plans[k], 1);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const uint32_t *sh = shapes[i];
            CHECK_MSG(compare_one_cycle(sh[0], sh[1], sh[2], sh[3], 16, 5, 16) == 0,
                      "plan %s, %ux%ux%u x %u", plans[k], sh[0], sh[1], sh[2], sh[3]);
        }
    }
    unsetenv("FB_VK_PLAN");
}

/* The box is summed in one order whatever the bricks: with no momentum and
 * no energy (the two things that read the plan-dependent partial sums), two
 * cycles of diffusion (one plain, one split) give the same bits under either
 * shape, and differ from no diffusion at all. */
static int diffuse_two(const char *plan, float rate, float *f, uint64_t n)
{
    brain_params p = busy_params(9, 10, 40, 64, BRAIN_BACKEND_VULKAN);
    p.activity_every = 2;
    p.activity_threshold = 0.0f;
    p.momentum_gain = 0.0f;
    p.diffusion_rate = rate;
    setenv("FB_VK_PLAN", plan, 1);
    char err[512] = "";
    brain *b = NULL;
    int rc = brain_create(&p, &b, err, sizeof err);
    unsetenv("FB_VK_PLAN");
    if (rc) {
        fprintf(stderr, "vulkan brain: %s\n", err);
        return rc;
    }
    float s[16] = {1, -1, 0.5f}, m[5];
    brain_stats st;
    if (brain_field_count(b) != n)
        rc = -100;
    for (int t = 0; t < 2 && !rc; t++)
        rc = brain_step(b, s, 16, m, &st);
    if (!rc)
        rc = brain_read_field(b, f);
    brain_destroy(&b);
    return rc;
}

TEST(diffusion_bits_do_not_depend_on_the_bricks)
{
    enum { NF = 9 * 10 * 40 * 64 };
    static float fg[NF], fc[NF], f0[NF];
    CHECK_EQ_INT(diffuse_two("gpu", 0.3f, fg, NF), 0);
    CHECK_EQ_INT(diffuse_two("cpu", 0.3f, fc, NF), 0);
    CHECK_EQ_INT(diffuse_two("cpu", 0.0f, f0, NF), 0);
    CHECK(memcmp(fg, fc, sizeof fg) == 0);
    CHECK(memcmp(fg, f0, sizeof fg) != 0);
}

TEST(one_cycle_matches_cpu_colliding_sensors)
{
    /* 40 sensors on 8 points and 3 channels: many add to the same element,
     * and must add in index order. */
    CHECK_EQ_INT(compare_one_cycle(2, 2, 2, 3, 40, 3, 40), 0);
}

TEST(colliding_sensors_add_in_index_order_bit_exact)
{
    /* Every step but injection is the identity here, and the sensor values
     * make the sum's order visible in the last bits: the result must be the
     * CPU's sequential loop, bit for bit. */
    brain_params p = busy_params(2, 1, 2, 3, BRAIN_BACKEND_VULKAN);
    p.sensors = 64;
    p.decay = 1.0f;
    p.diffusion_every = p.noise_every = p.activity_every = 1000000;
    p.momentum_gain = 0.0f;
    p.sensor_gain = 1.0f;
    p.clamp_limit = 1e30f;
    pair pr;
    int rc = pair_create(&pr, p);
    float s[64], m[5];
    for (int i = 0; i < 64; i++)
        s[i] = (i % 3 == 0 ? 3e7f : 1.0f) * (float)((i * 7919) % 13 - 6) + 0.1f * (float)i;
    if (!rc)
        rc = brain_step(pr.vk, s, 64, m, NULL);
    if (!rc)
        rc = brain_step(pr.cpu, s, 64, m, NULL);
    if (!rc)
        rc = brain_read_field(pr.vk, pr.fv);
    if (!rc)
        rc = brain_read_field(pr.cpu, pr.fc);
    int same = !rc && memcmp(pr.fv, pr.fc, pr.n * sizeof(float)) == 0;
    pair_free(&pr);
    CHECK_EQ_INT(rc, 0);
    CHECK(same);
}

TEST(one_cycle_matches_cpu_short_sensor_vector)
{
    CHECK_EQ_INT(compare_one_cycle(6, 7, 8, 5, 16, 5, 3), 0);
}

TEST(one_cycle_matches_cpu_single_point)
{
    CHECK_EQ_INT(compare_one_cycle(1, 1, 1, 4, 4, 2, 4), 0);
}

TEST(initial_fields_agree)
{
    brain_params p = busy_params(9, 4, 7, 11, BRAIN_BACKEND_VULKAN);
    p.init_std = 1.0f;
    pair pr;
    int rc = pair_create(&pr, p);
    if (!rc)
        rc = brain_read_field(pr.vk, pr.fv);
    if (!rc)
        rc = brain_read_field(pr.cpu, pr.fc);
    uint64_t i = rc ? 0 : first_mismatch(pr.fv, pr.fc, pr.n, TOL_FIELD);
    uint64_t n = pr.n;
    double v0 = rc ? 0 : pr.fv[0];
    float M[16] = {1};
    if (!rc)
        rc = brain_read_momentum(pr.vk, M);
    pair_free(&pr);
    CHECK_EQ_INT(rc, 0);
    CHECK_MSG(i == n, "element %llu differs", (unsigned long long)i);
    CHECK(v0 != 0.0);
    for (int c = 0; c < 11; c++)
        CHECK(M[c] == 0.0f);
}

TEST(hundred_cycles_motors_match_cpu)
{
    brain_params p;
    brain_params_default(&p);
    p.size_x = 8;
    p.size_y = 7;
    p.size_z = 6;
    p.channels = 12;
    p.seed = 42;
    p.threads = 1;
    p.motor_gain = 50.0f; /* motors that use their range */
    pair pr;
    int rc = pair_create(&pr, p);
    float s[16], mv[5], mc[5];
    double worst = 0.0;
    int energized = 0, diffused = 0, noised = 0, lazy = 0;
    for (int t = 0; t < 100 && !rc; t++) {
        for (int i = 0; i < 16; i++)
            s[i] = (float)sin(0.05 * t * (i + 1));
        brain_stats sv, sc;
        rc = brain_step(pr.vk, s, 16, mv, &sv);
        if (!rc)
            rc = brain_step(pr.cpu, s, 16, mc, &sc);
        for (int j = 0; j < 5 && !rc; j++) {
            double d = fabs((double)mv[j] - (double)mc[j]);
            worst = d > worst ? d : worst;
        }
        energized += sv.energized;
        diffused += sv.diffused;
        noised += sv.noised;
        lazy += isnan(sv.energy); /* the dense pass skipped (brain_vk.c) */
        if (!rc && sv.energized != sc.energized)
            rc = -100;
    }
    pair_free(&pr);
    CHECK_EQ_INT(rc, 0);
    CHECK_MSG(worst <= 1e-4, "worst motor difference %.3g", worst);
    CHECK(energized > 0 && diffused == 20 && noised == 33);
    /* Every cycle without diffusion was lazy: the tolerance covers them. */
    CHECK_EQ_INT(lazy, 80);
}

TEST(three_hundred_cycles_with_the_clamp_binding_motors_match_cpu)
{
    /* The default schedule with the original's momentum gain (the channel
     * means grow ~3 %% a cycle) from a field of magnitude ~3 with a bias per
     * channel: the clamp binds on more and more of the field, so the
     * momentum mean predicted before each pass (from the sums of the clamped
     * field the previous pass wrote) is tested where the clamp matters. */
    brain_params p;
    brain_params_default(&p);
    p.size_x = 9;
    p.size_y = 6;
    p.size_z = 7;
    p.channels = 11;
    p.seed = 99;
    p.threads = 1;
    p.momentum_gain = 0.05f;
    pair pr;
    int rc = pair_create(&pr, p);
    if (!rc) {
        random_field(pr.fc, pr.n, 5);
        for (uint64_t i = 0; i < pr.n; i++)
            pr.fc[i] = 1.5f * pr.fc[i] + 0.2f * (float)((int)(i % 11) - 4);
        rc = brain_write_field(pr.vk, pr.fc);
        if (!rc)
            rc = brain_write_field(pr.cpu, pr.fc);
    }
    float s[16], mv[5], mc[5];
    double worst = 0.0, worst_sat = 0.0;
    float first_sat = -1.0f, last_sat = -1.0f;
    for (int t = 0; t < 300 && !rc; t++) {
        for (int i = 0; i < 16; i++)
            s[i] = (float)sin(0.03 * t * (i + 1) + i);
        brain_stats sv, sc;
        rc = brain_step(pr.vk, s, 16, mv, &sv);
        if (!rc)
            rc = brain_step(pr.cpu, s, 16, mc, &sc);
        for (int j = 0; j < 5 && !rc; j++) {
            double d = fabs((double)mv[j] - (double)mc[j]);
            worst = d > worst ? d : worst;
        }
        double ds = fabs((double)sv.saturated - (double)sc.saturated);
        worst_sat = ds > worst_sat ? ds : worst_sat;
        if (t == 0)
            first_sat = sc.saturated;
        last_sat = sc.saturated;
    }
    pair_free(&pr);
    CHECK_EQ_INT(rc, 0);
    CHECK_MSG(worst <= 1e-4, "worst motor difference %.3g", worst);
    /* A few elements may sit on either side of the limit by rounding. */
    CHECK_MSG(worst_sat <= 0.01, "saturated fractions differ by %.3g", worst_sat);
    CHECK_MSG(first_sat == 0.0f && last_sat > 0.2f, "saturated %.3g then %.3g: the clamp must bind",
              first_sat, last_sat);
}

/* One busy cycle of a random field: Vulkan with precision f16 against the
 * CPU (float32) from the same half-rounded field. */
static int compare_one_cycle_f16(uint32_t x, uint32_t y, uint32_t z, uint32_t c)
{
    brain_params p = busy_params(x, y, z, c, BRAIN_BACKEND_VULKAN);
    p.precision = BRAIN_PRECISION_F16;
    char err[512] = "";
    pair pr;
    memset(&pr, 0, sizeof pr);
    int bad = 1;
    if (brain_create(&p, &pr.vk, err, sizeof err)) {
        fprintf(stderr, "vulkan f16 brain: %s\n", err);
        goto out;
    }
    p.backend = BRAIN_BACKEND_CPU;
    p.precision = BRAIN_PRECISION_F32;
    if (brain_create(&p, &pr.cpu, err, sizeof err))
        goto out;
    pr.n = brain_field_count(pr.vk);
    pr.fv = malloc(pr.n * sizeof(float));
    pr.fc = malloc(pr.n * sizeof(float));
    if (!pr.fv || !pr.fc)
        goto out;
    random_field(pr.fc, pr.n, x * 1000 + c);
    /* The Vulkan brain stores the field as half: give the CPU what it holds. */
    if (brain_write_field(pr.vk, pr.fc) || brain_read_field(pr.vk, pr.fc) ||
        brain_write_field(pr.cpu, pr.fc))
        goto out;
    float s[16], mv[16], mc[16];
    for (uint32_t i = 0; i < 16; i++)
        s[i] = (float)sin(0.7 * i + 0.3) * 2.0f;
    brain_stats sv, sc;
    if (brain_step(pr.vk, s, 16, mv, &sv) || brain_step(pr.cpu, s, 16, mc, &sc))
        goto out;
    if (brain_read_field(pr.vk, pr.fv) || brain_read_field(pr.cpu, pr.fc))
        goto out;
    uint64_t i = first_mismatch(pr.fv, pr.fc, pr.n, TOL_F16_FIELD);
    if (i != pr.n) {
        fprintf(stderr, "f16 %ux%ux%u x %u: element %llu: vulkan %.9g cpu %.9g\n", x, y, z, c,
                (unsigned long long)i, pr.fv[i], pr.fc[i]);
        goto out;
    }
    /* Not the float32 result: the test sees the half rounding. */
    if (first_mismatch(pr.fv, pr.fc, pr.n, 1e-6) == pr.n) {
        fprintf(stderr, "f16 field equals the float32 one to 1e-6: not stored as half?\n");
        goto out;
    }
    double tol_motor = p.motor_gain * TOL_F16_FIELD * 1.5;
    for (uint32_t j = 0; j < p.motors; j++)
        if (!(fabs((double)mv[j] - (double)mc[j]) <= tol_motor)) {
            fprintf(stderr, "f16 motor %u: %.9g vs %.9g\n", j, mv[j], mc[j]);
            goto out;
        }
    float Mv[128], Mc[128];
    if (brain_read_momentum(pr.vk, Mv) || brain_read_momentum(pr.cpu, Mc))
        goto out;
    if (first_mismatch(Mv, Mc, c, 1e-4) != c) {
        fprintf(stderr, "f16 momentum differs\n");
        goto out;
    }
    if (!sv.energized || fabs(sv.energy - sc.energy) > TOL_F16_FIELD * sc.energy ||
        fabs(sv.saturated - sc.saturated) > 0.01 || sc.saturated <= 0.0f) {
        fprintf(stderr, "f16 stats: energy %.9g/%.9g saturated %.9g/%.9g\n", sv.energy, sc.energy,
                sv.saturated, sc.saturated);
        goto out;
    }
    bad = 0;
out:
    pair_free(&pr);
    return bad;
}

TEST(f16_one_cycle_within_half_rounding_of_cpu)
{
    CHECK_EQ_INT(compare_one_cycle_f16(7, 5, 3, 6), 0);
    CHECK_EQ_INT(compare_one_cycle_f16(5, 3, 4, 70), 0);
}

TEST(f16_hundred_cycles_motors_near_cpu)
{
    /* As hundred_cycles_motors_match_cpu, the field stored as half. The
     * rounding errors (2^-12 of |F| on average per cycle) are damped by the
     * decay and averaged over the channels of a motor spot: the
     * worst difference measured on lavapipe is 1.7e-3 with motor_gain 50
     * (motors up to 0.4); bound 5e-3. */
    brain_params p;
    brain_params_default(&p);
    p.size_x = 8;
    p.size_y = 7;
    p.size_z = 6;
    p.channels = 12;
    p.seed = 42;
    p.threads = 1;
    p.motor_gain = 50.0f;
    p.backend = BRAIN_BACKEND_VULKAN;
    p.precision = BRAIN_PRECISION_F16;
    char err[512] = "";
    pair pr;
    memset(&pr, 0, sizeof pr);
    int rc = brain_create(&p, &pr.vk, err, sizeof err);
    p.backend = BRAIN_BACKEND_CPU;
    p.precision = BRAIN_PRECISION_F32;
    if (!rc)
        rc = brain_create(&p, &pr.cpu, err, sizeof err);
    float f[8 * 7 * 6 * 12];
    if (!rc)
        rc = brain_read_field(pr.vk, f);
    if (!rc)
        rc = brain_write_field(pr.cpu, f);
    float s[16], mv[5], mc[5];
    double worst = 0.0, moved = 0.0;
    int energized = 0;
    for (int t = 0; t < 100 && !rc; t++) {
        for (int i = 0; i < 16; i++)
            s[i] = (float)sin(0.05 * t * (i + 1));
        brain_stats sv, sc;
        rc = brain_step(pr.vk, s, 16, mv, &sv);
        if (!rc)
            rc = brain_step(pr.cpu, s, 16, mc, &sc);
        for (int j = 0; j < 5 && !rc; j++) {
            double d = fabs((double)mv[j] - (double)mc[j]);
            worst = d > worst ? d : worst;
            moved = fabs((double)mc[j]) > moved ? fabs((double)mc[j]) : moved;
        }
        energized += sv.energized;
        if (!rc && sv.energized != sc.energized)
            rc = -100;
    }
    pair_free(&pr);
    CHECK_MSG(rc == 0, "%d %s", rc, err);
    CHECK_MSG(worst <= 5e-3, "worst motor difference %.3g", worst);
    fprintf(stderr, "f16: worst motor difference over 100 cycles %.3g (motors up to %.3g)\n", worst, moved);
    CHECK(moved > 0.1 && energized > 0);
}

TEST(f16_refused_by_the_cpu_backend)
{
    brain_params p = busy_params(3, 3, 3, 4, BRAIN_BACKEND_CPU);
    p.precision = BRAIN_PRECISION_F16;
    char err[512] = "";
    brain *b = NULL;
    CHECK_EQ_INT(brain_create(&p, &b, err, sizeof err), BRAIN_ERR_PARAM);
    CHECK(b == NULL);
    CHECK_MSG(strstr(err, "f16") && strstr(err, "Vulkan"), "%s", err);
    p.backend = BRAIN_BACKEND_VULKAN;
    p.clamp_limit = 1e5f;
    CHECK_EQ_INT(brain_create(&p, &b, err, sizeof err), BRAIN_ERR_PARAM);
    CHECK_MSG(strstr(err, "65504") != NULL, "%s", err);
}

TEST(f16_validation_silent_and_runs_bit_identical)
{
    /* Every variant (diffusion, noise, activity) with the validation layer
     * on, write_field between cycles, and two runs alike to the bit. */
    float a[5 * 12], b[5 * 12], fa[5 * 4 * 3 * 7], fb[5 * 4 * 3 * 7];
    for (int run = 0; run < 2; run++) {
        brain_params p = busy_params(5, 4, 3, 7, BRAIN_BACKEND_VULKAN);
        p.diffusion_every = 2;
        p.activity_every = 3;
        p.validation = true;
        p.precision = BRAIN_PRECISION_F16;
        char err[256];
        brain *br = NULL;
        CHECK_EQ_INT(brain_create(&p, &br, err, sizeof err), 0);
        float s[16] = {0.5f, -1.0f};
        float *m = run ? b : a, *f = run ? fb : fa;
        for (int t = 0; t < 12; t++) {
            CHECK_EQ_INT(brain_step(br, s, 16, m + 5 * t, NULL), 0);
            if (t == 4) {
                CHECK_EQ_INT(brain_read_field(br, f), 0);
                CHECK_EQ_INT(brain_write_field(br, f), 0);
            }
        }
        CHECK_EQ_INT(brain_read_field(br, f), 0);
        brain_destroy(&br);
    }
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(fa, fb, sizeof fa) == 0);
    for (int i = 0; i < 5 * 12; i++)
        CHECK(isfinite(a[i]));
}

/* Motors of `cycles` cycles of a Vulkan brain with this seed. */
static int run_motors(uint64_t seed, int cycles, float *out, float *field, uint64_t n)
{
    brain_params p = busy_params(6, 5, 4, 9, BRAIN_BACKEND_VULKAN);
    p.seed = seed;
    p.diffusion_every = 2;
    p.activity_every = 3;
    char err[256];
    brain *b = NULL;
    int rc = brain_create(&p, &b, err, sizeof err);
    float s[16];
    for (int t = 0; t < cycles && !rc; t++) {
        for (int i = 0; i < 16; i++)
            s[i] = (float)cos(0.1 * t + i);
        rc = brain_step(b, s, 16, out + 5 * t, NULL);
    }
    if (!rc && brain_field_count(b) == n)
        rc = brain_read_field(b, field);
    brain_destroy(&b);
    return rc;
}

TEST(same_seed_is_bit_identical_other_seed_differs)
{
    enum { T = 20 };
    const uint64_t n = 6 * 5 * 4 * 9;
    float a[5 * T], b[5 * T], c[5 * T], fa[6 * 5 * 4 * 9], fb[6 * 5 * 4 * 9], fc[6 * 5 * 4 * 9];
    CHECK_EQ_INT(run_motors(11, T, a, fa, n), 0);
    CHECK_EQ_INT(run_motors(11, T, b, fb, n), 0);
    CHECK_EQ_INT(run_motors(12, T, c, fc, n), 0);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(fa, fb, sizeof fa) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
}

TEST(field_larger_than_storage_buffer_range)
{
    /* 64^3 x 130 floats = 136 MB, over lavapipe's 128 MiB maxStorageBufferRange. */
    brain_params p = busy_params(64, 64, 64, 130, BRAIN_BACKEND_VULKAN);
    p.init_std = 1.0f;
    p.threads = 0;
    pair pr;
    int rc = pair_create(&pr, p);
    uint64_t bad_init = 0, bad_step = 0, n = pr.n;
    if (!rc)
        rc = brain_read_field(pr.vk, pr.fv);
    if (!rc)
        rc = brain_read_field(pr.cpu, pr.fc);
    if (!rc)
        bad_init = first_mismatch(pr.fv, pr.fc, n, TOL_FIELD);
    float s[16] = {1, -1, 2, -2, 3, -3, 0.5f, 4}, mv[5], mc[5];
    brain_stats sv, sc;
    if (!rc)
        rc = brain_step(pr.vk, s, 16, mv, &sv);
    if (!rc)
        rc = brain_step(pr.cpu, s, 16, mc, &sc);
    if (!rc)
        rc = brain_read_field(pr.vk, pr.fv);
    if (!rc)
        rc = brain_read_field(pr.cpu, pr.fc);
    if (!rc)
        bad_step = first_mismatch(pr.fv, pr.fc, n, TOL_FIELD);
    uint32_t bad_motor = rc ? 0 : (uint32_t)first_mismatch(mv, mc, 5, TOL_FIELD);
    pair_free(&pr);
    CHECK_EQ_INT(rc, 0);
    CHECK(n * 4 > (128ull << 20));
    CHECK_MSG(bad_init == n, "initial element %llu differs", (unsigned long long)bad_init);
    CHECK_MSG(bad_step == n, "element %llu differs after a cycle", (unsigned long long)bad_step);
    CHECK_EQ_INT(bad_motor, 5);
    CHECK(sv.diffused && sv.noised && sv.energized);
    CHECK_NEAR(sv.energy, sc.energy, 1e-5 * sc.energy);
}

TEST(device_forced_by_name_and_index)
{
    brain_params p = busy_params(3, 3, 3, 4, BRAIN_BACKEND_VULKAN);
    snprintf(p.device, sizeof p.device, "LLVMpipe");
    char err[256] = "";
    brain *b = NULL;
    CHECK_EQ_INT(brain_create(&p, &b, err, sizeof err), 0);
    CHECK(strstr(brain_device_name(b), "llvmpipe") != NULL);
    CHECK(strstr(brain_device_reason(b), "forced by device 'LLVMpipe'") != NULL);
    CHECK(brain_get_backend(b) == BRAIN_BACKEND_VULKAN);
    brain_destroy(&b);
    snprintf(p.device, sizeof p.device, "0");
    CHECK_EQ_INT(brain_create(&p, &b, err, sizeof err), 0);
    CHECK(strstr(brain_device_name(b), "llvmpipe") != NULL);
    brain_destroy(&b);
}

TEST(bad_device_gives_clear_error)
{
    brain_params p = busy_params(3, 3, 3, 4, BRAIN_BACKEND_VULKAN);
    snprintf(p.device, sizeof p.device, "no-such-gpu");
    char err[512] = "";
    brain *b = NULL;
    CHECK_EQ_INT(brain_create(&p, &b, err, sizeof err), BRAIN_ERR_DEVICE);
    CHECK(b == NULL);
    CHECK_MSG(strstr(err, "no-such-gpu") && strstr(err, "llvmpipe"), "%s", err);
    snprintf(p.device, sizeof p.device, "99");
    CHECK_EQ_INT(brain_create(&p, &b, err, sizeof err), BRAIN_ERR_DEVICE);
    CHECK_MSG(strstr(err, "'99'") != NULL, "%s", err);
}

TEST(auto_backend_refuses_lavapipe_and_falls_back_to_cpu)
{
    brain_params p = busy_params(3, 3, 3, 4, BRAIN_BACKEND_AUTO);
    char err[512] = "";
    brain *b = NULL;
    CHECK_EQ_INT(brain_create(&p, &b, err, sizeof err), 0);
    CHECK(brain_get_backend(b) == BRAIN_BACKEND_CPU);
    CHECK_MSG(strstr(brain_device_reason(b), "CPU device") != NULL, "%s", brain_device_reason(b));
    brain_destroy(&b);
}

TEST(field_too_big_for_device)
{
    /* 4096 x 4096 x 255 floats: 17 GB a buffer, past what lavapipe allocates. */
    brain_params p = busy_params(4096, 4096, 255, 1, BRAIN_BACKEND_VULKAN);
    char err[512] = "";
    brain *b = NULL;
    CHECK_EQ_INT(brain_create(&p, &b, err, sizeof err), BRAIN_ERR_TOO_BIG);
    CHECK_MSG(strstr(err, "MB") != NULL && strstr(err, "field") != NULL, "%s", err);
}

TEST(validation_on_and_silent_through_every_variant)
{
    const char *env = getenv("FB_VALIDATION");
    CHECK_MSG(env && strcmp(env, "1") == 0, "run through ctest: FB_VALIDATION=1 must be set");
    brain_params p = busy_params(5, 4, 3, 7, BRAIN_BACKEND_VULKAN);
    p.diffusion_every = 2;
    p.activity_every = 3;
    p.validation = true;
    char err[256];
    brain *b = NULL;
    CHECK_EQ_INT(brain_create(&p, &b, err, sizeof err), 0);
    float s[16] = {0}, m[5], f[5 * 4 * 3 * 7], M[7];
    brain_stats st;
    for (int t = 0; t < 12; t++) {
        CHECK_EQ_INT(brain_step(b, s, 16, m, &st), 0);
        CHECK(st.gpu_ms >= 0.0);
        if (t == 4) {
            CHECK_EQ_INT(brain_read_field(b, f), 0);
            CHECK_EQ_INT(brain_write_field(b, f), 0);
            CHECK_EQ_INT(brain_read_momentum(b, M), 0);
        }
    }
    for (int j = 0; j < 5; j++)
        CHECK(isfinite(m[j]));
    /* The copy-bandwidth probe leaves the brain's state alone. */
    float before[5 * 4 * 3 * 7], after[5 * 4 * 3 * 7];
    CHECK_EQ_INT(brain_read_field(b, before), 0);
    double bw = 0.0;
    CHECK_EQ_INT(brain_measure_bandwidth(b, 1u << 20, &bw), 0);
    CHECK(bw > 0.0);
    CHECK_EQ_INT(brain_read_field(b, after), 0);
    CHECK(memcmp(before, after, sizeof before) == 0);
    brain_destroy(&b);
}

TEST(checkpoint_moves_state_between_backends)
{
    /* A CPU brain's field, momentum and cycle, saved and loaded into a Vulkan
     * brain (write_field and write_momentum), then one cycle on each. */
    brain_params p = busy_params(6, 4, 5, 7, BRAIN_BACKEND_VULKAN);
    p.diffusion_every = 2;
    p.activity_every = 4;
    pair pr;
    int rc = pair_create(&pr, p);
    float s[16], mv[5], mc[5], Mv[7], Mc[7];
    for (int i = 0; i < 16; i++)
        s[i] = 0.25f * (float)(i - 8);
    for (int t = 0; t < 5 && !rc; t++)
        rc = brain_step(pr.cpu, s, 16, mc, NULL);
    char dir[64] = "", path[96], err[512] = "";
    if (!rc && harness_temp_dir("vk-ckpt", dir, sizeof dir) < 0)
        rc = -100;
    snprintf(path, sizeof path, "%s/brain", dir);
    if (!rc && (rc = brain_save(pr.cpu, path, err, sizeof err)) == 0)
        rc = brain_load(pr.vk, path, err, sizeof err);
    uint64_t cycle = pr.vk ? brain_get_cycle(pr.vk) : 0;
    if (!rc)
        rc = brain_step(pr.vk, s, 16, mv, NULL);
    if (!rc)
        rc = brain_step(pr.cpu, s, 16, mc, NULL);
    if (!rc)
        rc = brain_read_field(pr.vk, pr.fv);
    if (!rc)
        rc = brain_read_field(pr.cpu, pr.fc);
    if (!rc)
        rc = brain_read_momentum(pr.vk, Mv);
    if (!rc)
        rc = brain_read_momentum(pr.cpu, Mc);
    uint64_t n = pr.n, bad = rc ? 0 : first_mismatch(pr.fv, pr.fc, n, TOL_FIELD);
    uint32_t bad_m = rc ? 0 : (uint32_t)first_mismatch(Mv, Mc, 7, TOL_FIELD);
    uint32_t bad_motor = rc ? 0 : (uint32_t)first_mismatch(mv, mc, 5, TOL_FIELD);
    pair_free(&pr);
    CHECK(!dir[0] || harness_remove_tree(dir) == 0);
    CHECK_MSG(rc == 0, "%d: %s", rc, err);
    CHECK_EQ_INT(cycle, 5);
    CHECK_MSG(bad == n, "element %llu differs", (unsigned long long)bad);
    CHECK_EQ_INT(bad_m, 7);
    CHECK_EQ_INT(bad_motor, 5);
    CHECK(Mc[0] != 0.0f);
}

/* Every plane of every axis equals the same plane cut out of read_field, in
 * both precisions, on an odd shape after a few cycles of every variant. */
static int slabs_match_field(brain_precision precision)
{
    brain_params p = busy_params(5, 3, 7, 6, BRAIN_BACKEND_VULKAN);
    p.diffusion_every = 3;
    p.activity_every = 4;
    p.validation = true;
    p.precision = precision;
    char err[256] = "";
    brain *b = NULL;
    int rc = brain_create(&p, &b, err, sizeof err);
    float s[16] = {1.0f, -0.5f, 0.25f}, m[5];
    for (int t = 0; t < 5 && !rc; t++)
        rc = brain_step(b, s, 16, m, NULL);
    float f[5 * 3 * 7 * 6], slab[5 * 7 * 6];
    if (!rc)
        rc = brain_read_field(b, f);
    const uint32_t ext[3] = {5, 3, 7};
    int bad = rc ? 1 : 0;
    for (uint32_t axis = 0; axis < 3 && !bad; axis++) {
        if (brain_slab_count(b, axis) != (uint64_t)5 * 3 * 7 * 6 / ext[axis])
            bad = 2;
        for (uint32_t i = 0; i < ext[axis] && !bad; i++) {
            memset(slab, 0xFF, sizeof slab); /* NaN: every element must be written */
            if (brain_read_slab(b, axis, i, slab)) {
                bad = 3;
                break;
            }
            uint64_t k = 0;
            for (uint32_t u = 0; u < (axis == 0 ? 3u : 5u); u++)
                for (uint32_t v = 0; v < (axis == 2 ? 3u : 7u); v++)
                    for (uint32_t c = 0; c < 6; c++, k++) {
                        uint32_t x = axis == 0 ? i : u;
                        uint32_t y = axis == 0 ? u : axis == 1 ? i : v;
                        uint32_t z = axis == 2 ? i : v;
                        if (!(slab[k] == f[((x * 3 + y) * 7 + z) * 6 + c])) {
                            fprintf(stderr, "axis %u plane %u: element %llu differs\n", axis, i,
                                    (unsigned long long)k);
                            bad = 4;
                        }
                    }
        }
    }
    if (!bad && brain_read_slab(b, 1, 3, slab) != BRAIN_ERR_PARAM)
        bad = 5;
    brain_destroy(&b);
    return bad;
}

TEST(read_slab_matches_read_field_every_axis_f32_and_f16)
{
    CHECK_EQ_INT(slabs_match_field(BRAIN_PRECISION_F32), 0);
    CHECK_EQ_INT(slabs_match_field(BRAIN_PRECISION_F16), 0);
}

/* ---- lazy cycles (brain/README.md): a cycle without diffusion or
 * activity whose clamp provably cannot bind skips the dense pass; its energy
 * is NaN (not measured) and saturated exactly 0. ---- */

/* A schedule of lazy cycles between diffusion cycles (every 4th), noise
 * every cycle, no activity, a field in [-scale, scale]. */
static brain_params lazy_params(void)
{
    brain_params p = busy_params(7, 5, 3, 6, BRAIN_BACKEND_VULKAN);
    p.diffusion_every = 4;
    p.activity_every = 1000000;
    p.noise_std = 0.05f;
    p.validation = true;
    return p;
}

static int compare_pair(pair *pr, const char *when)
{
    if (brain_read_field(pr->vk, pr->fv) || brain_read_field(pr->cpu, pr->fc))
        return 1;
    uint64_t i = first_mismatch(pr->fv, pr->fc, pr->n, TOL_FIELD);
    if (i != pr->n) {
        fprintf(stderr, "%s: element %llu: vulkan %.9g cpu %.9g\n", when, (unsigned long long)i,
                pr->fv[i], pr->fc[i]);
        return 1;
    }
    float Mv[64], Mc[64];
    uint32_t C = brain_get_params(pr->vk)->channels;
    if (brain_read_momentum(pr->vk, Mv) || brain_read_momentum(pr->cpu, Mc) ||
        first_mismatch(Mv, Mc, C, TOL_FIELD) != C) {
        fprintf(stderr, "%s: momentum differs\n", when);
        return 1;
    }
    return 0;
}

TEST(lazy_cycles_match_cpu_every_element)
{
    brain_params p = lazy_params();
    p.sensor_gain = 0.2f; /* busy_params' 0.7 drives a sensor spot into the clamp */
    pair pr;
    int rc = pair_create(&pr, p);
    if (!rc) {
        random_field(pr.fc, pr.n, 3);
        for (uint64_t i = 0; i < pr.n; i++)
            pr.fc[i] = 0.25f * pr.fc[i] + 0.05f * (float)(i % 6); /* a bias per channel */
        rc = brain_write_field(pr.vk, pr.fc) || brain_write_field(pr.cpu, pr.fc);
    }
    int lazy = 0, dense = 0;
    for (int t = 1; t <= 6 && !rc; t++) {
        float s[16], mv[5], mc[5];
        for (int i = 0; i < 16; i++)
            s[i] = (float)sin(0.9 * t + i);
        brain_stats sv, sc;
        rc = brain_step(pr.vk, s, 16, mv, &sv) || brain_step(pr.cpu, s, 16, mc, &sc);
        if (rc)
            break;
        char when[64];
        snprintf(when, sizeof when, "cycle %d (%s)", t, isnan(sv.energy) ? "lazy" : "dense");
        if (t % 4 == 0) {
            /* Diffusion: the dense pass folds the pending map in. */
            dense += !isnan(sv.energy) && fabs(sv.energy - sc.energy) <= 1e-5 * sc.energy;
        } else {
            /* Lazy: the clamp cannot bind; saturated is exactly 0 on both. */
            lazy += isnan(sv.energy) && sv.saturated == 0.0f && sc.saturated == 0.0f;
        }
        if (first_mismatch(mv, mc, 5, TOL_FIELD) != 5) {
            fprintf(stderr, "%s: motors %.9g vs %.9g\n", when, mv[0], mc[0]);
            rc = 1;
        }
        if (!rc)
            rc = compare_pair(&pr, when);
    }
    /* A plane read on a lazy cycle is a * F + b too. */
    float slab[7 * 3 * 6];
    if (!rc)
        rc = brain_read_slab(pr.vk, 1, 2, slab);
    int slab_ok = 1;
    for (uint32_t x = 0; x < 7 && !rc; x++)
        for (uint32_t k = 0; k < 3 * 6; k++)
            slab_ok &= slab[x * 18 + k] == pr.fv[(x * 5 + 2) * 18 + k];
    pair_free(&pr);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(lazy, 5);
    CHECK_EQ_INT(dense, 1);
    CHECK(slab_ok);
}

TEST(a_clamp_that_may_bind_forces_the_dense_pass)
{
    /* A field in [-2, 2] against a clamp of 1.5, no diffusion: the dense
     * pass runs, and energy and saturated are measured and match the CPU. */
    brain_params p = lazy_params();
    pair pr;
    int rc = pair_create(&pr, p);
    if (!rc) {
        random_field(pr.fc, pr.n, 4);
        rc = brain_write_field(pr.vk, pr.fc) || brain_write_field(pr.cpu, pr.fc);
    }
    float s[16] = {0.5f}, mv[5], mc[5];
    brain_stats sv, sc;
    if (!rc)
        rc = brain_step(pr.vk, s, 16, mv, &sv) || brain_step(pr.cpu, s, 16, mc, &sc);
    if (!rc)
        rc = compare_pair(&pr, "clamp may bind");
    pair_free(&pr);
    CHECK_EQ_INT(rc, 0);
    CHECK(!sv.diffused);
    CHECK_MSG(!isnan(sv.energy) && fabs(sv.energy - sc.energy) <= 1e-5 * sc.energy, "energy %g vs %g",
              sv.energy, sc.energy);
    CHECK(sc.saturated > 0.0f && fabs(sv.saturated - sc.saturated) <= 1e-6);
    CHECK_EQ_INT(first_mismatch(mv, mc, 5, TOL_FIELD), 5);
}

/* `cycles` default cycles on Vulkan (FB_VK_DENSE as given): motors, the
 * field at the end, and how many cycles were lazy. */
static int run_default(const char *dense, int cycles, float *motors, float *field, int *lazy)
{
    setenv("FB_VK_DENSE", dense, 1);
    brain_params p;
    brain_params_default(&p);
    p.size_x = 9;
    p.size_y = 8;
    p.size_z = 7;
    p.channels = 10;
    p.seed = 5;
    p.motor_gain = 50.0f;
    p.backend = BRAIN_BACKEND_VULKAN;
    char err[256];
    brain *b = NULL;
    int rc = brain_create(&p, &b, err, sizeof err);
    unsetenv("FB_VK_DENSE");
    *lazy = 0;
    for (int t = 0; t < cycles && !rc; t++) {
        float s[16];
        for (int i = 0; i < 16; i++)
            s[i] = (float)sin(0.07 * t * (i + 1));
        brain_stats st;
        rc = brain_step(b, s, 16, motors + 5 * t, &st);
        *lazy += isnan(st.energy);
        if (!rc && isnan(st.energy) && (st.saturated != 0.0f || st.diffused))
            rc = -100;
    }
    if (!rc)
        rc = brain_read_field(b, field);
    brain_destroy(&b);
    return rc;
}

TEST(lazy_run_agrees_with_a_dense_pass_every_cycle)
{
    enum { T = 60, NF = 9 * 8 * 7 * 10 };
    static float ml[5 * T], md[5 * T], fl[NF], fd[NF];
    int lazy_l = -1, lazy_d = -1;
    CHECK_EQ_INT(run_default("0", T, ml, fl, &lazy_l), 0);
    CHECK_EQ_INT(run_default("1", T, md, fd, &lazy_d), 0);
    /* Every cycle without diffusion (activity comes with it here) is lazy. */
    CHECK_EQ_INT(lazy_l, T - T / 5);
    CHECK_EQ_INT(lazy_d, 0);
    CHECK_EQ_INT(first_mismatch(ml, md, 5 * T, 1e-4), 5 * T);
    CHECK_EQ_INT(first_mismatch(fl, fd, NF, TOL_FIELD), NF);
    CHECK(memcmp(fl, fd, sizeof fl) != 0); /* two paths, not one */
}

TEST(small_decay_keeps_every_cycle_dense)
{
    /* decay 0.3 (and 0): a lazy cycle's noise would be stored as n / (a d),
     * too coarse (or infinite); these brains run dense cycles alone. */
    for (int k = 0; k < 2; k++) {
        brain_params p = lazy_params();
        p.decay = k ? 0.0f : 0.3f;
        pair pr;
        int rc = pair_create(&pr, p);
        float s[16] = {0.5f, 0.25f}, mv[5], mc[5];
        brain_stats sv, sc;
        for (int t = 0; t < 3 && !rc; t++) {
            rc = brain_step(pr.vk, s, 16, mv, &sv) || brain_step(pr.cpu, s, 16, mc, &sc);
            if (!rc && (isnan(sv.energy) || fabs(sv.energy - sc.energy) > 1e-5 * sc.energy + 1e-12))
                rc = -100;
        }
        if (!rc)
            rc = compare_pair(&pr, "small decay");
        pair_free(&pr);
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(first_mismatch(mv, mc, 5, TOL_FIELD), 5);
    }
}

TEST(read_slab_of_a_large_grid_takes_several_submits)
{
    /* 130 x 2 x 510 x 64 floats (34 MB): read_field takes three fills of
     * the 16 MB staging buffer and a y plane (130 runs of 510 x 64, 17 MB,
     * gather.comp) two, with the map of the lazy cycle before applied
     * across them; a z plane is 260 runs of 64, an x plane one run. */
    brain_params p;
    brain_params_default(&p);
    p.size_x = 130;
    p.size_y = 2;
    p.size_z = 510;
    p.channels = 64;
    p.init_std = 1.0f;
    p.backend = BRAIN_BACKEND_VULKAN;
    char err[256];
    brain *b = NULL;
    CHECK_EQ_INT(brain_create(&p, &b, err, sizeof err), 0);
    float s[16] = {2.0f, -1.0f, 0.5f}, m[5];
    brain_stats st;
    CHECK_EQ_INT(brain_step(b, s, 16, m, &st), 0);
    CHECK(isnan(st.energy)); /* lazy */
    const uint64_t n = brain_field_count(b), C = 64, Z = 510;
    float *f = malloc(n * sizeof *f), *slab = malloc(130 * Z * C * sizeof *slab);
    CHECK(f && slab);
    CHECK(130 * Z * C * 4 > (16u << 20));
    CHECK_EQ_INT(brain_read_field(b, f), 0);
    uint64_t bad = 0;
    CHECK_EQ_INT(brain_read_slab(b, 1, 1, slab), 0);
    for (uint64_t x = 0; x < 130; x++)
        for (uint64_t k = 0; k < Z * C; k++)
            bad += !(slab[x * Z * C + k] == f[(x * 2 + 1) * Z * C + k]);
    CHECK_EQ_INT(brain_read_slab(b, 2, 509, slab), 0);
    for (uint64_t xy = 0; xy < 260; xy++)
        for (uint64_t c = 0; c < C; c++)
            bad += !(slab[xy * C + c] == f[(xy * Z + 509) * C + c]);
    CHECK_EQ_INT(brain_read_slab(b, 0, 129, slab), 0);
    for (uint64_t k = 0; k < 2 * Z * C; k++)
        bad += !(slab[k] == f[129 * 2 * Z * C + k]);
    free(f);
    free(slab);
    brain_destroy(&b);
    CHECK_EQ_INT(bad, 0);
}

/* ---- parameters changed while running (brain_set_params) ---- */

/* n cycles of sensors that move, from cycle `from` on. */
static int live_cycles(brain *b, int from, int n, float *motors)
{
    float s[16];
    int rc = 0;
    for (int k = from; k < from + n && !rc; k++) {
        for (int i = 0; i < 16; i++)
            s[i] = sinf(0.1f * (float)k + (float)i);
        rc = brain_step(b, s, 16, motors + 5 * (k - from), NULL);
    }
    return rc;
}

/* On the GPU too, lazy cycles included: gains set at cycle k give from k on
 * the motors and field, bit for bit, of a brain made with them and loaded
 * from a checkpoint at k. A decay under 1/2 is refused live (the lazy cycles
 * were recorded for more). */
TEST(set_params_live_matches_a_brain_made_with_them)
{
    brain_params p;
    brain_params_default(&p);
    p.size_x = 6;
    p.size_y = 5;
    p.size_z = 4;
    p.channels = 9;
    p.momentum_gain = 0.02f;
    p.backend = BRAIN_BACKEND_VULKAN;
    p.validation = true;
    /* K follows a dense cycle (20: diffusion and activity), where the stored
     * field is the brain's own (a = 1, b = 0): a checkpoint of a lazy state
     * is its materialised field, within rounding of it, so only from such a
     * cycle can a loaded brain be the live one bit for bit. */
    enum { K = 20, N = 30 };
    char dir[] = "/tmp/fb_vk_live_XXXXXX", path[64], err[512] = "";
    CHECK(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/brain", dir);
    brain *a = NULL, *b = NULL;
    CHECK_MSG(brain_create(&p, &a, err, sizeof err) == 0, "%s", err);
    float m1[5 * N], m2[5 * N], f1[6 * 5 * 4 * 9], f2[6 * 5 * 4 * 9];
    CHECK_EQ_INT(live_cycles(a, 0, K, m1), 0);
    CHECK_MSG(brain_save(a, path, err, sizeof err) == 0, "%s", err);
    brain_params q = p;
    q.motor_gain = 50.0f;
    q.decay = 0.9f;
    q.noise_std = 0.05f;
    q.clamp_limit = 0.5f;
    q.diffusion_every = 7;
    CHECK_MSG(brain_set_params(a, &q, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(live_cycles(a, K, N, m1), 0);
    CHECK_EQ_INT(brain_read_field(a, f1), 0);

    CHECK_MSG(brain_create(&q, &b, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(brain_load(b, path, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(live_cycles(b, K, N, m2), 0);
    CHECK_EQ_INT(brain_read_field(b, f2), 0);
    CHECK(memcmp(m1, m2, sizeof m1) == 0);
    CHECK(memcmp(f1, f2, sizeof f1) == 0);

    brain_params low = q;
    low.decay = 0.3f;
    CHECK(brain_set_params(a, &low, err, sizeof err) == BRAIN_ERR_PARAM);
    CHECK_MSG(strstr(err, "decay") && strstr(err, "Vulkan"), "%s", err);
    CHECK(brain_get_params(a)->decay == 0.9f);
    brain_destroy(&a);
    brain_destroy(&b);
}
