/* test_bounds.c: no accepted input makes the brain's state non-finite, and
 * a cycle that does go non-finite (a device fault, simulated by writing a
 * NaN or an infinity into the state) is reported and recovered from by
 * brain_reset, on both backends (the Vulkan one on lavapipe with the
 * validation layer on, when FB_TEST_VULKAN=1 is set by ctest).
 */
#include "harness.h"
#include "brain.h"

#include <stdlib.h>
#include <unistd.h>

static brain_backend test_backend(void)
{
    const char *v = getenv("FB_TEST_VULKAN");
    return v && strcmp(v, "1") == 0 ? BRAIN_BACKEND_VULKAN : BRAIN_BACKEND_CPU;
}

static brain *make_brain(float sensor_gain)
{
    brain_params p;
    brain_params_default(&p);
    p.size_x = p.size_y = p.size_z = 8;
    p.channels = 16;
    p.threads = 2;
    p.sensor_gain = sensor_gain;
    p.backend = test_backend();
    if (p.backend == BRAIN_BACKEND_VULKAN) {
        /* lavapipe, unless FB_TEST_DEVICE is set: to a device's name or
         * index, or empty for the backend's own choice (a GPU check). */
        const char *d = getenv("FB_TEST_DEVICE");
        snprintf(p.device, sizeof p.device, "%s", d ? d : "llvmpipe");
    }
    brain *b = NULL;
    char err[512];
    if (brain_create(&p, &b, err, sizeof err) < 0)
        fprintf(stderr, "brain: %s\n", err);
    return b;
}

static bool all_finite(const float *v, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return false;
    return true;
}

TEST(worst_accepted_input_keeps_the_state_finite)
{
    /* The largest gain the config accepts, sensors at +-link.sensor_limit's
     * default, flipping sign every cycle: every cycle saturates and stays
     * finite. */
    brain_params p;
    brain_params_default(&p);
    p.sensor_gain = 1e6f;
    char err[512];
    CHECK_MSG(brain_params_check_bounds(&p, 1000.0, NULL, err, sizeof err) == 0, "%s", err);
    brain *b = make_brain(1e6f);
    CHECK(b);
    const brain_params *bp = brain_get_params(b);
    float s[64], m[16], mom[64];
    for (int t = 1; t <= 200; t++) {
        for (uint32_t i = 0; i < bp->sensors; i++)
            s[i] = (t + i) % 2 ? 1000.0f : -1000.0f;
        brain_stats st;
        CHECK_EQ_INT(brain_step(b, s, bp->sensors, m, &st), 0);
        CHECK(all_finite(m, bp->motors));
    }
    uint64_t n = brain_field_count(b);
    float *f = malloc(n * sizeof *f);
    CHECK(f);
    CHECK_EQ_INT(brain_read_field(b, f), 0);
    CHECK_EQ_INT(brain_read_momentum(b, mom), 0);
    bool ok = all_finite(f, n) && all_finite(mom, bp->channels);
    free(f);
    brain_destroy(&b);
    CHECK(ok);
}

/* Steps a and b side by side from where they are; 0 when every motor is bit
 * for bit the same. */
static int same_motors(brain *a, brain *b, int cycles)
{
    const brain_params *p = brain_get_params(a);
    float s[64], ma[16], mb[16];
    for (int t = 1; t <= cycles; t++) {
        for (uint32_t i = 0; i < p->sensors; i++)
            s[i] = sinf(0.3f * (float)t + (float)i);
        if (brain_step(a, s, p->sensors, ma, NULL) || brain_step(b, s, p->sensors, mb, NULL))
            return -1;
        if (memcmp(ma, mb, sizeof(float) * p->motors) != 0)
            return t;
    }
    return 0;
}

TEST(a_nan_in_the_field_is_a_fault_and_reset_gives_a_fresh_brain)
{
    brain *a = make_brain(0.3f), *fresh = make_brain(0.3f);
    CHECK(a && fresh);
    uint64_t n = brain_field_count(a);
    float *f = malloc(n * sizeof *f);
    CHECK(f);
    CHECK_EQ_INT(brain_read_field(a, f), 0);
    const uint32_t *ms = brain_motor_spots(a);
    const brain_params *p = brain_get_params(a);
    uint64_t at = (((uint64_t)ms[0] * p->size_y + ms[1]) * p->size_z + ms[2]) * p->channels;
    f[at] = NAN;
    CHECK_EQ_INT(brain_write_field(a, f), 0);
    free(f);
    float s[64] = {0}, m[16];
    CHECK_EQ_INT(brain_step(a, s, p->sensors, m, NULL), BRAIN_ERR_NONFINITE);
    CHECK_EQ_INT(brain_get_cycle(a), 0);
    CHECK_EQ_INT(brain_reset(a), 0);
    /* From the reset on, the brain is the one brain_create made. */
    CHECK_EQ_INT(same_motors(a, fresh, 30), 0);
    brain_destroy(&fresh);
    brain_destroy(&a);
}

TEST(an_infinite_momentum_is_a_fault_even_when_the_motors_saturate_finite)
{
    brain *a = make_brain(0.3f);
    CHECK(a);
    const brain_params *p = brain_get_params(a);
    float mom[64] = {0}, s[64] = {0}, m[16];
    mom[0] = INFINITY;
    CHECK_EQ_INT(brain_write_momentum(a, mom), 0);
    CHECK_EQ_INT(brain_step(a, s, p->sensors, m, NULL), BRAIN_ERR_NONFINITE);
    CHECK_EQ_INT(brain_reset(a), 0);
    CHECK_EQ_INT(brain_step(a, s, p->sensors, m, NULL), 0);
    CHECK(all_finite(m, p->motors));
    brain_destroy(&a);
}

TEST(a_state_with_a_nan_is_never_saved_over_a_good_checkpoint)
{
    brain *a = make_brain(0.3f);
    CHECK(a);
    char dir[128], path[160], err[512];
    CHECK(harness_temp_dir("bounds", dir, sizeof dir) == 0);
    snprintf(path, sizeof path, "%s/ck", dir);
    const brain_params *p = brain_get_params(a);
    float s[64] = {0}, m[16];
    for (int t = 0; t < 5; t++)
        CHECK_EQ_INT(brain_step(a, s, p->sensors, m, NULL), 0);
    CHECK_MSG(brain_save(a, path, err, sizeof err) == 0, "%s", err);
    float mom[64] = {0};
    CHECK_EQ_INT(brain_read_momentum(a, mom), 0);
    mom[1] = NAN;
    CHECK_EQ_INT(brain_write_momentum(a, mom), 0);
    CHECK_EQ_INT(brain_save(a, path, err, sizeof err), BRAIN_ERR_NONFINITE);
    CHECK_MSG(strstr(err, "not written") && strstr(err, "momentum[1]"), "%s", err);
    /* The good one is still there, whole, at cycle 5. */
    brain *b = make_brain(0.3f);
    CHECK(b);
    CHECK_MSG(brain_load(b, path, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(brain_get_cycle(b), 5);
    brain_destroy(&b);
    brain_destroy(&a);
    CHECK(harness_remove_tree(dir) == 0);
}

/* Files that cannot be held open (no such directory) are refused with the
 * file that failed and why, and nothing is left open. */
TEST(held_checkpoint_files_of_a_missing_directory_are_refused)
{
    char dir[128], path[200], err[512] = "";
    CHECK(harness_temp_dir("heldmiss", dir, sizeof dir) == 0);
    snprintf(path, sizeof path, "%s/no/such/ck", dir);
    brain_ckpt_files *held = NULL;
    CHECK_EQ_INT(brain_ckpt_files_open(path, &held, err, sizeof err), BRAIN_ERR_IO);
    CHECK(held == NULL);
    char want[512];
    snprintf(want, sizeof want, "%s: cannot open %s.a.npy: No such file or directory", path, path);
    CHECK_MSG(strcmp(err, want) == 0, "%s", err);
}

/* Saves through the files held open (the loop's way, so that a save needs no
 * new descriptor) write the checkpoint a load reads, alternate the field
 * files, and go on after another writer replaced the files by name. */
TEST(held_checkpoint_files_save_what_a_load_reads)
{
    brain *a = make_brain(0.3f), *b = make_brain(0.3f);
    CHECK(a && b);
    char dir[128], path[160], err[512];
    CHECK(harness_temp_dir("held", dir, sizeof dir) == 0);
    snprintf(path, sizeof path, "%s/ck", dir);
    const brain_params *p = brain_get_params(a);
    float s[64] = {0}, m[16];
    brain_snapshot *snap = NULL;
    brain_ckpt_files *held = NULL;
    CHECK_EQ_INT(brain_snapshot_create(a, &snap), 0);
    CHECK_MSG(brain_ckpt_files_open(path, &held, err, sizeof err) == 0, "%s", err);
    for (int round = 1; round <= 4; round++) {
        for (int t = 0; t < 2; t++)
            CHECK_EQ_INT(brain_step(a, s, p->sensors, m, NULL), 0);
        CHECK_EQ_INT(brain_snapshot_take(a, snap), 0);
        if (round == 3) /* another writer, by name */
            CHECK_MSG(brain_snapshot_save(snap, path, err, sizeof err) == 0, "%s", err);
        else
            CHECK_MSG(brain_snapshot_save_held(snap, held, err, sizeof err) == 0, "%s", err);
        CHECK_MSG(brain_load(b, path, err, sizeof err) == 0, "round %d: %s", round, err);
        CHECK_EQ_INT(brain_get_cycle(b), 2 * round);
    }
    /* b now steps as a does: the state it loaded is a's. */
    float ma[16], mb[16];
    CHECK_EQ_INT(brain_step(a, s, p->sensors, ma, NULL), 0);
    CHECK_EQ_INT(brain_step(b, s, p->sensors, mb, NULL), 0);
    CHECK(memcmp(ma, mb, sizeof(float) * p->motors) == 0);
    char old[192];
    snprintf(old, sizeof old, "%s.json.old", path);
    CHECK(access(old, F_OK) != 0);
    brain_ckpt_files_close(&held);
    brain_snapshot_destroy(&snap);
    brain_destroy(&b);
    brain_destroy(&a);
    CHECK(harness_remove_tree(dir) == 0);
}
