/* test_brain_fleet.c: a fleet steps each of its brains bit for bit as a
 * brain made alone with that seed, through brain_fleet_step (masks, faults)
 * and through the single-brain API on brain_fleet_brain; a fleet too large
 * for memory is refused. On the CPU backend, or on Vulkan (lavapipe, the
 * validation layer on: any validation error fails the next call) when
 * FB_TEST_VULKAN=1 is set by ctest. */
#include "brain.h"
#include "harness.h"

#include <stdbool.h>
#include <stdint.h>

#define MAX_BRAINS 8
#define MAX_MOTORS 8

static bool on_vulkan(void)
{
    const char *v = getenv("FB_TEST_VULKAN");
    return v && strcmp(v, "1") == 0;
}

/* Every optional step now and then: diffusion, noise, activity with energy
 * (a high activity threshold), a field near the clamp. */
static brain_params fleet_params(uint32_t x, uint32_t y, uint32_t z, uint32_t c)
{
    brain_params p;
    brain_params_default(&p);
    p.size_x = x;
    p.size_y = y;
    p.size_z = z;
    p.channels = c;
    p.sensors = 6;
    p.motors = 4;
    p.threads = 2;
    p.diffusion_every = 3;
    p.noise_every = 2;
    p.activity_every = 5;
    p.activity_threshold = 100.0f;
    p.noise_fraction = 0.3f;
    p.noise_std = 0.5f;
    p.energy_fraction = 0.2f;
    p.energy_std = 0.3f;
    p.momentum_gain = 0.05f;
    p.sensor_gain = 0.7f;
    p.motor_gain = 2.0f;
    p.clamp_limit = 1.5f;
    if (on_vulkan()) {
        p.backend = BRAIN_BACKEND_VULKAN;
        p.validation = true;
        const char *d = getenv("FB_TEST_DEVICE");
        snprintf(p.device, sizeof p.device, "%s", d ? d : "llvmpipe");
    } else {
        p.backend = BRAIN_BACKEND_CPU;
    }
    return p;
}

static brain *make_alone(const brain_params *p, uint64_t seed)
{
    brain_params q = *p;
    q.seed = seed;
    q.threads = 0; /* the CPU backend is bit-identical across thread counts */
    brain *b = NULL;
    char err[512];
    if (brain_create(&q, &b, err, sizeof err) < 0)
        fprintf(stderr, "brain_create: %s\n", err);
    return b;
}

/* The sensors of brain i at cycle t: reproducible, in [-1, 1]. */
static void sensors_of(uint32_t i, uint32_t t, uint32_t n, float *s)
{
    uint64_t st = 0x51EDull * (i + 1) + 7919ull * t;
    for (uint32_t k = 0; k < n; k++)
        s[k] = (float)((double)harness_rand_below(&st, 2001) / 1000.0 - 1.0);
}

static bool same_stats(const brain_stats *a, const brain_stats *b)
{
    return a->cycle == b->cycle && memcmp(&a->energy, &b->energy, sizeof a->energy) == 0 &&
           memcmp(&a->saturated, &b->saturated, sizeof a->saturated) == 0 &&
           memcmp(&a->activity, &b->activity, sizeof a->activity) == 0 && a->diffused == b->diffused &&
           a->noised == b->noised && a->energized == b->energized;
}

/* Field and momentum of a and b, bit for bit. */
static bool same_state(brain *a, brain *b)
{
    uint64_t n = brain_field_count(a);
    uint32_t c = brain_get_params(a)->channels;
    float *fa = malloc(n * sizeof *fa), *fb = malloc(n * sizeof *fb);
    float *ma = malloc(c * sizeof *ma), *mb = malloc(c * sizeof *mb);
    bool same = fa && fb && ma && mb && brain_read_field(a, fa) == 0 && brain_read_field(b, fb) == 0 &&
                brain_read_momentum(a, ma) == 0 && brain_read_momentum(b, mb) == 0 &&
                memcmp(fa, fb, n * sizeof *fa) == 0 && memcmp(ma, mb, c * sizeof *ma) == 0;
    free(mb);
    free(ma);
    free(fb);
    free(fa);
    return same;
}

/* Steps fleet f (n brains) and the brains alone[] side by side for `cycles`
 * cycles, brain i skipping the cycles where skip(i, t); every stepped
 * brain's rc, motors and stats must match its lone twin's. Returns the
 * number of mismatches (0: all the same); brains in `faulty` are stepped in
 * the first cycle only and expected to fail with BRAIN_ERR_NONFINITE (their
 * twins are not stepped). On Vulkan each stepped brain has its own gpu_ms. */
static int step_side_by_side(brain_fleet *f, brain **alone, uint32_t n, uint32_t cycles, uint32_t t0,
                             bool with_mask, const bool *faulty)
{
    const brain_params *p = brain_get_params(brain_fleet_brain(f, 0));
    float sens[MAX_BRAINS][16], mot[MAX_BRAINS][MAX_MOTORS], mot_alone[MAX_MOTORS];
    const float *sp[MAX_BRAINS];
    float *mp[MAX_BRAINS];
    brain_stats st[MAX_BRAINS], st_alone;
    bool step[MAX_BRAINS];
    int rc[MAX_BRAINS];
    int bad = 0;
    for (uint32_t t = t0; t < t0 + cycles; t++) {
        for (uint32_t i = 0; i < n; i++) {
            sensors_of(i, t, p->sensors, sens[i]);
            sp[i] = sens[i];
            mp[i] = mot[i];
            step[i] = !with_mask || (t + i) % (i + 2) != 0;
            if (faulty && faulty[i] && t > t0)
                step[i] = false; /* stepped once after its fault, then left alone */
        }
        if (brain_fleet_step(f, step, sp, mp, st, rc) != 0)
            return -1;
        for (uint32_t i = 0; i < n; i++) {
            if (!step[i]) {
                bad += rc[i] != 0;
                continue;
            }
            if (faulty && faulty[i]) {
                if (rc[i] != BRAIN_ERR_NONFINITE) {
                    fprintf(stderr, "brain %u: rc %d, not BRAIN_ERR_NONFINITE\n", i, rc[i]);
                    bad++;
                }
                continue;
            }
            int rc_alone = brain_step(alone[i], sens[i], p->sensors, mot_alone, &st_alone);
            if (rc[i] != 0 || rc_alone != 0 || memcmp(mot[i], mot_alone, sizeof(float) * p->motors) != 0 ||
                !same_stats(&st[i], &st_alone) || (on_vulkan() && st[i].gpu_ms < 0.0)) {
                fprintf(stderr, "brain %u cycle %u: rc %d vs %d, motor[0] %.9g vs %.9g\n", i, t, rc[i],
                        rc_alone, (double)mot[i][0], (double)mot_alone[0]);
                bad++;
            }
        }
    }
    return bad;
}

static void destroy_all(brain_fleet **f, brain **alone, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        brain_destroy(&alone[i]);
    brain_fleet_destroy(f);
}

TEST(fleet_steps_each_brain_bit_for_bit_as_a_brain_alone)
{
    static const uint32_t shapes[][4] = {{6, 5, 4, 7}, {8, 8, 8, 16}, {5, 3, 7, 3}};
    static const uint64_t seeds[] = {11, 12, 99, 12345, 7};
    const uint32_t n = on_vulkan() ? 3 : 5, cycles = on_vulkan() ? 24 : 40;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        brain_params p = fleet_params(shapes[k][0], shapes[k][1], shapes[k][2], shapes[k][3]);
        brain_fleet *f = NULL;
        char err[512] = "";
        CHECK_MSG(brain_fleet_create(&p, seeds, n, &f, err, sizeof err) == 0, "%s", err);
        CHECK_EQ_INT(brain_fleet_size(f), n);
        CHECK(brain_fleet_brain(f, n) == NULL);
        brain *alone[MAX_BRAINS] = {0};
        for (uint32_t i = 0; i < n; i++) {
            alone[i] = make_alone(&p, seeds[i]);
            CHECK(alone[i]);
            CHECK(memcmp(brain_sensor_spots(alone[i]), brain_sensor_spots(brain_fleet_brain(f, i)),
                         sizeof(uint32_t) * 3 * p.sensors) == 0);
        }
        /* every brain every cycle, then with some skipping */
        int bad = step_side_by_side(f, alone, n, cycles / 2, 0, false, NULL);
        CHECK_EQ_INT(bad, 0);
        bad = step_side_by_side(f, alone, n, cycles / 2, cycles / 2, true, NULL);
        CHECK_EQ_INT(bad, 0);
        for (uint32_t i = 0; i < n; i++) {
            CHECK_EQ_INT(brain_get_cycle(brain_fleet_brain(f, i)), brain_get_cycle(alone[i]));
            CHECK_MSG(same_state(brain_fleet_brain(f, i), alone[i]), "shape %zu brain %u", k, i);
        }
        destroy_all(&f, alone, n);
    }
}

TEST(fleet_stats_may_be_null_and_masked_brains_are_untouched)
{
    brain_params p = fleet_params(5, 4, 3, 6);
    static const uint64_t seeds[] = {1, 2, 3};
    brain_fleet *f = NULL;
    char err[512] = "";
    CHECK_MSG(brain_fleet_create(&p, seeds, 3, &f, err, sizeof err) == 0, "%s", err);
    float s[3][16] = {{0}}, m[3][MAX_MOTORS];
    const float *sp[3] = {s[0], s[1], s[2]};
    float *mp[3] = {m[0], m[1], m[2]};
    bool step[3] = {true, false, true};
    int rc[3] = {1, 1, 1};
    m[1][0] = 42.0f;
    CHECK_EQ_INT(brain_fleet_step(f, step, sp, mp, NULL, rc), 0);
    CHECK(rc[0] == 0 && rc[1] == 0 && rc[2] == 0);
    CHECK(m[1][0] == 42.0f);
    CHECK_EQ_INT(brain_get_cycle(brain_fleet_brain(f, 0)), 1);
    CHECK_EQ_INT(brain_get_cycle(brain_fleet_brain(f, 1)), 0);
    /* a non-finite sensor is refused for that brain only */
    s[2][1] = NAN;
    step[1] = true;
    CHECK_EQ_INT(brain_fleet_step(f, step, sp, mp, NULL, rc), 0);
    CHECK(rc[0] == 0 && rc[1] == 0 && rc[2] == BRAIN_ERR_PARAM);
    CHECK_EQ_INT(brain_get_cycle(brain_fleet_brain(f, 2)), 1);
    brain_fleet_destroy(&f);
    CHECK(f == NULL);
    brain_fleet_destroy(&f);
}

TEST(fleet_of_one_is_a_brain_alone)
{
    brain_params p = fleet_params(6, 5, 4, 7);
    p.threads = 0;
    static const uint64_t seeds[] = {31};
    brain_fleet *f = NULL;
    char err[512] = "";
    CHECK_MSG(brain_fleet_create(&p, seeds, 1, &f, err, sizeof err) == 0, "%s", err);
    brain *alone[1] = {make_alone(&p, 31)};
    CHECK(alone[0]);
    CHECK_MSG(strcmp(brain_device_name(brain_fleet_brain(f, 0)), brain_device_name(alone[0])) == 0,
              "%s vs %s", brain_device_name(brain_fleet_brain(f, 0)), brain_device_name(alone[0]));
    CHECK_EQ_INT(step_side_by_side(f, alone, 1, 20, 0, true, NULL), 0);
    CHECK(same_state(brain_fleet_brain(f, 0), alone[0]));
    destroy_all(&f, alone, 1);
}

TEST(fleet_brains_take_the_single_brain_api)
{
    brain_params p = fleet_params(6, 5, 4, 7);
    static const uint64_t seeds[] = {5, 6, 7};
    const uint32_t n = 3;
    brain_fleet *f = NULL;
    char err[512] = "";
    CHECK_MSG(brain_fleet_create(&p, seeds, n, &f, err, sizeof err) == 0, "%s", err);
    brain *alone[MAX_BRAINS] = {0};
    for (uint32_t i = 0; i < n; i++)
        CHECK((alone[i] = make_alone(&p, seeds[i])));
    CHECK_EQ_INT(step_side_by_side(f, alone, n, 10, 0, false, NULL), 0);

    /* save brain 1 and its twin, step on, load both back: still in step */
    char dir[256], path_f[300], path_a[300];
    CHECK(harness_temp_dir("fleet", dir, sizeof dir) == 0);
    snprintf(path_f, sizeof path_f, "%s/fleet1", dir);
    snprintf(path_a, sizeof path_a, "%s/alone1", dir);
    CHECK_MSG(brain_save(brain_fleet_brain(f, 1), path_f, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(brain_save(alone[1], path_a, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(step_side_by_side(f, alone, n, 5, 10, true, NULL), 0);
    CHECK_MSG(brain_load(brain_fleet_brain(f, 1), path_f, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(brain_load(alone[1], path_a, err, sizeof err) == 0, "%s", err);
    CHECK(same_state(brain_fleet_brain(f, 1), alone[1]));

    /* snapshots of a fleet's brain */
    brain_snapshot *snap = NULL;
    CHECK_EQ_INT(brain_snapshot_create(brain_fleet_brain(f, 2), &snap), 0);
    CHECK_EQ_INT(brain_snapshot_take(brain_fleet_brain(f, 2), snap), 0);
    CHECK_EQ_INT(brain_snapshot_cycle(snap), brain_get_cycle(brain_fleet_brain(f, 2)));
    brain_snapshot_destroy(&snap);

    /* reset brain 0 and its twin; live parameters on brain 2 and its twin */
    CHECK_EQ_INT(brain_reset(brain_fleet_brain(f, 0)), 0);
    CHECK_EQ_INT(brain_reset(alone[0]), 0);
    brain_params q = *brain_get_params(brain_fleet_brain(f, 2));
    q.noise_std = 0.25f;
    q.motor_gain = 1.5f;
    CHECK_MSG(brain_set_params(brain_fleet_brain(f, 2), &q, err, sizeof err) == 0, "%s", err);
    q = *brain_get_params(alone[2]);
    q.noise_std = 0.25f;
    q.motor_gain = 1.5f;
    CHECK_MSG(brain_set_params(alone[2], &q, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(step_side_by_side(f, alone, n, 12, 15, true, NULL), 0);

    /* slabs along every axis */
    for (uint32_t axis = 0; axis < 3; axis++) {
        uint64_t cnt = brain_slab_count(alone[2], axis);
        float *a = malloc(cnt * sizeof *a), *b = malloc(cnt * sizeof *b);
        CHECK(a && b);
        int ra = brain_read_slab(brain_fleet_brain(f, 2), axis, 1, a);
        int rb = brain_read_slab(alone[2], axis, 1, b);
        bool same = ra == 0 && rb == 0 && memcmp(a, b, cnt * sizeof *a) == 0;
        free(b);
        free(a);
        CHECK_MSG(same, "axis %u", axis);
    }
    for (uint32_t i = 0; i < n; i++)
        CHECK_MSG(same_state(brain_fleet_brain(f, i), alone[i]), "brain %u", i);
    double bw = 0.0;
    CHECK_EQ_INT(brain_measure_bandwidth(brain_fleet_brain(f, 0), 1u << 16, &bw), 0);
    CHECK(bw > 0.0);
    CHECK(same_state(brain_fleet_brain(f, 0), alone[0]));
    destroy_all(&f, alone, n);
    CHECK(harness_remove_tree(dir) == 0);
}

TEST(a_nan_in_one_brain_leaves_the_others_bit_exact)
{
    brain_params p = fleet_params(5, 4, 6, 5);
    static const uint64_t seeds[] = {21, 22, 23, 24};
    const uint32_t n = 4;
    brain_fleet *f = NULL;
    char err[512] = "";
    CHECK_MSG(brain_fleet_create(&p, seeds, n, &f, err, sizeof err) == 0, "%s", err);
    brain *alone[MAX_BRAINS] = {0};
    for (uint32_t i = 0; i < n; i++)
        CHECK((alone[i] = make_alone(&p, seeds[i])));
    CHECK_EQ_INT(step_side_by_side(f, alone, n, 7, 0, false, NULL), 0);

    /* a NaN in brain 1's field, one in brain 3's momentum */
    uint64_t cnt = brain_field_count(alone[1]);
    float *field = malloc(cnt * sizeof *field), mom[16];
    CHECK(field);
    CHECK_EQ_INT(brain_read_field(brain_fleet_brain(f, 1), field), 0);
    for (uint64_t e = 0; e < cnt; e += 7)
        field[e] = NAN;
    CHECK_EQ_INT(brain_write_field(brain_fleet_brain(f, 1), field), 0);
    free(field);
    CHECK_EQ_INT(brain_read_momentum(brain_fleet_brain(f, 3), mom), 0);
    mom[2] = NAN;
    CHECK_EQ_INT(brain_write_momentum(brain_fleet_brain(f, 3), mom), 0);
    bool faulty[MAX_BRAINS] = {false, true, false, true};
    CHECK_EQ_INT(step_side_by_side(f, alone, n, 8, 7, false, faulty), 0);
    CHECK_EQ_INT(brain_get_cycle(brain_fleet_brain(f, 1)), 7);
    CHECK(same_state(brain_fleet_brain(f, 0), alone[0]));
    CHECK(same_state(brain_fleet_brain(f, 2), alone[2]));

    /* reset brings the faulty brains back: in step with their reset twins */
    CHECK_EQ_INT(brain_reset(brain_fleet_brain(f, 1)), 0);
    CHECK_EQ_INT(brain_reset(brain_fleet_brain(f, 3)), 0);
    CHECK_EQ_INT(brain_reset(alone[1]), 0);
    CHECK_EQ_INT(brain_reset(alone[3]), 0);
    CHECK_EQ_INT(step_side_by_side(f, alone, n, 6, 15, true, NULL), 0);
    for (uint32_t i = 0; i < n; i++)
        CHECK_MSG(same_state(brain_fleet_brain(f, i), alone[i]), "brain %u", i);
    destroy_all(&f, alone, n);
}

TEST(a_fleet_too_large_for_memory_is_refused_before_allocating)
{
    /* 1024 brains of 256^3 x 64: 4 GiB of field each, terabytes in all. */
    brain_params p = fleet_params(256, 256, 256, 64);
    static uint64_t seeds[BRAIN_FLEET_MAX];
    for (uint32_t i = 0; i < BRAIN_FLEET_MAX; i++)
        seeds[i] = i + 1;
    brain_fleet *f = NULL;
    char err[512] = "";
    CHECK_EQ_INT(brain_fleet_create(&p, seeds, BRAIN_FLEET_MAX, &f, err, sizeof err), BRAIN_ERR_TOO_BIG);
    CHECK(f == NULL);
    CHECK_MSG(strstr(err, "bytes") && strstr(err, "GiB") && strstr(err, "1024 brains"), "%s", err);
    fprintf(stderr, "refused: %s\n", err);
    /* and the counts are checked */
    CHECK_EQ_INT(brain_fleet_create(&p, seeds, 0, &f, err, sizeof err), BRAIN_ERR_PARAM);
    CHECK_EQ_INT(brain_fleet_create(&p, seeds, BRAIN_FLEET_MAX + 1, &f, err, sizeof err), BRAIN_ERR_PARAM);
}
