/* test_config.c: the config reader: defaults equal config/default.yaml,
 * every shipped config loads, and each kind of bad value is refused with its
 * "file:line:column: section.key: what is wrong" message. */
#include "harness.h"

#include "config.h"
#include "config_text.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <unistd.h>

/* The source tree's config/ and tests/data/config/ (set by tests/config.cmake). */
#ifndef FB_CONFIG_DIR
#error "FB_CONFIG_DIR must name the config/ folder"
#endif
#ifndef FB_CONFIG_DATA
#error "FB_CONFIG_DATA must name tests/data/config/"
#endif

/* Two configs hold the same settings (where each key was set is no setting). */
#define SAME_SETTINGS(a, b) (memcmp((a), (b), offsetof(config, origin)) == 0)

/* Loads yaml as "t.yaml" and checks the code and the whole message. */
#define EXPECT_ERROR(yaml, code, message)                                        \
    do {                                                                         \
        config c_;                                                               \
        char err_[1024] = "";                                                    \
        int rc_ = config_load_string((yaml), "t.yaml", &c_, err_, sizeof err_);  \
        CHECK_MSG(rc_ == (code), "rc %d (%s), want %d; message: %s", rc_,        \
                  config_strerror(rc_), (code), err_);                           \
        CHECK_MSG(strcmp(err_, (message)) == 0, "got:  %s\nwant: %s", err_,      \
                  (message));                                                    \
    } while (0)

#define EXPECT_OK(yaml, cfg)                                                     \
    do {                                                                         \
        char err_[1024] = "";                                                    \
        int rc_ = config_load_string((yaml), "t.yaml", (cfg), err_, sizeof err_);\
        CHECK_MSG(rc_ == 0, "rc %d: %s", rc_, err_);                             \
    } while (0)

TEST(defaults_are_the_documented_ones)
{
    config c;
    config_default(&c);
    brain_params bp;
    brain_params_default(&bp);
    CHECK(memcmp(&c.brain, &bp, sizeof bp) == 0);
    CHECK_EQ_INT(c.loop.mode, LOOP_FIXED_RATE);
    CHECK_NEAR(c.loop.rate_hz, 100, 0);
    CHECK(!c.loop.realtime);
    CHECK_EQ_INT(c.loop.cpu, -1);
    CHECK_EQ_INT(c.loop.stats_window, 1000);
    CHECK(strcmp(c.link.sensor_endpoint, "tcp://127.0.0.1:5555") == 0);
    CHECK(strcmp(c.link.motor_endpoint, "tcp://127.0.0.1:5556") == 0);
    CHECK_EQ_INT(c.link.timeout_ms, 500);
    CHECK_EQ_INT(c.link.max_message_bytes, 65536);
    CHECK_EQ_INT(c.link.robot_id, 1);
    CHECK(c.link.curve_secret_key[0] == '\0' && c.link.curve_public_key[0] == '\0');
    CHECK(c.telemetry.enabled);
    CHECK(strcmp(c.telemetry.endpoint, "tcp://127.0.0.1:5557") == 0);
    CHECK_EQ_INT(c.telemetry.every, 10);
    CHECK_EQ_INT(c.telemetry.slice_every, 100);
    CHECK_EQ_INT(c.telemetry.slice_axis, 2);
    CHECK_EQ_INT(c.telemetry.slice_index, -1);
    CHECK_EQ_INT(c.telemetry.slice_channel, -1);
    CHECK_EQ_INT(c.telemetry.slice_robot, -1);
    CHECK(c.checkpoint.path[0] == '\0');
    CHECK_NEAR(c.checkpoint.every_s, 0, 0);
    CHECK(c.checkpoint.on_exit);
    CHECK_EQ_INT(c.sim.mode, SIM_REALTIME);
    CHECK(c.sim.model[0] == '\0');
    CHECK_NEAR(c.sim.sensor_hz, 100, 0);
    CHECK_EQ_INT(c.sim.motor_timeout_ms, 300);
    CHECK_NEAR(c.sim.duration_s, 0, 0);
    char err[512];
    CHECK_MSG(config_check(&c, "defaults", err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(config_warnings(&c, NULL, 0), 0);
}

TEST(default_yaml_equals_defaults)
{
    config want, got;
    char err[1024];
    config_default(&want);
    /* Start from garbage: the loader must set every byte from the defaults. */
    memset(&got, 0xA5, sizeof got);
    int rc = config_load(FB_CONFIG_DIR "/default.yaml", &got, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    CHECK(SAME_SETTINGS(&want, &got));
    CHECK_EQ_INT(config_warnings(&got, NULL, 0), 0);
}

/* Every key the writer knows (that is, every key of the tables) appears in
 * default.yaml in its section, with a comment above it. */
TEST(default_yaml_documents_every_key)
{
    config c;
    config_default(&c);
    char *all = config_text(&c);
    CHECK(all);
    char *doc = harness_read_file(FB_CONFIG_DIR "/default.yaml");
    CHECK(doc);

    int keys = 0, missing = 0;
    char section[64] = "";
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] >= 'a' && line[0] <= 'z') {
            sscanf(line, "%63[a-z]", section);
            continue;
        }
        char key[64];
        if (strncmp(line, "  ", 2) != 0)
            continue;
        if (sscanf(line, "  # %63[a-z_]:", key) != 1 && sscanf(line, "  %63[a-z_]:", key) != 1)
            continue;
        keys++;
        /* The section's text in default.yaml: from "section:" to the next
         * line that starts at column 0 with a letter. */
        char head[80];
        snprintf(head, sizeof head, "\n%s:\n", section);
        const char *start = strstr(doc, head);
        if (!start) {
            fprintf(stderr, "default.yaml has no section %s\n", section);
            missing++;
            continue;
        }
        const char *end = start + strlen(head);
        while (*end && !(end[0] == '\n' && end[1] >= 'a' && end[1] <= 'z'))
            end++;
        char set[80], commented[80];
        snprintf(set, sizeof set, "\n  %s: ", key);
        snprintf(commented, sizeof commented, "\n  # %s: ", key);
        const char *at = strstr(start, set);
        if (!at || at > end)
            at = strstr(start, commented);
        if (!at || at > end) {
            fprintf(stderr, "default.yaml lacks %s.%s\n", section, key);
            missing++;
            continue;
        }
        /* The line before is a comment (the key's documentation). */
        const char *prev = at - 1;
        while (prev > doc && prev[-1] != '\n')
            prev--;
        if (strncmp(prev, "  #", 3) != 0) {
            fprintf(stderr, "default.yaml: %s.%s has no comment above it\n", section, key);
            missing++;
        }
    }
    free(all);
    free(doc);
    CHECK_EQ_INT(missing, 0);
    size_t n_brain;
    brain_param_table(&n_brain);
    /* The brain table, five more brain keys, and 5 + 9 + 11 + 3 + 6 + 2 + 2 in
     * loop, link, telemetry, checkpoint, sim, record, control. */
    CHECK_EQ_INT(keys, (int)n_brain + 5 + 39);
}

TEST(every_shipped_config_loads)
{
    DIR *d = opendir(FB_CONFIG_DIR);
    CHECK(d);
    int loaded = 0, failed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".yaml") != 0)
            continue;
        char path[1024], err[1024], warn[1024];
        snprintf(path, sizeof path, "%s/%s", FB_CONFIG_DIR, e->d_name);
        config c;
        if (config_load(path, &c, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            failed++;
            continue;
        }
        loaded++;
        int warnings = config_warnings(&c, warn, sizeof warn);
        bool em = strcmp(e->d_name, "em-brain.yaml") == 0;
        /* Only the original constants run away; the others must not. */
        if (warnings != (em ? 1 : 0)) {
            fprintf(stderr, "%s: %d warnings: %s\n", e->d_name, warnings, warn);
            failed++;
        }
    }
    closedir(d);
    CHECK_EQ_INT(failed, 0);
    CHECK(loaded >= 4);
}

TEST(presets_say_what_they_promise)
{
    config c;
    char err[1024], warn[1024];
    CHECK_MSG(config_load(FB_CONFIG_DIR "/cpu-small.yaml", &c, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(c.brain.backend, BRAIN_BACKEND_CPU);
    CHECK(c.brain.size_x == 32 && c.brain.size_y == 32 && c.brain.size_z == 32);
    CHECK_EQ_INT(c.brain.channels, 64);

    CHECK_MSG(config_load(FB_CONFIG_DIR "/gpu-large.yaml", &c, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(c.brain.backend, BRAIN_BACKEND_VULKAN);
    CHECK(c.brain.size_x == 96 && c.brain.size_y == 96 && c.brain.size_z == 96);
    CHECK_EQ_INT(c.brain.channels, 192);

    CHECK_MSG(config_load(FB_CONFIG_DIR "/em-brain.yaml", &c, err, sizeof err) == 0, "%s", err);
    CHECK_NEAR(c.brain.momentum_gain, 0.05, 1e-9);
    CHECK_EQ_INT(config_warnings(&c, warn, sizeof warn), 1);
    CHECK_MSG(strstr(warn, "momentum_gain") && strstr(warn, "decay"), "%s", warn);
}

TEST(values_land_in_their_fields)
{
    config c;
    EXPECT_OK("brain:\n"
              "  size: 8\n"
              "  channels: 3\n"
              "  seed: 18446744073709551615\n"
              "  decay: 0\n"
              "  momentum_gain: -2.5\n"
              "  backend: cpu\n"
              "  device: 1\n"
              "  validation: yes\n"
              "  threads: 2\n"
              "loop:\n"
              "  mode: lockstep\n"
              "  rate_hz: 0.1\n"
              "  cpu: 3\n"
              "link:\n"
              "  sensor_endpoint: ipc:///tmp/fb-sensors\n"
              "  motor_endpoint: 'tcp://[::1]:7000'\n"
              "  robot_id: 4294967295\n"
              "telemetry:\n"
              "  enabled: false\n"
              "  endpoint: inproc://telemetry\n"
              "  slice_index: 7\n"
              "  slice_channel: 2\n"
              "checkpoint:\n"
              "  path: \"runs/a b\"\n"
              "  every_s: 1.5\n"
              "sim:\n"
              "  mode: lockstep\n"
              "  duration_s: 1e6\n",
              &c);
    CHECK(c.brain.size_x == 8 && c.brain.size_y == 8 && c.brain.size_z == 8);
    CHECK_EQ_INT(c.brain.channels, 3);
    CHECK(c.brain.seed == UINT64_MAX);
    CHECK(c.brain.decay == 0.0f);
    CHECK(c.brain.momentum_gain == -2.5f);
    CHECK_EQ_INT(c.brain.backend, BRAIN_BACKEND_CPU);
    CHECK(strcmp(c.brain.device, "1") == 0);
    CHECK(c.brain.validation);
    CHECK_EQ_INT(c.brain.threads, 2);
    CHECK_EQ_INT(c.loop.mode, LOOP_LOCKSTEP);
    CHECK_NEAR(c.loop.rate_hz, 0.1, 0);
    CHECK_EQ_INT(c.loop.cpu, 3);
    CHECK(strcmp(c.link.sensor_endpoint, "ipc:///tmp/fb-sensors") == 0);
    CHECK(strcmp(c.link.motor_endpoint, "tcp://[::1]:7000") == 0);
    CHECK(c.link.robot_id == UINT32_MAX);
    CHECK(!c.telemetry.enabled);
    CHECK_EQ_INT(c.telemetry.slice_index, 7);
    CHECK_EQ_INT(c.telemetry.slice_channel, 2);
    CHECK(strcmp(c.checkpoint.path, "runs/a b") == 0);
    CHECK_NEAR(c.checkpoint.every_s, 1.5, 0);
    CHECK_EQ_INT(c.sim.mode, SIM_LOCKSTEP);
    CHECK_NEAR(c.sim.duration_s, 1e6, 0);
    /* Keys left out keep their defaults. */
    CHECK_EQ_INT(c.brain.sensors, 16);
    CHECK_EQ_INT(c.link.timeout_ms, 500);
    /* An empty section sets nothing. */
    EXPECT_OK("sim:\nloop: {}\n", &c);
    CHECK_NEAR(c.sim.sensor_hz, 100, 0);
}

/* Every numeric key of brain_param_table is a config key with the range of
 * that table: its bounds load, just past them is refused. */
TEST(brain_keys_follow_the_brain_table)
{
    size_t n;
    const brain_param_info *info = brain_param_table(&n);
    CHECK(n > 20);
    for (size_t i = 0; i < n; i++) {
        const double bounds[2] = {info[i].min, info[i].max};
        for (int b = 0; b < 2; b++) {
            char yaml[256], err[1024];
            config c;
            if (info[i].type == BRAIN_PARAM_U64 && b == 1)
                snprintf(yaml, sizeof yaml, "brain:\n  %s: 18446744073709551615\n", info[i].key);
            else
                snprintf(yaml, sizeof yaml, "brain:\n  %s: %.9g\n", info[i].key, bounds[b]);
            int rc = config_load_string(yaml, "t.yaml", &c, err, sizeof err);
            CHECK_MSG(rc == 0, "%s: %s", info[i].key, err);
            const char *field = (const char *)&c.brain + info[i].offset;
            double v = info[i].type == BRAIN_PARAM_U32 ? *(const uint32_t *)(const void *)field
                     : info[i].type == BRAIN_PARAM_U64 ? (double)*(const uint64_t *)(const void *)field
                     : *(const float *)(const void *)field;
            /* A float holds the bound to within its precision, inside the range. */
            double tol = info[i].type == BRAIN_PARAM_FLOAT ? fabs(bounds[b]) * 3e-7 : 0;
            CHECK_MSG(fabs(v - bounds[b]) <= tol && v >= info[i].min && v <= info[i].max,
                      "%s: read %.9g, wrote %.9g", info[i].key, v, bounds[b]);

            if (info[i].type == BRAIN_PARAM_U64)
                continue; /* the whole of uint64 is allowed */
            /* Just outside: below min, above max. */
            double out = b == 0 ? bounds[0] - (info[i].type == BRAIN_PARAM_FLOAT ? fmax(1e-7, fabs(bounds[0]) * 0.5) : 1)
                                : bounds[1] * 2 + 1;
            snprintf(yaml, sizeof yaml, "brain:\n  %s: %.9g\n", info[i].key, out);
            rc = config_load_string(yaml, "t.yaml", &c, err, sizeof err);
            char want[128];
            snprintf(want, sizeof want, "t.yaml:2:%zu: brain.%s: ", strlen(info[i].key) + 5,
                     info[i].key);
            CHECK_MSG(rc != 0 && strncmp(err, want, strlen(want)) == 0 && strstr(err, "(allowed "),
                      "%s = %.9g: rc %d: %s", info[i].key, out, rc, err);
        }
    }
}

TEST(unknown_key_is_refused_with_a_suggestion)
{
    EXPECT_ERROR("# comment\nbrain:\n  decy: 0.5\n", CONFIG_ERR_KEY,
                 "t.yaml:3:3: brain.decy: unknown key (did you mean decay?)");
    EXPECT_ERROR("loop:\n  timeout_ms: 5\n", CONFIG_ERR_KEY,
                 "t.yaml:2:3: loop.timeout_ms: unknown key (it belongs in section link)");
    EXPECT_ERROR("sim:\n  zzzzzz: 1\n", CONFIG_ERR_KEY, "t.yaml:2:3: sim.zzzzzz: unknown key");
    /* A NUL inside a key does not make its start a key. */
    EXPECT_ERROR("brain:\n  \"decay\\0x\": 0.5\n", CONFIG_ERR_KEY,
                 "t.yaml:2:3: brain.decay: unknown key (too long, or a NUL inside)");
    EXPECT_ERROR("brain:\n  quiet: true\n", CONFIG_ERR_KEY, "t.yaml:2:3: brain.quiet: unknown key");
}

TEST(robots_list_gives_each_robot_its_id_seed_and_paths)
{
    static config c;
    /* Without a list: the one robot of link.robot_id, as without fleets. */
    EXPECT_OK("brain:\n  seed: 11\nlink:\n  robot_id: 9\ncheckpoint:\n  path: run/b.json\n"
              "record:\n  path: run/log\n", &c);
    static config_fleet_robot f[CONFIG_MAX_ROBOTS];
    CHECK(config_fleet(&c, f) == 1);
    CHECK(f[0].id == 9 && f[0].seed == 11);
    CHECK(strcmp(f[0].checkpoint, "run/b.json") == 0 && strcmp(f[0].record, "run/log") == 0);

    EXPECT_OK("brain:\n  seed: 11\ncheckpoint:\n  path: run/b.json\nrecord:\n  path: run/log\n"
              "robots:\n  - id: 3\n  - {id: 5, seed: 2}\n  - id: 7\n    checkpoint: x/seven\n"
              "  - id: 8\n", &c);
    CHECK(config_fleet(&c, f) == 4);
    CHECK(f[0].id == 3 && f[0].seed == 11 && strcmp(f[0].checkpoint, "run/b-3.json") == 0);
    CHECK(f[1].id == 5 && f[1].seed == 2 && strcmp(f[1].checkpoint, "run/b-5.json") == 0);
    CHECK(f[2].id == 7 && f[2].seed == 13 && strcmp(f[2].checkpoint, "x/seven") == 0);
    CHECK(f[3].id == 8 && f[3].seed == 14 && strcmp(f[3].record, "run/log/robot-8") == 0);

    EXPECT_OK("checkpoint:\n  path: run/plain\nrobots:\n  - id: 1\n", &c);
    CHECK(config_fleet(&c, f) == 1 && strcmp(f[0].checkpoint, "run/plain-1") == 0 &&
          f[0].record[0] == '\0');
    EXPECT_OK("robots: []\n", &c);
    CHECK(c.robots.count == 0 && config_fleet(&c, f) == 1 && f[0].id == 1);

    /* The list round-trips through the writer. */
    EXPECT_OK("robots:\n  - {id: 4, seed: 0}\n  - id: 6\n    checkpoint: \"a b.json\"\n", &c);
    char *text = config_text(&c);
    CHECK(text != NULL);
    static config back;
    EXPECT_OK(text, &back);
    CHECK(SAME_SETTINGS(&c, &back));
    free(text);
}

/* telemetry.slice_robot names a robot of the fleet by its id, -1 (the
 * default) the first; any other id is refused at its place. */
TEST(slice_robot_is_a_robot_of_the_fleet)
{
    config c;
    char got[32], err[256];
    EXPECT_OK("link:\n  robot_id: 4\n", &c);
    CHECK_EQ_INT(c.telemetry.slice_robot, -1);
    EXPECT_OK("link:\n  robot_id: 4\ntelemetry:\n  slice_robot: 4\n", &c);
    CHECK_EQ_INT(c.telemetry.slice_robot, 4);
    EXPECT_OK("link:\n  robot_id: 4294967295\ntelemetry:\n  slice_robot: 4294967295\n", &c);
    CHECK(c.telemetry.slice_robot == 4294967295LL);
    CHECK_EQ_INT(config_get(&c, "telemetry.slice_robot", got, sizeof got, err, sizeof err), 0);
    CHECK_MSG(strcmp(got, "4294967295") == 0, "%s", got);
    EXPECT_OK("robots:\n  - id: 3\n  - id: 4294967294\ntelemetry:\n  slice_robot: 4294967294\n", &c);
    CHECK(c.telemetry.slice_robot == 4294967294LL);
    EXPECT_ERROR("telemetry:\n  slice_robot: 2\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:3: telemetry.slice_robot: 2 is no robot of the fleet (link.robot_id 1; "
                 "-1: the first)");
    EXPECT_ERROR("robots:\n  - id: 3\n  - id: 5\ntelemetry:\n  slice_robot: 4\n", CONFIG_ERR_RANGE,
                 "t.yaml:5:3: telemetry.slice_robot: 4 is no robot of the fleet (robots 3, 5; "
                 "-1: the first)");
    EXPECT_ERROR("telemetry:\n  slice_robot: -2\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:16: telemetry.slice_robot: -2 is out of range (allowed -1 to 4294967295)");
    EXPECT_ERROR("telemetry:\n  slice_robot: 4294967296\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:16: telemetry.slice_robot: 4294967296 is out of range (allowed -1 to "
                 "4294967295)");
    config_default(&c);
    CHECK_EQ_INT(config_set(&c, "telemetry.slice_robot", "1", err, sizeof err), 0);
    CHECK_EQ_INT(config_check(&c, "x", err, sizeof err), 0);
    CHECK_EQ_INT(config_set(&c, "telemetry.slice_robot", "9", err, sizeof err), 0);
    CHECK_EQ_INT(config_check(&c, "x", err, sizeof err), CONFIG_ERR_RANGE);
}

TEST(bad_robots_lists_are_refused_at_their_place)
{
    EXPECT_ERROR("robots:\n  - id: 3\n  - id: 3\n", CONFIG_ERR_RANGE,
                 "t.yaml:3:5: robots[1].id: 3 is also robots[0]'s (each robot needs its own id)");
    EXPECT_ERROR("robots:\n  - id: 1\n    checkpoint: a.json\n  - id: 2\n    checkpoint: a.json\n",
                 CONFIG_ERR_RANGE,
                 "t.yaml:4:5: robots[1].checkpoint: 'a.json' is also robots[0]'s (each robot "
                 "needs its own)");
    EXPECT_ERROR("robots:\n  - id: 3\n    sed: 4\n", CONFIG_ERR_KEY,
                 "t.yaml:3:5: robots[0].sed: unknown key (allowed id, seed, checkpoint)");
    EXPECT_ERROR("robots:\n  - seed: 4\n", CONFIG_ERR_KEY,
                 "t.yaml:2:5: robots[0]: missing id (each robot needs its robot id)");
    EXPECT_ERROR("robots:\n  - id: -1\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:9: robots[0].id: -1 is negative (allowed 0 to 4294967294)");
    EXPECT_ERROR("robots:\n  - id: 4294967295\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:9: robots[0].id: 4294967295 is out of range (allowed 0 to 4294967294)");
    EXPECT_ERROR("robots: 5\n", CONFIG_ERR_TYPE,
                 "t.yaml:1:9: robots: expected a list of robots (- id: 1), got a scalar");
    EXPECT_ERROR("robots:\n  - 5\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:5: robots: each robot is a mapping (id, seed, checkpoint), got a scalar");
    EXPECT_ERROR("robots:\n  - id: 1\n    id: 2\n", CONFIG_ERR_KEY,
                 "t.yaml:3:5: robots[0].id: duplicate key (first set at line 2)");
    EXPECT_ERROR("robots: []\nrobots: []\n", CONFIG_ERR_KEY,
                 "t.yaml:2:1: robots: duplicate section (first at line 1)");
    EXPECT_ERROR("checkpoint:\n  every_s: 1\nrobots:\n  - id: 3\n", CONFIG_ERR_RANGE,
                 "t.yaml:4:5: robots[0]: checkpoint.every_s 1 needs a checkpoint for every "
                 "robot (checkpoint.path, or the robot's checkpoint)");
    /* One more than a process serves. */
    size_t cap = 16 * (CONFIG_MAX_ROBOTS + 2);
    char *yaml = malloc(cap);
    CHECK(yaml != NULL);
    size_t n = (size_t)snprintf(yaml, cap, "robots:\n");
    for (int i = 0; i <= CONFIG_MAX_ROBOTS; i++)
        n += (size_t)snprintf(yaml + n, cap - n, "  - id: %d\n", i);
    char want[160];
    snprintf(want, sizeof want, "t.yaml:%d:5: robots: more than %d robots (a larger fleet is "
             "split over several fieldbrain processes)", CONFIG_MAX_ROBOTS + 2, CONFIG_MAX_ROBOTS);
    EXPECT_ERROR(yaml, CONFIG_ERR_RANGE, want);
    free(yaml);
}

TEST(unknown_section_is_refused)
{
    EXPECT_ERROR("loop:\n  cpu: 1\nbrane:\n  decay: 0.5\n", CONFIG_ERR_KEY,
                 "t.yaml:3:1: brane: unknown section (did you mean brain?)");
    EXPECT_ERROR("robot:\n  id: 1\n", CONFIG_ERR_KEY,
                 "t.yaml:1:1: robot: unknown section (did you mean robots?)");
    EXPECT_ERROR("wheels:\n  id: 1\n", CONFIG_ERR_KEY,
                 "t.yaml:1:1: wheels: unknown section (allowed brain, loop, link, telemetry, "
                 "checkpoint, sim, record, control, robots)");
}

TEST(wrong_types_are_refused)
{
    /* tags, which would make a value other than it reads, anywhere */
    EXPECT_ERROR("brain:\n  size: !!int 8\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:9: the YAML tag !!int is not read: write the value alone (quotes make "
                 "a string)");
    EXPECT_ERROR("brain: !!map\n  size: 8\n", CONFIG_ERR_TYPE,
                 "t.yaml:1:8: the YAML tag !!map is not read: write the value alone (quotes make "
                 "a string)");
    EXPECT_ERROR("robots: !mine\n  - id: 3\n", CONFIG_ERR_TYPE,
                 "t.yaml:1:9: the YAML tag !mine is not read: write the value alone (quotes make "
                 "a string)");
    EXPECT_ERROR("loop:\n  rate_hz: \"100\"\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:12: loop.rate_hz: expected a number, got the string '100' "
                 "(allowed 0.1 to 100000)");
    EXPECT_ERROR("loop:\n  rate_hz: fast\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:12: loop.rate_hz: expected a number, got 'fast' (allowed 0.1 to 100000)");
    EXPECT_ERROR("brain:\n  channels: 1.5\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:13: brain.channels: expected an integer, got 1.5 (allowed 1 to 4096)");
    EXPECT_ERROR("brain:\n  channels: 1e2\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:13: brain.channels: expected an integer, got 1e2 (allowed 1 to 4096)");
    EXPECT_ERROR("brain:\n  decay: {a: 1}\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:10: brain.decay: expected a number, got a mapping");
    EXPECT_ERROR("link:\n  sensor_endpoint: [a, b]\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:20: link.sensor_endpoint: expected a ZeroMQ endpoint, got a sequence");
    EXPECT_ERROR("loop:\n  stats_window: -3\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:17: loop.stats_window: -3 is negative (allowed 1 to 1000000)");
    EXPECT_ERROR("brain:\n  seed: -1\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:9: brain.seed: -1 is negative (allowed 0 to 18446744073709551615)");
    EXPECT_ERROR("brain:\n  seed: 18446744073709551616\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:9: brain.seed: 18446744073709551616 does not fit in 64 bits "
                 "(allowed 0 to 18446744073709551615)");
    EXPECT_ERROR("loop:\n  cpu: -99999999999999999999\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:8: loop.cpu: -99999999999999999999 does not fit in 64 bits "
                 "(allowed -1 to 1023)");
    EXPECT_ERROR("loop:\n  realtime: maybe\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:13: loop.realtime: 'maybe' is not true or false");
    EXPECT_ERROR("loop:\n  realtime: 'true'\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:13: loop.realtime: expected true or false, got the string 'true'");
    EXPECT_ERROR("loop:\n  rate_hz: .inf\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:12: loop.rate_hz: .inf is not a finite number (allowed 0.1 to 100000)");
    EXPECT_ERROR("loop:\n  rate_hz:\n", CONFIG_ERR_TYPE,
                 "t.yaml:2:11: loop.rate_hz: expected a number, got nothing (allowed 0.1 to 100000)");
    EXPECT_ERROR("loop: 5\n", CONFIG_ERR_TYPE,
                 "t.yaml:1:7: loop: expected a mapping of keys, got a scalar");
    EXPECT_ERROR("loop:\n  mode: &m lockstep\nsim:\n  mode: *m\n", CONFIG_ERR_TYPE,
                 "t.yaml:4:9: sim.mode: expected one of its names, got an alias");
}

TEST(out_of_range_values_are_refused)
{
    EXPECT_ERROR("# the example of config.h\n\nbrain:\n  decay: 1.5\n", CONFIG_ERR_RANGE,
                 "t.yaml:4:10: brain.decay: 1.5 is out of range (allowed 0 to 1)");
    EXPECT_ERROR("loop:\n  rate_hz: 0.09\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:12: loop.rate_hz: 0.09 is out of range (allowed 0.1 to 100000)");
    EXPECT_ERROR("loop:\n  cpu: -2\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:8: loop.cpu: -2 is out of range (allowed -1 to 1023)");
    EXPECT_ERROR("link:\n  robot_id: 4294967296\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:13: link.robot_id: 4294967296 is out of range (allowed 0 to 4294967295)");
    EXPECT_ERROR("link:\n  max_message_bytes: 63\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:22: link.max_message_bytes: 63 is out of range (allowed 64 to 16777216)");
    EXPECT_ERROR("telemetry:\n  slice_axis: 3\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:15: telemetry.slice_axis: 3 is out of range (allowed 0 to 2)");
    EXPECT_ERROR("checkpoint:\n  every_s: 86401\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:12: checkpoint.every_s: 86401 is out of range (allowed 0 to 86400)");
    EXPECT_ERROR("sim:\n  sensor_hz: 0\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:14: sim.sensor_hz: 0 is out of range (allowed 1 to 10000)");
    EXPECT_ERROR("sim:\n  motor_timeout_ms: 60001\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:21: sim.motor_timeout_ms: 60001 is out of range (allowed 1 to 60000)");
    EXPECT_ERROR("brain:\n  size: 0\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:9: brain.size: 0 is out of range (allowed 1 to 4096)");
    EXPECT_ERROR("brain:\n  clamp_limit: 1e999\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:16: brain.clamp_limit: 1e999 is out of range (allowed 1e-06 to 1e+30)");
    char long_path[400] = "checkpoint:\n  path: ";
    memset(long_path + strlen(long_path), 'a', 300);
    EXPECT_ERROR(long_path, CONFIG_ERR_RANGE,
                 "t.yaml:2:9: checkpoint.path: is 300 bytes long (allowed up to 255)");
}

TEST(bad_enum_is_refused)
{
    EXPECT_ERROR("loop:\n  cpu: 1\n  rate_hz: 50\n\n\n\n  mode:   fast\n", CONFIG_ERR_RANGE,
                 "t.yaml:7:11: loop.mode: 'fast' is not one of fixed_rate, lockstep");
    EXPECT_ERROR("brain:\n  backend: gpu\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:12: brain.backend: 'gpu' is not one of auto, vulkan, cpu");
    EXPECT_ERROR("sim:\n  mode: Realtime\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:9: sim.mode: 'Realtime' is not one of realtime, lockstep");
}

TEST(bad_endpoint_is_refused)
{
    static const char *const bad[] = {
        "tcp://127.0.0.1", "tcp://:5555", "tcp://host:0", "tcp://host:65536", "tcp://host:55x",
        "udp://host:5555", "127.0.0.1:5555", "ipc://", "inproc://", "tcp://a b:5555",
        "tcp://[::1:5555",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[256], want[512];
        snprintf(yaml, sizeof yaml, "telemetry:\n  endpoint: '%s'\n", bad[i]);
        snprintf(want, sizeof want,
                 "t.yaml:2:13: telemetry.endpoint: '%s' is not a ZeroMQ endpoint (allowed "
                 "tcp://HOST:PORT, ipc://PATH, inproc://NAME)", bad[i]);
        EXPECT_ERROR(yaml, CONFIG_ERR_RANGE, want);
    }
    EXPECT_ERROR("link:\n  motor_endpoint: \"\"\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:19: link.motor_endpoint: '' is not a ZeroMQ endpoint (allowed "
                 "tcp://HOST:PORT, ipc://PATH, inproc://NAME)");
    config c;
    EXPECT_OK("link:\n  sensor_endpoint: tcp://*:6000\n  motor_endpoint: tcp://eth0:6001\n"
              "telemetry:\n  endpoint: tcp://localhost:65535\n", &c);
    CHECK(strcmp(c.link.sensor_endpoint, "tcp://*:6000") == 0);
}

TEST(telemetry_curve_keys_pair_up_and_exclude_unencrypted)
{
    const char *pub = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    const char *sec = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
    char yaml[512];
    config c;
    /* Empty: the link's; telemetry's own pair, or the link's, with an allow-list. */
    EXPECT_OK("telemetry:\n  unencrypted: true\n", &c);
    CHECK(c.telemetry.unencrypted && c.telemetry.curve_secret_key[0] == '\0');
    snprintf(yaml, sizeof yaml, "link:\n  curve_secret_key: '%s'\n  curve_public_key: '%s'\n"
             "telemetry:\n  curve_client_keys: viewers.txt\n", sec, pub);
    EXPECT_OK(yaml, &c);
    snprintf(yaml, sizeof yaml, "telemetry:\n  curve_public_key: '%s'\n", pub);
    EXPECT_ERROR(yaml, CONFIG_ERR_RANGE,
                 "t.yaml:2:3: telemetry.curve_secret_key: missing: telemetry's own CURVE keys "
                 "need both telemetry.curve_secret_key and telemetry.curve_public_key (or "
                 "neither: the link's)");
    EXPECT_ERROR("telemetry:\n  every: 5\n  curve_client_keys: viewers.txt\n", CONFIG_ERR_RANGE,
                 "t.yaml:3:3: telemetry.curve_client_keys: needs telemetry.curve_secret_key and "
                 "telemetry.curve_public_key, or the link's (without them telemetry is not "
                 "encrypted)");
    snprintf(yaml, sizeof yaml, "telemetry:\n  curve_secret_key: '%s'\n  curve_public_key: '%s'\n"
             "  unencrypted: true\n", sec, pub);
    EXPECT_ERROR(yaml, CONFIG_ERR_RANGE,
                 "t.yaml:4:3: telemetry.unencrypted: true contradicts "
                 "telemetry.curve_secret_key (choose one)");
    /* unencrypted loads, with a warning naming the endpoint. */
    char warn[1024];
    EXPECT_OK("telemetry:\n  unencrypted: true\n", &c);
    CHECK_EQ_INT(config_warnings(&c, warn, sizeof warn), 1);
    CHECK_MSG(strstr(warn, "telemetry.unencrypted: true: telemetry (motors, link state, the field) "
                           "goes out on tcp://127.0.0.1:5557 without CURVE") != NULL, "%s", warn);
}

TEST(bad_curve_key_is_refused_without_echoing_it)
{
    /* Two well-formed Z85 keys (whether they make a pair is for libzmq to say). */
    const char *pub = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    const char *sec = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
    char yaml[512];
    config c;
    snprintf(yaml, sizeof yaml, "link:\n  curve_public_key: '%s'\n  curve_secret_key: '%s'\n",
             pub, sec);
    EXPECT_OK(yaml, &c);
    CHECK(strcmp(c.link.curve_public_key, pub) == 0);
    CHECK(strcmp(c.link.curve_secret_key, sec) == 0);

    /* 39 characters, then 40 with one outside Z85 ('~'). */
    snprintf(yaml, sizeof yaml, "link:\n  curve_secret_key: '%.39s'\n", sec);
    EXPECT_ERROR(yaml, CONFIG_ERR_RANGE,
                 "t.yaml:2:21: link.curve_secret_key: not a CURVE key: 39 characters "
                 "(allowed empty or exactly 40 Z85 characters)");
    snprintf(yaml, sizeof yaml, "link:\n  curve_public_key: '~%.39s'\n", pub);
    EXPECT_ERROR(yaml, CONFIG_ERR_RANGE,
                 "t.yaml:2:21: link.curve_public_key: not a CURVE key: 40 characters, not all of "
                 "them Z85 digits (allowed empty or exactly 40 Z85 characters)");

    /* Half a pair, or client keys with no CURVE, is a mistake. */
    /* Each points at the key that is set. */
    snprintf(yaml, sizeof yaml, "link:\n  curve_secret_key: '%s'\n", sec);
    EXPECT_ERROR(yaml, CONFIG_ERR_RANGE,
                 "t.yaml:2:3: link.curve_public_key: missing: CURVE needs both "
                 "link.curve_secret_key and link.curve_public_key (or neither)");
    snprintf(yaml, sizeof yaml, "link:\n  robot_id: 3\n  curve_public_key: '%s'\n", pub);
    EXPECT_ERROR(yaml, CONFIG_ERR_RANGE,
                 "t.yaml:3:3: link.curve_secret_key: missing: CURVE needs both "
                 "link.curve_secret_key and link.curve_public_key (or neither)");
    EXPECT_ERROR("link:\n  curve_client_keys: clients.txt\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:3: link.curve_client_keys: needs link.curve_secret_key and "
                 "link.curve_public_key (without them the link is not encrypted)");

    /* show never prints the secret: its output then holds half a pair,
     * which does not load. */
    snprintf(yaml, sizeof yaml, "link:\n  curve_public_key: '%s'\n  curve_secret_key: '%s'\n",
             pub, sec);
    EXPECT_OK(yaml, &c);
    char *out = config_text(&c);
    CHECK(out);
    bool leaked = strstr(out, sec) != NULL;
    bool has_public = strstr(out, pub) != NULL;
    char err[1024];
    int rc = config_load_string(out, "shown.yaml", &c, err, sizeof err);
    free(out);
    CHECK(!leaked);
    CHECK(has_public);
    CHECK_EQ_INT(rc, CONFIG_ERR_RANGE);
    CHECK_MSG(strstr(err, "link.curve_secret_key: missing"), "%s", err);
}

TEST(syntax_error_names_its_place)
{
    EXPECT_ERROR("loop:\n  rate_hz: 1\n  cpu 2\nsim:\n", CONFIG_ERR_SYNTAX,
                 "t.yaml:4:1: YAML syntax error: could not find expected ':' "
                 "(while scanning a simple key at line 3)");
    EXPECT_ERROR("loop: {cpu: 1\n", CONFIG_ERR_SYNTAX,
                 "t.yaml:2:1: YAML syntax error: did not find expected ',' or '}' "
                 "(while parsing a flow mapping at line 1)");
    EXPECT_ERROR("loop:\n  cpu: \xff\n", CONFIG_ERR_SYNTAX,
                 "t.yaml:2:8: YAML syntax error: invalid leading UTF-8 octet (byte 0xff)");
    EXPECT_ERROR("- brain\n- loop\n", CONFIG_ERR_SYNTAX,
                 "t.yaml:1:1: the file is a sequence (expected a mapping of sections: brain, "
                 "loop, link, telemetry, checkpoint, sim, record, control, robots)");
    EXPECT_ERROR("loop:\n  cpu: 1\n---\nloop:\n  cpu: 2\n", CONFIG_ERR_SYNTAX,
                 "t.yaml:3:1: a second YAML document (a config file holds one)");
}

TEST(duplicate_keys_are_refused)
{
    EXPECT_ERROR("brain:\n  decay: 0.9\n  seed: 3\n  decay: 0.8\n", CONFIG_ERR_KEY,
                 "t.yaml:4:3: brain.decay: duplicate key (first set at line 2)");
    EXPECT_ERROR("loop:\n  cpu: 1\nsim:\n  mode: realtime\nloop:\n  cpu: 2\n", CONFIG_ERR_KEY,
                 "t.yaml:5:1: loop: duplicate section (first at line 1)");
    EXPECT_ERROR("brain:\n  size: 16\n  size_y: 8\n", CONFIG_ERR_KEY,
                 "t.yaml:3:3: brain.size_y: not with brain.size at line 2 "
                 "(size sets all three of size_x, size_y, size_z)");
}

TEST(empty_file_is_refused)
{
    const char *want = "t.yaml:1:1: the file is empty (expected a mapping of sections: brain, "
                       "loop, link, telemetry, checkpoint, sim, record, control, robots)";
    EXPECT_ERROR("", CONFIG_ERR_SYNTAX, want);
    EXPECT_ERROR("# only a comment\n\n", CONFIG_ERR_SYNTAX, want);
    EXPECT_ERROR("---\n", CONFIG_ERR_SYNTAX, want);
    config c;
    char err[1024];
    CHECK_EQ_INT(config_load(FB_CONFIG_DATA "/empty.yaml", &c, err, sizeof err), CONFIG_ERR_SYNTAX);
    CHECK_MSG(strstr(err, "empty.yaml:1:1: the file is empty"), "%s", err);
}

TEST(missing_file_is_refused)
{
    config c;
    char err[1024];
    const char *path = FB_CONFIG_DATA "/no-such-file.yaml";
    CHECK_EQ_INT(config_load(path, &c, err, sizeof err), CONFIG_ERR_IO);
    char want[1200];
    snprintf(want, sizeof want, "%s: cannot open: %s", path, strerror(ENOENT));
    CHECK_MSG(strcmp(err, want) == 0, "%s", err);
    CHECK_EQ_INT(config_load(FB_CONFIG_DATA, &c, err, sizeof err), CONFIG_ERR_IO);
    CHECK_MSG(strstr(err, "cannot read"), "%s", err);
}

/* The files the fieldbrain-config tests use give their messages here too,
 * with the path as the file name. */
TEST(bad_files_name_file_line_and_column)
{
    static const struct { const char *file; const char *msg; } cases[] = {
        {"unknown_key.yaml", "unknown_key.yaml:5:3: brain.decy: unknown key (did you mean decay?)"},
        {"out_of_range.yaml", "out_of_range.yaml:4:10: brain.decay: 1.5 is out of range (allowed 0 to 1)"},
        {"bad_enum.yaml", "bad_enum.yaml:4:9: loop.mode: 'fast' is not one of fixed_rate, lockstep"},
        {"syntax_error.yaml", "syntax_error.yaml:5:1: YAML syntax error: could not find expected ':'"},
        {"duplicate_key.yaml", "duplicate_key.yaml:5:3: link.timeout_ms: duplicate key (first set at line 3)"},
        {"endpoint_clash.yaml", "endpoint_clash.yaml:4:3: link.sensor_endpoint: "
                                "'tcp://127.0.0.1:6000' takes the same address as "
                                "link.motor_endpoint 'tcp://*:6000' (each socket needs its own)"},
        {"checkpoint_without_path.yaml", "checkpoint_without_path.yaml:4:3: checkpoint.every_s: "
                                         "60 needs checkpoint.path (it is not set)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[1024], err[1024];
        config c;
        snprintf(path, sizeof path, "%s/%s", FB_CONFIG_DATA, cases[i].file);
        CHECK_MSG(config_load(path, &c, err, sizeof err) != 0, "%s loaded", path);
        CHECK_MSG(strstr(err, cases[i].msg), "%s: %s", cases[i].file, err);
    }
}

/* Loads yaml as "t.yaml" and checks the code and how the message starts. */
#define EXPECT_ERROR_START(yaml, code, start)                                    \
    do {                                                                         \
        config c_;                                                               \
        char err_[1024] = "";                                                    \
        int rc_ = config_load_string((yaml), "t.yaml", &c_, err_, sizeof err_);  \
        CHECK_MSG(rc_ == (code), "rc %d (%s), want %d; message: %s", rc_,        \
                  config_strerror(rc_), (code), err_);                           \
        CHECK_MSG(strncmp(err_, (start), strlen(start)) == 0,                    \
                  "got:  %s\nwant: %s...", err_, (start));                       \
    } while (0)

/* Each check between keys points at the last set of the keys that decide
 * it, and says when the other one is left at its default. */
TEST(checks_between_keys)
{
    const char *field = "brain.field: 1024 x 1024 x 1024 x 4096 = 4398046511104 elements is "
                        "too many (allowed up to 4294967295)";
    char want[1024];
    snprintf(want, sizeof want, "t.yaml:3:3: %s", field);
    EXPECT_ERROR("brain:\n  size: 1024\n  channels: 4096\n", CONFIG_ERR_RANGE, want);
    EXPECT_ERROR("brain:\n  channels: 4096\n  size: 1024\n", CONFIG_ERR_RANGE, want);
    snprintf(want, sizeof want, "t.yaml:5:3: %s", field);
    EXPECT_ERROR("brain:\n  size_z: 1024\n  size_x: 1024\n  channels: 4096\n  size_y: 1024\n",
                 CONFIG_ERR_RANGE, want);
    /* Other sections set after it do not move it. */
    snprintf(want, sizeof want, "t.yaml:3:3: %s", field);
    EXPECT_ERROR("brain:\n  size: 1024\n  channels: 4096\nloop:\n  cpu: 1\n", CONFIG_ERR_RANGE,
                 want);

    EXPECT_ERROR("brain:\n  precision: f16\n  backend: cpu\n", CONFIG_ERR_RANGE,
                 "t.yaml:3:3: brain.precision: f16 needs the Vulkan backend (the CPU backend "
                 "stores float32)");
    EXPECT_ERROR("brain:\n  backend: cpu\n  seed: 3\n  precision: f16\n", CONFIG_ERR_RANGE,
                 "t.yaml:4:3: brain.precision: f16 needs the Vulkan backend (the CPU backend "
                 "stores float32)");

    /* The overflow bound: any of the gains, the clamp, the field size and
     * the sensor limit decide it; f16's bound does not depend on the size. */
    EXPECT_ERROR_START("brain:\n  sensor_gain: 2\nlink:\n  sensor_limit: 1e30\n",
                       CONFIG_ERR_RANGE,
                       "t.yaml:4:3: brain.sensor_gain, clamp_limit, momentum_gain: with sensor "
                       "values up to +-1e+30 (link.sensor_limit)");
    EXPECT_ERROR_START("link:\n  sensor_limit: 1e30\nbrain:\n  seed: 2\n  sensor_gain: 2\n",
                       CONFIG_ERR_RANGE, "t.yaml:5:3: brain.sensor_gain, clamp_limit");
    EXPECT_ERROR_START("brain:\n  clamp_limit: 1e30\n  channels: 192\n  size: 96\n",
                       CONFIG_ERR_RANGE, "t.yaml:4:3: brain.sensor_gain, clamp_limit");
    EXPECT_ERROR_START("brain:\n  backend: vulkan\n  precision: f16\n  clamp_limit: 100000\n",
                       CONFIG_ERR_RANGE, "t.yaml:4:3: brain.precision: f16 holds at most 65504");
    EXPECT_ERROR_START("brain:\n  clamp_limit: 100000\n  precision: f16\n  size: 8\n"
                       "  backend: vulkan\n",
                       CONFIG_ERR_RANGE, "t.yaml:3:3: brain.precision: f16 holds at most 65504");

    /* Of two clashing endpoints, the later one; a default one says so. */
    EXPECT_ERROR("link:\n  motor_endpoint: tcp://*:5555\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:3: link.motor_endpoint: 'tcp://*:5555' takes the same address as "
                 "link.sensor_endpoint 'tcp://127.0.0.1:5555' (its default; each socket needs "
                 "its own)");
    EXPECT_ERROR("telemetry:\n  endpoint: tcp://127.0.0.1:5556\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:3: telemetry.endpoint: 'tcp://127.0.0.1:5556' takes the same address "
                 "as link.motor_endpoint 'tcp://127.0.0.1:5556' (its default; each socket needs "
                 "its own)");
    EXPECT_ERROR("link:\n  motor_endpoint: tcp://*:7000\n  sensor_endpoint: tcp://127.0.0.1:7000\n",
                 CONFIG_ERR_RANGE,
                 "t.yaml:3:3: link.sensor_endpoint: 'tcp://127.0.0.1:7000' takes the same address "
                 "as link.motor_endpoint 'tcp://*:7000' (each socket needs its own)");
    EXPECT_ERROR("telemetry:\n  endpoint: ipc://x\nlink:\n  sensor_endpoint: ipc://x\n",
                 CONFIG_ERR_RANGE,
                 "t.yaml:4:3: link.sensor_endpoint: 'ipc://x' takes the same address as "
                 "telemetry.endpoint 'ipc://x' (each socket needs its own)");
    EXPECT_ERROR("control:\n  endpoint: tcp://*:5557\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:3: control.endpoint: 'tcp://*:5557' takes the same address as "
                 "telemetry.endpoint 'tcp://127.0.0.1:5557' (its default; each socket needs "
                 "its own)");
    config c;
    /* Telemetry off: its endpoint is not bound, so it may repeat one. */
    EXPECT_OK("telemetry:\n  enabled: false\n  endpoint: tcp://127.0.0.1:5556\n", &c);
    EXPECT_OK("control:\n  enabled: false\n  endpoint: tcp://127.0.0.1:5556\n", &c);

    EXPECT_ERROR("brain:\n  size_x: 40\n  size_y: 20\ntelemetry:\n  slice_axis: 1\n  slice_index: 20\n",
                 CONFIG_ERR_RANGE,
                 "t.yaml:6:3: telemetry.slice_index: 20 is outside the field (allowed -1 to 19: "
                 "brain.size_y is 20)");
    EXPECT_ERROR("telemetry:\n  slice_index: 20\n  slice_axis: 1\nbrain:\n  size_x: 40\n  size_y: 20\n",
                 CONFIG_ERR_RANGE,
                 "t.yaml:6:3: telemetry.slice_index: 20 is outside the field (allowed -1 to 19: "
                 "brain.size_y is 20)");
    EXPECT_ERROR("telemetry:\n  slice_index: 20\n  slice_axis: 1\nbrain:\n  size_y: 20\n  size_x: 40\n",
                 CONFIG_ERR_RANGE,
                 "t.yaml:5:3: telemetry.slice_index: 20 is outside the field (allowed -1 to 19: "
                 "brain.size_y is 20)");
    EXPECT_ERROR("telemetry:\n  slice_index: 20\nbrain:\n  size: 16\n", CONFIG_ERR_RANGE,
                 "t.yaml:4:3: telemetry.slice_index: 20 is outside the field (allowed -1 to 15: "
                 "brain.size_z is 16)");
    EXPECT_ERROR("telemetry:\n  slice_index: 40\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:3: telemetry.slice_index: 40 is outside the field (allowed -1 to 31: "
                 "brain.size_z is 32, its default)");
    EXPECT_ERROR("telemetry:\n  slice_index: 20\n  every: 3\n  slice_axis: 0\nbrain:\n  size_y: 8\n"
                 "  size_x: 20\n", CONFIG_ERR_RANGE,
                 "t.yaml:7:3: telemetry.slice_index: 20 is outside the field (allowed -1 to 19: "
                 "brain.size_x is 20)");

    EXPECT_ERROR("telemetry:\n  slice_channel: 64\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:3: telemetry.slice_channel: 64 is outside the field (allowed -1 to 63: "
                 "brain.channels is 64, its default)");
    EXPECT_ERROR("telemetry:\n  slice_channel: 10\nbrain:\n  seed: 5\n  channels: 8\n",
                 CONFIG_ERR_RANGE,
                 "t.yaml:5:3: telemetry.slice_channel: 10 is outside the field (allowed -1 to 7: "
                 "brain.channels is 8)");

    EXPECT_ERROR("checkpoint:\n  every_s: 60\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:3: checkpoint.every_s: 60 needs checkpoint.path (it is not set)");
    EXPECT_ERROR("checkpoint:\n  every_s: 60\n  path: ''\n", CONFIG_ERR_RANGE,
                 "t.yaml:3:3: checkpoint.every_s: 60 needs checkpoint.path (it is empty)");

    /* What fieldbrain run would refuse at start is refused here, at its
     * place: a sensor message the link could never take, an input log
     * budget that cannot hold a few of its segments (32^3 x 64: 8.1 MiB
     * each, 33 MiB at least; without a path no log, no check). */
    EXPECT_ERROR("link:\n  max_message_bytes: 111\n", CONFIG_ERR_RANGE,
                 "t.yaml:2:3: link.max_message_bytes: 111 is less than one sensor message of this "
                 "brain (48 + 4 x brain.sensors = 112 bytes): every message would be dropped");
    EXPECT_OK("link:\n  max_message_bytes: 112\n", &c);
    EXPECT_ERROR("link:\n  max_message_bytes: 100\nbrain:\n  sensors: 14\n", CONFIG_ERR_RANGE,
                 "t.yaml:4:3: link.max_message_bytes: 100 is less than one sensor message of this "
                 "brain (48 + 4 x brain.sensors = 104 bytes): every message would be dropped");
    EXPECT_ERROR("record:\n  path: /tmp/log\n  max_mb: 32\n", CONFIG_ERR_RANGE,
                 "t.yaml:3:3: record.max_mb: 32 MiB cannot hold a few segments of this brain (each "
                 "starts with a 8.1 MiB checkpoint): allowed at least 33");
    EXPECT_OK("record:\n  path: /tmp/log\n  max_mb: 33\n", &c);
    EXPECT_OK("record:\n  max_mb: 1\n", &c);
    EXPECT_ERROR("record:\n  max_mb: 40\n  path: /tmp/log\nbrain:\n  size: 40\n", CONFIG_ERR_RANGE,
                 "t.yaml:3:3: record.max_mb: 40 MiB cannot hold a few segments of this brain (each "
                 "starts with a 15.7 MiB checkpoint): allowed at least 63");
}

/* config_check on a config built in code: a key the file set keeps its
 * place; a key set in code after loading has none, so the message names
 * the file alone. Also the range checks of brain_params_check, which a
 * loaded config never fails. */
TEST(checks_between_keys_without_a_place)
{
    config c;
    char err[1024];
    config_default(&c);
    c.telemetry.slice_channel = 64;
    CHECK_EQ_INT(config_check(&c, "x", err, sizeof err), CONFIG_ERR_RANGE);
    CHECK_MSG(strcmp(err, "x: telemetry.slice_channel: 64 is outside the field (allowed -1 to "
                          "63: brain.channels is 64, its default)") == 0, "%s", err);
    config_default(&c);
    c.brain.decay = 2;
    CHECK_EQ_INT(config_check(&c, "x", err, sizeof err), CONFIG_ERR_RANGE);
    CHECK_MSG(strcmp(err, "x: brain.decay: 2 is out of range (allowed 0 to 1)") == 0, "%s", err);
    EXPECT_OK("loop:\n  cpu: 1\nbrain:\n  seed: 9\n  decay: 0.5\n", &c);
    c.brain.decay = 2;
    CHECK_EQ_INT(config_check(&c, "t.yaml", err, sizeof err), CONFIG_ERR_RANGE);
    CHECK_MSG(strcmp(err, "t.yaml:5:3: brain.decay: 2 is out of range (allowed 0 to 1)") == 0,
              "%s", err);
    /* config_default forgets the places. */
    config_default(&c);
    CHECK_EQ_INT(c.origin.count, 0);
}

/* Every key can be set at once and each keeps its place (the table in the
 * config has room for all of them). */
TEST(every_key_has_a_place)
{
    config c;
    config_default(&c);
    char *all = config_text(&c); /* a cube: size set, size_x/y/z commented */
    CHECK(all);
    char err[1024];
    int rc = config_load_string(all, "all.yaml", &c, err, sizeof err);
    free(all);
    CHECK_MSG(rc == 0, "%s", err);
    for (int i = 0; i < 3; i++) {
        const char *axis[] = {"brain.size_x", "brain.size_y", "brain.size_z"};
        CHECK_EQ_INT(config_set(&c, axis[i], "32", err, sizeof err), 0);
    }
    size_t n_brain;
    brain_param_table(&n_brain);
    CHECK_EQ_INT(c.origin.count, n_brain + 5 + 39);  /* as default_yaml_documents_every_key */
    for (uint32_t i = 0; i < c.origin.count; i++)
        CHECK_EQ_INT(c.origin.at[i].line == 0, i >= c.origin.count - 3);
}

TEST(unstable_brain_warns_but_loads)
{
    config c;
    char warn[1024];
    EXPECT_OK("brain:\n  momentum_gain: 0.05\n", &c);
    CHECK_EQ_INT(config_warnings(&c, warn, sizeof warn), 1);
    CHECK_MSG(strncmp(warn, "brain.momentum_gain: decay * (1 + momentum_gain) = 1.0448 >= 1", 62) == 0,
              "%s", warn);
    /* Exactly at the edge (d * (1 + g) = 1) is a warning too; just below is not. */
    EXPECT_OK("brain:\n  decay: 0.5\n  momentum_gain: 1\n", &c);
    CHECK_EQ_INT(config_warnings(&c, NULL, 0), 1);
    EXPECT_OK("brain:\n  decay: 0.5\n  momentum_gain: 0.99\n", &c);
    CHECK_EQ_INT(config_warnings(&c, warn, sizeof warn), 0);
    CHECK(warn[0] == '\0');
}

TEST(other_warnings)
{
    config c;
    char warn[2048];
    /* A lockstep sim wants a lockstep brain; both in one file is quiet. */
    EXPECT_OK("sim:\n  mode: lockstep\n", &c);
    CHECK_EQ_INT(config_warnings(&c, warn, sizeof warn), 1);
    CHECK_MSG(strncmp(warn, "sim.mode: lockstep but loop.mode: fixed_rate", 44) == 0, "%s", warn);
    EXPECT_OK("sim:\n  mode: lockstep\nloop:\n  mode: lockstep\n", &c);
    CHECK_EQ_INT(config_warnings(&c, NULL, 0), 0);
    /* Several warnings come one a line. */
    EXPECT_OK("brain:\n  momentum_gain: 0.05\n  backend: cpu\n  validation: true\n"
              "sim:\n  mode: lockstep\n", &c);
    CHECK_EQ_INT(config_warnings(&c, warn, sizeof warn), 3);
    char *second = strchr(warn, '\n');
    CHECK(second && strncmp(second + 1, "sim.mode: ", 10) == 0);
    char *third = strchr(second + 1, '\n');
    CHECK(third && strcmp(third + 1, "brain.validation: true has no effect with brain.backend: cpu") == 0);
    /* A short buffer is cut, never overrun, and the count stays right. */
    char tiny[8];
    CHECK_EQ_INT(config_warnings(&c, tiny, sizeof tiny), 3);
    CHECK(strlen(tiny) == 7);
}

/* show's output is a config file that loads back to the same config. */
TEST(written_yaml_reads_back_equal)
{
    static const char *const inputs[] = {
        NULL, /* the defaults */
        "brain:\n  size_x: 7\n  size_y: 9\n  size_z: 11\n  seed: 12345678901234567890\n"
        "  init_std: 0.123456789\n  sensor_gain: -3.3e-5\n  clamp_limit: 1e30\n"
        "  device: \"Quoted \\\"name\\\" \\\\ x\"\n"
        "loop:\n  rate_hz: 333.3333333333333\n  mode: lockstep\n"
        "sim:\n  mode: lockstep\n  model: 'models/a: b.xml'\n  duration_s: 0.1\n",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        config a, b;
        char err[1024];
        if (inputs[i])
            EXPECT_OK(inputs[i], &a);
        else
            config_default(&a);
        char *out = config_text(&a);
        CHECK(out);
        int rc = config_load_string(out, "shown.yaml", &b, err, sizeof err);
        free(out);
        CHECK_MSG(rc == 0, "%s", err);
        CHECK(SAME_SETTINGS(&a, &b));
    }
    /* a fleet: what each robot resolves to, as comments, and it reads back */
    config f, g;
    char ferr[512];
    EXPECT_OK("brain:\n  seed: 10\ncheckpoint:\n  path: run/b.json\nrecord:\n  path: logs\n"
              "robots:\n  - id: 3\n  - id: 5\n    seed: 99\n", &f);
    char *shown = config_text(&f);
    CHECK(shown);
    const bool has = strstr(shown, "  - id: 3\n    # seed: 10 (brain.seed plus its place)\n"
                                   "    # checkpoint: \"run/b-3.json\" (from checkpoint.path)\n"
                                   "    # its input log: \"logs/robot-3\"\n") != NULL &&
                     strstr(shown, "  - id: 5\n    seed: 99\n") != NULL;
    const int back = config_load_string(shown, "shown.yaml", &g, ferr, sizeof ferr);
    free(shown);
    CHECK(has);
    CHECK_MSG(back == 0, "%s", ferr);
    CHECK(SAME_SETTINGS(&f, &g));
    config c;
    EXPECT_OK(inputs[1], &c);
    CHECK(strcmp(c.brain.device, "Quoted \"name\" \\ x") == 0);
    CHECK(c.brain.seed == 12345678901234567890ULL);
    CHECK(c.brain.size_x == 7 && c.brain.size_y == 9 && c.brain.size_z == 11);
}

TEST(config_set_checks_like_the_file)
{
    config c;
    char err[512];
    config_default(&c);
    CHECK_EQ_INT(config_set(&c, "brain.backend", "vulkan", err, sizeof err), 0);
    CHECK_EQ_INT(c.brain.backend, BRAIN_BACKEND_VULKAN);
    CHECK_EQ_INT(config_set(&c, "brain.size", "48", err, sizeof err), 0);
    CHECK(c.brain.size_x == 48 && c.brain.size_y == 48 && c.brain.size_z == 48);
    CHECK_EQ_INT(config_set(&c, "checkpoint.path", "", err, sizeof err), 0);
    /* as an unquoted value of the file: the spaces around it are not part of it */
    CHECK_EQ_INT(config_set(&c, "brain.decay", " 0.5\t ", err, sizeof err), 0);
    CHECK(c.brain.decay == 0.5f);
    CHECK_EQ_INT(config_set(&c, "checkpoint.path", "  run/ck ", err, sizeof err), 0);
    CHECK(strcmp(c.checkpoint.path, "run/ck") == 0);
    CHECK_EQ_INT(config_set(&c, "brain.decay", "2", err, sizeof err), CONFIG_ERR_RANGE);
    CHECK_MSG(strcmp(err, "brain.decay: 2 is out of range (allowed 0 to 1)") == 0, "%s", err);
    CHECK_EQ_INT(config_set(&c, "brain.decy", "0.5", err, sizeof err), CONFIG_ERR_KEY);
    CHECK_MSG(strcmp(err, "brain.decy: unknown key (did you mean decay?)") == 0, "%s", err);
    CHECK_EQ_INT(config_set(&c, "decay", "0.5", err, sizeof err), CONFIG_ERR_KEY);
    CHECK_EQ_INT(config_set(&c, "loop.mode", "fast", err, sizeof err), CONFIG_ERR_RANGE);
    CHECK_EQ_INT(config_check(&c, "cmdline", err, sizeof err), 0);
    CHECK_EQ_INT(config_set(&c, "telemetry.slice_channel", "64", err, sizeof err), 0);
    CHECK_EQ_INT(config_check(&c, "cmdline", err, sizeof err), CONFIG_ERR_RANGE);
    CHECK_MSG(strcmp(err, "cmdline: telemetry.slice_channel: 64 is outside the field (allowed -1 "
                          "to 63: brain.channels is 64, its default) [telemetry.slice_channel "
                          "set on the command line]") == 0, "%s", err);
}

/* A key set by config_set counts as set after every key of the file, and
 * the message says it came from the command line, not from a place in it. */
TEST(config_set_places_are_the_command_line)
{
    config c;
    char err[1024];
    EXPECT_OK("telemetry:\n  slice_channel: 10\n", &c);
    CHECK_EQ_INT(config_set(&c, "brain.channels", "8", err, sizeof err), 0);
    CHECK_EQ_INT(config_check(&c, "t.yaml", err, sizeof err), CONFIG_ERR_RANGE);
    CHECK_MSG(strcmp(err, "t.yaml: telemetry.slice_channel: 10 is outside the field (allowed -1 "
                          "to 7: brain.channels is 8) [brain.channels set on the command "
                          "line]") == 0, "%s", err);
    /* Set again in the file's place: the command line wins. */
    EXPECT_OK("brain:\n  channels: 8\n", &c);
    CHECK_EQ_INT(config_set(&c, "telemetry.slice_channel", "9", err, sizeof err), 0);
    CHECK_EQ_INT(config_check(&c, "t.yaml", err, sizeof err), CONFIG_ERR_RANGE);
    CHECK_MSG(strstr(err, "[telemetry.slice_channel set on the command line]"), "%s", err);
    /* brain.size is named as set. */
    EXPECT_OK("telemetry:\n  slice_index: 20\n", &c);
    CHECK_EQ_INT(config_set(&c, "brain.size", "16", err, sizeof err), 0);
    CHECK_EQ_INT(config_check(&c, "t.yaml", err, sizeof err), CONFIG_ERR_RANGE);
    CHECK_MSG(strcmp(err, "t.yaml: telemetry.slice_index: 20 is outside the field (allowed -1 "
                          "to 15: brain.size_z is 16) [brain.size set on the command line]") == 0,
              "%s", err);
    /* The endpoint set on the command line is the later of the two. */
    EXPECT_OK("link:\n  motor_endpoint: tcp://*:7000\n", &c);
    CHECK_EQ_INT(config_set(&c, "link.sensor_endpoint", "tcp://127.0.0.1:7000", err, sizeof err), 0);
    CHECK_EQ_INT(config_check(&c, "t.yaml", err, sizeof err), CONFIG_ERR_RANGE);
    CHECK_MSG(strcmp(err, "t.yaml: link.sensor_endpoint: 'tcp://127.0.0.1:7000' takes the same "
                          "address as link.motor_endpoint 'tcp://*:7000' (each socket needs its "
                          "own) [link.sensor_endpoint set on the command line]") == 0, "%s", err);
}

/* No accepted config and no accepted input may overflow the field: the
 * product of the gains, the sensor bound and the field size is checked. */
TEST(configs_whose_worst_input_overflows_are_refused)
{
    static const char *const bad[] = {
        "brain:\n  sensor_gain: 2\nlink:\n  sensor_limit: 1e30\n",
        "brain:\n  size: 96\n  channels: 192\n  clamp_limit: 1e30\n",
        "brain:\n  size: 64\n  sensor_gain: 1000000\n  clamp_limit: 1e30\n",
        "brain:\n  backend: vulkan\n  precision: f16\n  clamp_limit: 100000\n",
        "brain:\n  backend: vulkan\n  precision: f16\n  sensor_gain: 10\nlink:\n  sensor_limit: 1000\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        config c;
        char err[1024] = "";
        int rc = config_load_string(bad[i], "t.yaml", &c, err, sizeof err);
        CHECK_MSG(rc == CONFIG_ERR_RANGE, "case %zu: rc %d (%s)", i, rc, err);
        CHECK_MSG(strstr(err, "link.sensor_limit") && strstr(err, "t.yaml"), "case %zu: %s", i, err);
    }
    config c;
    /* The largest gain with the default bound, and f16 with its defaults, fit. */
    EXPECT_OK("brain:\n  sensor_gain: 1000000\n", &c);
    CHECK(c.link.sensor_limit == 1000.0f);
    EXPECT_OK("brain:\n  backend: vulkan\n  precision: f16\n", &c);
}

/* Writes bytes to a new file under the temporary folder; its path goes to
 * path (unlink it). Returns false if it could not. */
static bool write_temp(char *path, size_t path_len, const char *bytes, size_t n)
{
    snprintf(path, path_len, "%s/fb-config-XXXXXX", P_tmpdir);
    int fd = mkstemp(path);
    if (fd < 0)
        return false;
    bool ok = write(fd, bytes, n) == (ssize_t)n;
    close(fd);
    return ok;
}

/* A NUL byte is reported where it is (columns count characters, as
 * libyaml's do); a file over 1 MiB at the first byte past the limit. */
TEST(bad_bytes_name_their_place)
{
    static const char nul[] = "loop:\n  cpu: 1\n# \xc3\xa9\0\nsim:\n";
    char path[256], err[1024], want[1024];
    config c;
    CHECK(write_temp(path, sizeof path, nul, sizeof nul - 1));
    int rc = config_load(path, &c, err, sizeof err);
    unlink(path);
    CHECK_EQ_INT(rc, CONFIG_ERR_SYNTAX);
    snprintf(want, sizeof want, "%s:3:4: contains a NUL byte: not a text file", path);
    CHECK_MSG(strcmp(err, want) == 0, "got:  %s\nwant: %s", err, want);

    /* Lines of 1000 bytes, each with a two-byte character in column 2:
     * byte 1048576 is byte 576 of line 1049, in column 576. */
    size_t size = 1100 * 1000;
    char *big = malloc(size);
    CHECK(big);
    for (size_t i = 0; i < size; i += 1000) {
        memset(big + i, 'x', 1000);
        memcpy(big + i, "#\xc3\xa9", 3);
        big[i + 999] = '\n';
    }
    bool written = write_temp(path, sizeof path, big, size);
    free(big);
    CHECK(written);
    rc = config_load(path, &c, err, sizeof err);
    unlink(path);
    CHECK_EQ_INT(rc, CONFIG_ERR_IO);
    snprintf(want, sizeof want, "%s:1049:576: larger than 1048576 bytes: not a config file", path);
    CHECK_MSG(strcmp(err, want) == 0, "got:  %s\nwant: %s", err, want);
}

/* Strings are UTF-8 text: config_set refuses anything else (naming the
 * byte, never the string), so that show can write every string. */
TEST(strings_must_be_utf8)
{
    static const struct { const char *text; const char *where; } bad[] = {
        {"\xff", "byte 1 (0xff)"},
        {"ab\x80", "byte 3 (0x80)"},          /* a continuation byte alone */
        {"a\xc3(", "byte 2 (0xc3)"},          /* cut short */
        {"\xc0\x80", "byte 1 (0xc0)"},        /* overlong NUL */
        {"\xe0\x80\xaf", "byte 1 (0xe0)"},    /* overlong '/' */
        {"\xed\xa0\x80", "byte 1 (0xed)"},    /* a surrogate, U+D800 */
        {"\xf4\x90\x80\x80", "byte 1 (0xf4)"}, /* U+110000 */
        {"ok \xe2\x82", "byte 4 (0xe2)"},     /* cut short at the end */
    };
    config c;
    config_default(&c);
    char err[512], want[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(config_set(&c, "sim.trajectory", bad[i].text, err, sizeof err),
                     CONFIG_ERR_RANGE);
        snprintf(want, sizeof want, "sim.trajectory: is not UTF-8 text: %s does not begin a "
                 "well-formed character (strings are UTF-8)", bad[i].where);
        CHECK_MSG(strcmp(err, want) == 0, "case %zu: got:  %s\nwant: %s", i, err, want);
    }
    CHECK_EQ_INT(config_set(&c, "link.curve_secret_key", "hidden\xff", err, sizeof err),
                 CONFIG_ERR_RANGE);
    CHECK_MSG(!strstr(err, "hidden"), "%s", err);
    CHECK(c.sim.trajectory[0] == '\0');
    /* The edges that are well-formed pass. */
    const char *good = "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
                       "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
    CHECK_MSG(config_set(&c, "sim.trajectory", good, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(c.sim.trajectory, good) == 0);
}

/* show's output loads back to the same config, and showing that gives the
 * same text again. Returns false (with a message) if not. */
static bool shows_back_equal(const config *a, const char *what)
{
    char *out = config_text(a);
    if (!out) {
        fprintf(stderr, "%s: cannot write\n", what);
        return false;
    }
    config b;
    char err[1024];
    int rc = config_load_string(out, "shown.yaml", &b, err, sizeof err);
    bool same = false;
    if (rc)
        fprintf(stderr, "%s: show's output does not load: %s\n", what, err);
    else if (!SAME_SETTINGS(a, &b))
        fprintf(stderr, "%s: show's output loads to another config\n", what);
    else {
        char *again = config_text(&b);
        same = again && strcmp(out, again) == 0;
        if (!same)
            fprintf(stderr, "%s: show's output shows differently\n", what);
        free(again);
    }
    free(out);
    return same;
}

TEST(every_shipped_config_shows_back_equal)
{
    DIR *d = opendir(FB_CONFIG_DIR);
    CHECK(d);
    int shown = 0, failed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".yaml") != 0)
            continue;
        char path[1024], err[1024];
        snprintf(path, sizeof path, "%s/%s", FB_CONFIG_DIR, e->d_name);
        config c;
        if (config_load(path, &c, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            failed++;
            continue;
        }
        shown++;
        failed += !shows_back_equal(&c, e->d_name);
    }
    closedir(d);
    CHECK_EQ_INT(failed, 0);
    CHECK(shown >= 4);
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Every character from U+0001 to U+FFFF (surrogates are no characters) and
 * a sample above, in chunks that fill the string keys, set through
 * config_set, shown and loaded back. */
TEST(every_character_shows_back_equal)
{
    static const uint32_t above[] = {
        0x10000, 0x1F600, 0x1FFFE, 0x1FFFF, 0x2FFFF, 0xE0001, 0xEFFFD, 0xFFFFF,
        0x100000, 0x10FFFD, 0x10FFFE, 0x10FFFF,
    };
    static const struct { const char *key; size_t len; } keys[] = {
        {"brain.device", BRAIN_DEVICE_LEN}, {"checkpoint.path", CONFIG_STR},
        {"sim.model", CONFIG_STR}, {"sim.trajectory", CONFIG_STR},
    };
    size_t n_above = sizeof above / sizeof above[0];
    uint32_t next = 1;   /* the next code point below U+10000 */
    size_t next_above = 0;
    int rounds = 0;
    while (next <= 0xFFFF || next_above < n_above) {
        config c;
        char err[512];
        config_default(&c);
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            char s[CONFIG_STR] = "";
            size_t used = 0;
            for (;;) {
                if (next >= 0xD800 && next <= 0xDFFF)
                    next = 0xE000;
                uint32_t cp = next <= 0xFFFF ? next
                              : next_above < n_above ? above[next_above] : 0;
                if (!cp)
                    break;
                char enc[4];
                size_t n = utf8_encode(cp, enc);
                if (used + n >= keys[k].len)
                    break;
                memcpy(s + used, enc, n);
                used += n;
                s[used] = '\0';
                if (next <= 0xFFFF)
                    next++;
                else
                    next_above++;
            }
            CHECK_MSG(config_set(&c, keys[k].key, s, err, sizeof err) == 0, "%s", err);
        }
        CHECK_MSG(config_check(&c, "cmdline", err, sizeof err) == 0, "%s", err);
        char what[64];
        snprintf(what, sizeof what, "round %d (before U+%04X)", rounds, (unsigned)next);
        CHECK(shows_back_equal(&c, what));
        rounds++;
    }
    CHECK(rounds > 100);
}

/* config_get gives back what config_set takes, for every kind of key; the
 * CURVE secret key is never shown. */
TEST(get_gives_each_value_as_text)
{
    config c;
    config_default(&c);
    char out[300], err[256];
    CHECK_EQ_INT(config_set(&c, "brain.motor_gain", "50.5", err, sizeof err), 0);
    CHECK_EQ_INT(config_get(&c, "brain.motor_gain", out, sizeof out, err, sizeof err), 0);
    CHECK_MSG(strcmp(out, "50.5") == 0, "%s", out);
    CHECK_EQ_INT(config_get(&c, "loop.mode", out, sizeof out, err, sizeof err), 0);
    CHECK(strcmp(out, "fixed_rate") == 0);
    CHECK_EQ_INT(config_get(&c, "control.endpoint", out, sizeof out, err, sizeof err), 0);
    CHECK(strcmp(out, "tcp://127.0.0.1:5558") == 0);
    CHECK_EQ_INT(config_get(&c, "control.enabled", out, sizeof out, err, sizeof err), 0);
    CHECK(strcmp(out, "true") == 0);
    CHECK_EQ_INT(config_get(&c, "brain.decay", out, sizeof out, err, sizeof err), 0);
    CHECK(strcmp(out, "0.995") == 0);
    CHECK_EQ_INT(config_set(&c, "link.curve_secret_key", "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6", err, sizeof err), 0);
    CHECK_EQ_INT(config_get(&c, "link.curve_secret_key", out, sizeof out, err, sizeof err), 0);
    CHECK(strstr(out, "JTK") == NULL);
    CHECK(config_get(&c, "brain.motor_gian", out, sizeof out, err, sizeof err) == CONFIG_ERR_KEY);
    CHECK_MSG(strstr(err, "motor_gain"), "%s", err);
}
