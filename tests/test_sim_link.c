/* test_sim_link.c: fieldbrain-sim as a process over real sockets on
 * 127.0.0.1: against a fake brain written here (the exact bytes of
 * io/PROTOCOL.md, bad motor frames dropped and counted, NaN never reaching a
 * motor), and against the real fieldbrain program (lockstep runs that are
 * clean and repeatable, the safety stop when the brain dies and driving
 * again after it restarts, realtime, SIGTERM, bad configs); and a fleet of
 * rovers against a fake brain (each with its own id and only its own
 * motors, none held up by another whose answers stop).
 */
#include "harness.h"
#include "proc.h"
#include "wire.h"

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define SENSORS 16
#define MOTORS 5

typedef struct {
    char dir[64];
    char sensor_ep[64], motor_ep[64];
} rig;

/* A temp directory (the working directory too: MuJoCo writes its log
 * there) and two fresh ports. */
static void rig_init(rig *r)
{
    memset(r, 0, sizeof *r);
    if (harness_temp_dir("sim-link", r->dir, sizeof r->dir) < 0 || chdir(r->dir) != 0)
        abort();
    proc_free_endpoint(r->sensor_ep, sizeof r->sensor_ep);
    proc_free_endpoint(r->motor_ep, sizeof r->motor_ep);
}

/* After a passing test: out of the directory, and it goes (a failing test
 * returns before this and leaves its files to look at). */
static void rig_clean(const rig *r)
{
    if (chdir("/tmp") == 0)
        harness_remove_tree(r->dir);
}

/* Writes name in the rig's directory: a small CPU brain and the sim, both
 * in `mode` (lockstep | realtime), `extra` appended (more sections). */
__attribute__((format(printf, 5, 6)))
static void write_config(const rig *r, const char *name, unsigned seed, const char *mode, const char *extra_fmt, ...)
{
    char extra[1024] = "";
    va_list ap;
    va_start(ap, extra_fmt);
    vsnprintf(extra, sizeof extra, extra_fmt, ap);
    va_end(ap);
    FILE *f = fopen(name, "w");
    if (!f)
        abort();
    fprintf(f,
            "brain:\n  size: 16\n  channels: 16\n  sensors: %d\n  motors: %d\n  backend: cpu\n  threads: 1\n"
            "  seed: %u\n  motor_gain: 20\n"
            "loop:\n  mode: %s\n  rate_hz: 100\n"
            "link:\n  sensor_endpoint: \"%s\"\n  motor_endpoint: \"%s\"\n"
            "telemetry:\n  enabled: false\ncontrol:\n  enabled: false\n"
            "sim:\n  mode: %s\n  sensor_hz: 50\n%s",
            SENSORS, MOTORS, seed, strcmp(mode, "lockstep") ? "fixed_rate" : "lockstep", r->sensor_ep,
            r->motor_ep, mode, extra);
    fclose(f);
}

static pid_t start_brain(const char *cfg, const char *err)
{
    char *argv[] = {FB_BRAIN_BIN, "run", "--config", (char *)cfg, NULL};
    return proc_spawn(argv, NULL, err);
}

/* Waits (hang guard only) until path contains needle. */
static int wait_for_text(const char *path, const char *needle)
{
    double end = harness_now_s() + PROC_HANG_GUARD_S;
    while (harness_now_s() < end) {
        if (harness_file_has(path, needle))
            return 1;
        harness_sleep_s(0.02);
    }
    return 0;
}

/* A trajectory CSV: rows of 13 numbers after the header. */
typedef struct {
    int n;
    double (*row)[13];
} traj;

enum { T_TIME, T_X, T_Y, T_YAW, T_SPEED, T_CMD0, T_BUMP_FRONT = 10, T_BUMP_REAR, T_HOLDING };

static int traj_read(const char *path, traj *t)
{
    t->n = 0;
    t->row = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    if (!fgets(line, sizeof line, f) || strncmp(line, "time_s,x,y,yaw", 14) != 0) {
        fclose(f);
        return -1;
    }
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        if (t->n == cap) {
            cap = cap ? 2 * cap : 1024;
            t->row = realloc(t->row, sizeof *t->row * (size_t)cap);
        }
        char *p = line;
        for (int i = 0; i < 13; i++) {
            char *end;
            t->row[t->n][i] = strtod(p, &end);
            if (end == p) {
                fclose(f);
                return -1;
            }
            p = end + (*end == ',');
        }
        t->n++;
    }
    fclose(f);
    return 0;
}

/* ---- against a fake brain written here ---- */

typedef struct {
    void *ctx, *pull, *pub;
    uint8_t topic[WIRE_TOPIC_BYTES];
} fake_brain;

static void fake_init(fake_brain *b, const rig *r)
{
    b->ctx = zmq_ctx_new();
    b->pull = zmq_socket(b->ctx, ZMQ_PULL);
    b->pub = zmq_socket(b->ctx, ZMQ_PUB);
    int zero = 0;
    zmq_setsockopt(b->pull, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(b->pub, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(b->pull, r->sensor_ep) || zmq_bind(b->pub, r->motor_ep))
        abort();
    wire_topic(1, b->topic);
}

static void fake_close(fake_brain *b)
{
    zmq_close(b->pull);
    zmq_close(b->pub);
    zmq_ctx_term(b->ctx);
}

static void fake_publish(fake_brain *b, const void *msg, size_t len, int extra_frame)
{
    zmq_send(b->pub, b->topic, sizeof b->topic, ZMQ_SNDMORE);
    zmq_send(b->pub, msg, len, extra_frame ? ZMQ_SNDMORE : 0);
    if (extra_frame)
        zmq_send(b->pub, "x", 1, 0);
}

static size_t motor_msg(uint8_t *buf, size_t cap, uint8_t flags, uint32_t count, uint64_t seq,
                        const wire_header *answers, const float *values)
{
    wire_header h = {.version = WIRE_VERSION, .kind = WIRE_KIND_MOTORS, .flags = flags, .robot_id = 1,
                     .count = count, .seq = seq, .time_ns = (uint64_t)harness_now_ns(),
                     .answer_seq = answers ? answers->seq : 0, .answer_time_ns = answers ? answers->time_ns : 0};
    size_t len = 0;
    if (wire_encode(&h, values, buf, cap, &len) != WIRE_OK)
        abort();
    return len;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

TEST(sim_speaks_the_protocol_and_drops_bad_motor_frames)
{
    rig r;
    rig_init(&r);
    write_config(&r, "sim.yaml", 1, "lockstep", "  motor_timeout_ms: 10000\n  duration_s: 1\n");
    fake_brain b;
    fake_init(&b, &r);
    char *argv[] = {FB_SIM_BIN, "--config", "sim.yaml", "--trajectory", "traj.csv", "--json", NULL};
    pid_t sim = proc_spawn(argv, "summary.json", "sim.err");

    const char *reasons[] = {"version", "nonfinite", "length", "trailing", "frames", "magic"};
    int sent_bad[6] = {0};
    uint64_t expect_seq = 1, seq = 0;
    int answered = 0, status = -1;
    double end = harness_now_s() + PROC_HANG_GUARD_S;
    while (harness_now_s() < end) {
        pid_t w = waitpid(sim, &status, WNOHANG);
        if (w == sim)
            break;
        zmq_pollitem_t it = {.socket = b.pull, .events = ZMQ_POLLIN};
        uint8_t in[512], out[512];
        float zero[MOTORS] = {0};
        if (zmq_poll(&it, 1, 100) <= 0) {
            /* A lockstep brain with no sensors yet says link_lost every 100 ms. */
            fake_publish(&b, out, motor_msg(out, sizeof out, WIRE_FLAG_LINK_LOST, MOTORS, ++seq, NULL, zero), 0);
            continue;
        }
        int n = zmq_recv(b.pull, in, sizeof in, 0);
        /* The exact bytes of PROTOCOL.md: 48-byte header, 16 float32. */
        CHECK_EQ_INT(n, 48 + 4 * SENSORS);
        CHECK(memcmp(in, "FBRN", 4) == 0);
        CHECK_EQ_INT(in[4] | in[5] << 8, 1);
        CHECK_EQ_INT(in[6], 1);
        CHECK_EQ_INT(in[7], 0);
        CHECK_EQ_INT(get_u32(in + 8), 1);
        CHECK_EQ_INT(get_u32(in + 12), SENSORS);
        wire_header sh;
        float s[SENSORS];
        CHECK_EQ_INT(wire_decode(in, (size_t)n, WIRE_KIND_SENSORS, &sh, s, SENSORS), WIRE_OK);
        CHECK_EQ_INT(sh.seq, expect_seq);
        expect_seq++;
        CHECK(sh.answer_seq == 0 && sh.answer_time_ns == 0 && sh.time_ns > 0);
        for (int i = 0; i < SENSORS; i++)
            CHECK_MSG(s[i] >= -1.0f && s[i] <= 1.0f, "sensor %d = %g", i, s[i]);

        /* First a bad answer (it would be taken if it got through: its
         * values, 0.77, must never show up), then the good one. */
        int k = answered % 6;
        float bad[MOTORS] = {0.77f, 0.77f, 0.77f, 0.77f, 0.77f};
        size_t len = motor_msg(out, sizeof out, 0, MOTORS, ++seq, &sh, bad);
        int extra = 0;
        if (k == 0)
            out[4] = 2;                             /* version 2 */
        else if (k == 1)
            memcpy(out + 48 + 8, &(float){NAN}, 4); /* steering NaN */
        else if (k == 2)
            len = motor_msg(out, sizeof out, 0, 4, seq, &sh, bad); /* 4 motors, not 5 */
        else if (k == 3)
            out[len++] = 0;                         /* one byte too many */
        else if (k == 4)
            extra = 1;                              /* a third frame */
        else
            out[0] = 'X';                           /* not FBRN */
        fake_publish(&b, out, len, extra);
        sent_bad[k]++;
        /* Wheels past the range (clamped), the pan too. */
        float good[MOTORS] = {1.5f, 0.5f, 0.25f, -2.0f, 0.0f};
        fake_publish(&b, out, motor_msg(out, sizeof out, 0, MOTORS, ++seq, &sh, good), 0);
        answered++;
    }
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sim status %d", status);
    fake_close(&b);

    char *json = harness_read_file("summary.json");
    CHECK(json);
    /* duration 1 s at 50 Hz: exactly 50 ticks, each answered. */
    CHECK_EQ_INT(harness_json_num(json, "ticks"), 50);
    CHECK_EQ_INT(answered, 50);
    CHECK_EQ_INT(harness_json_num(json, "lockstep_timeouts"), 0);
    CHECK_EQ_INT(harness_json_num(json, "safety_stops"), 0);
    CHECK_EQ_INT(harness_json_num(json, "sensor_sent"), 50);
    CHECK_EQ_INT(harness_json_num(json, "motor_bad"), 50);
    for (int k = 0; k < 6; k++)
        CHECK_MSG(harness_json_num(json, reasons[k]) == sent_bad[k], "%s: %g counted, %d sent", reasons[k],
                  harness_json_num(json, reasons[k]), sent_bad[k]);
    CHECK_EQ_INT(harness_json_num(json, "robot"), 0); /* every reason is counted, this one too */
    CHECK_EQ_INT(harness_json_num(json, "motor_clamped"), 100);
    CHECK_EQ_INT(harness_json_num(json, "latency_samples"), 50);
    CHECK(harness_json_num(json, "latency_p50_us") > 0);
    CHECK(harness_json_num(json, "motor_received") >= 51); /* the answers and at least one link_lost */
    free(json);
    CHECK(harness_file_has("sim.err", "dropped"));
    /* the log lines add up to the counts (the last second's at the exit) */
    char *err = harness_read_file("sim.err");
    CHECK(err);
    int logged[6] = {0};
    for (const char *at = err; (at = strstr(at, "dropped ")) != NULL; at++) {
        unsigned long n = strtoul(at + 8, NULL, 10);
        const char *colon = strchr(at, '\n');
        for (int k = 0; k < 6; k++) {
            char tail[32];
            snprintf(tail, sizeof tail, ": %s\n", reasons[k]);
            const char *hit = strstr(at, tail);
            if (hit && (!colon || hit < colon))
                logged[k] += (int)n;
        }
    }
    free(err);
    for (int k = 0; k < 6; k++)
        CHECK_MSG(logged[k] == sent_bad[k], "%s: %d logged, %d sent", reasons[k], logged[k], sent_bad[k]);

    traj t;
    CHECK_EQ_INT(traj_read("traj.csv", &t), 0);
    CHECK_EQ_INT(t.n, 51); /* the start, then one row a tick */
    for (int i = 1; i < t.n; i++) {
        for (int j = 0; j < 13; j++)
            CHECK(isfinite(t.row[i][j]));
        /* Every tick ran on the good answer, clamped, never on a bad one. */
        CHECK_NEAR(t.row[i][T_CMD0 + 0], 1.0, 1e-6);
        CHECK_NEAR(t.row[i][T_CMD0 + 1], 0.5, 1e-6);
        CHECK_NEAR(t.row[i][T_CMD0 + 2], 0.25, 1e-6);
        CHECK_NEAR(t.row[i][T_CMD0 + 3], -1.0, 1e-6);
        CHECK_EQ_INT(t.row[i][T_HOLDING], 0);
    }
    /* Left wheel faster than the right: it drove and turned right. */
    CHECK(t.row[t.n - 1][T_SPEED] > 0.1);
    free(t.row);
    rig_clean(&r);
}

/* ---- a fleet: several rovers against a fake brain written here ---- */

/* One motor message for robot id, its topic first. */
static void fleet_publish(fake_brain *b, uint32_t topic_id, uint32_t robot_id, uint8_t flags, uint64_t seq,
                          const wire_header *answers, const float *values)
{
    uint8_t topic[WIRE_TOPIC_BYTES], out[512];
    wire_header h = {.version = WIRE_VERSION, .kind = WIRE_KIND_MOTORS, .flags = flags, .robot_id = robot_id,
                     .count = MOTORS, .seq = seq, .time_ns = (uint64_t)harness_now_ns(),
                     .answer_seq = answers ? answers->seq : 0, .answer_time_ns = answers ? answers->time_ns : 0};
    size_t len = 0;
    if (wire_encode(&h, values, out, sizeof out, &len) != WIRE_OK)
        abort();
    wire_topic(topic_id, topic);
    zmq_send(b->pub, topic, sizeof topic, ZMQ_SNDMORE);
    zmq_send(b->pub, out, len, 0);
}

/* The next sensor message within timeout_ms: 1 (decoded into *h), 0 none. */
static int fleet_recv(fake_brain *b, int timeout_ms, wire_header *h)
{
    zmq_pollitem_t it = {.socket = b->pull, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return 0;
    uint8_t in[512];
    float s[SENSORS];
    int n = zmq_recv(b->pull, in, sizeof in, 0);
    return n > 0 && wire_decode(in, (size_t)n, WIRE_KIND_SENSORS, h, s, SENSORS) == WIRE_OK;
}

/* The rover object of robot id in a fleet summary (its keys come after),
 * or NULL. */
static const char *rover_json(const char *json, uint32_t id)
{
    char key[48];
    snprintf(key, sizeof key, "{\"robot_id\": %u,", id);
    return json ? strstr(json, key) : NULL;
}

/* A rover's wheel command from the fake brain: its own, told apart by id. */
static float own_wheel(uint32_t id)
{
    return 0.05f * (float)id;
}

TEST(fleet_rovers_each_send_their_own_id_and_get_only_their_own_motors)
{
    rig r;
    rig_init(&r);
    /* Four robots in the list, three of them simulated here. */
    write_config(&r, "fleet.yaml", 1, "lockstep",
                 "  motor_timeout_ms: 10000\n  duration_s: 1\nrobots:\n  - id: 3\n  - id: 5\n  - id: 8\n"
                 "  - id: 13\n");
    fake_brain b;
    fake_init(&b, &r);
    char *argv[] = {FB_SIM_BIN, "--config", "fleet.yaml", "--robots", "8,3,5", "--trajectory", "run/traj.csv",
                    "--json", NULL};
    CHECK(mkdir("run", 0755) == 0);
    pid_t sim = proc_spawn(argv, "summary.json", "sim.err");

    const uint32_t ids[3] = {3, 5, 8};
    uint64_t next_seq[3] = {1, 1, 1}, seq = 0;
    int mismatched[3] = {0}, others = 0, status = -1;
    float zero[MOTORS] = {0}, wrong[MOTORS] = {0.77f, 0.77f, 0.77f, 0.77f, 0.77f};
    double end = harness_now_s() + PROC_HANG_GUARD_S;
    while (harness_now_s() < end) {
        if (waitpid(sim, &status, WNOHANG) == sim)
            break;
        wire_header sh;
        if (!fleet_recv(&b, 100, &sh)) {
            /* A lockstep brain says link_lost every 100 ms to each robot
             * with no sensors yet: here to every robot of the list. */
            for (int i = 0; i < 3; i++)
                fleet_publish(&b, ids[i], ids[i], WIRE_FLAG_LINK_LOST, ++seq, NULL, zero);
            fleet_publish(&b, 13, 13, WIRE_FLAG_LINK_LOST, ++seq, NULL, zero);
            continue;
        }
        int k = sh.robot_id == 3 ? 0 : sh.robot_id == 5 ? 1 : sh.robot_id == 8 ? 2 : -1;
        if (k < 0) {
            others++;
            continue;
        }
        /* Each rover's own sequence, in order, none lost. */
        CHECK_MSG(sh.seq == next_seq[k], "robot %u: seq %llu, want %llu", sh.robot_id,
                  (unsigned long long)sh.seq, (unsigned long long)next_seq[k]);
        next_seq[k]++;
        /* Around its answer: motors for robot 13 (not simulated here) and
         * for the next rover on its topic; and on its own topic a message
         * that says it is for another robot (dropped: reason robot). None
         * may move it. */
        fleet_publish(&b, 13, 13, 0, ++seq, &sh, wrong);
        fleet_publish(&b, sh.robot_id, ids[(k + 1) % 3], 0, ++seq, &sh, wrong);
        mismatched[k]++;
        float own[MOTORS] = {own_wheel(sh.robot_id), own_wheel(sh.robot_id), 0, 0, 0};
        fleet_publish(&b, sh.robot_id, sh.robot_id, 0, ++seq, &sh, own);
        fleet_publish(&b, ids[(k + 1) % 3], 13, 0, ++seq, &sh, wrong);
        mismatched[(k + 1) % 3]++;
    }
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sim status %d", status);
    fake_close(&b);
    CHECK_EQ_INT(others, 0); /* robot 13 is not simulated: it never spoke */
    for (int k = 0; k < 3; k++)
        CHECK_MSG(next_seq[k] == 51, "robot %u sent %llu sensor messages", ids[k],
                  (unsigned long long)(next_seq[k] - 1));

    char *json = harness_read_file("summary.json");
    CHECK(json);
    CHECK_EQ_INT(harness_json_num(json, "robots"), 3);
    CHECK(strstr(json, "\"rovers\": [{\"robot_id\": 3,"));
    for (int k = 0; k < 3; k++) {
        const char *o = rover_json(json, ids[k]);
        CHECK_MSG(o, "no rover %u in the summary", ids[k]);
        CHECK_EQ_INT(harness_json_num(o, "ticks"), 50);
        CHECK_EQ_INT(harness_json_num(o, "lockstep_timeouts"), 0);
        CHECK_EQ_INT(harness_json_num(o, "sensor_sent"), 50);
        /* Dropped as for another robot: the one before each answer on its
         * topic, and those after another rover's answers that came before
         * it ended (it may run ahead of the others). */
        double bad = harness_json_num(o, "motor_bad");
        CHECK_MSG(bad >= 50 && bad <= mismatched[k], "robot %u: %g bad of %d", ids[k], bad, mismatched[k]);
        CHECK_EQ_INT(harness_json_num(o, "robot"), bad);
        CHECK_EQ_INT(harness_json_num(o, "latency_samples"), 50);
    }
    free(json);

    /* A trajectory per rover, "-ID" before the extension; each drove with
     * its own motors alone, from its own start: the model's for the first
     * of the list, the others turned about the centre by 90 degrees each
     * (four robots in the list). */
    CHECK(access("run/traj.csv", F_OK) != 0 && access("run/traj-13.csv", F_OK) != 0);
    const double start[3][2] = {{0.9, 0.0}, {0.0, 0.9}, {-0.9, 0.0}};
    for (int k = 0; k < 3; k++) {
        char path[64];
        snprintf(path, sizeof path, "run/traj-%u.csv", ids[k]);
        traj t;
        CHECK_EQ_INT(traj_read(path, &t), 0);
        CHECK_EQ_INT(t.n, 51);
        CHECK_NEAR(t.row[0][T_X], start[k][0], 1e-6);
        CHECK_NEAR(t.row[0][T_Y], start[k][1], 1e-6);
        for (int i = 1; i < t.n; i++) {
            CHECK_NEAR(t.row[i][T_CMD0 + 0], own_wheel(ids[k]), 1e-6);
            CHECK_NEAR(t.row[i][T_CMD0 + 1], own_wheel(ids[k]), 1e-6);
            CHECK_EQ_INT(t.row[i][T_HOLDING], 0);
        }
        free(t.row);
    }
    rig_clean(&r);
}

TEST(fleet_lockstep_a_rover_whose_answers_stop_holds_up_no_other)
{
    rig r;
    rig_init(&r);
    /* 2 s at 50 Hz: 100 ticks. A tick without an answer waits 300 ms, so
     * a rover held up by robot 2 would need half a minute. */
    write_config(&r, "fleet.yaml", 1, "lockstep",
                 "  motor_timeout_ms: 300\n  duration_s: 2\nrobots:\n  - id: 1\n  - id: 2\n  - id: 3\n");
    fake_brain b;
    fake_init(&b, &r);
    char *argv[] = {FB_SIM_BIN, "--config", "fleet.yaml", "--json", NULL};
    pid_t sim = proc_spawn(argv, "summary.json", "sim.err");

    uint64_t answered[4] = {0}, seq = 0;
    float zero[MOTORS] = {0}, drive[MOTORS] = {0.3f, 0.3f, 0, 0, 0};
    double end = harness_now_s() + PROC_HANG_GUARD_S;
    while (harness_now_s() < end && (answered[1] < 100 || answered[3] < 100)) {
        wire_header sh;
        if (!fleet_recv(&b, 100, &sh)) {
            for (uint32_t id = 1; id <= 3; id++)
                if (answered[id] == 0)
                    fleet_publish(&b, id, id, WIRE_FLAG_LINK_LOST, ++seq, NULL, zero);
            continue;
        }
        if (sh.robot_id < 1 || sh.robot_id > 3 || (sh.robot_id == 2 && answered[2] == 10))
            continue; /* robot 2's brain goes quiet after ten answers */
        fleet_publish(&b, sh.robot_id, sh.robot_id, 0, ++seq, &sh, drive);
        answered[sh.robot_id]++;
    }
    CHECK(answered[1] == 100 && answered[3] == 100);
    CHECK(wait_for_text("sim.err", "robot 2: safety stop"));
    harness_sleep_s(0.2); /* rovers 1 and 3 take their last step and end */
    double t0 = harness_now_s();
    CHECK_EQ_INT(proc_stop(sim, SIGTERM), 0); /* robot 2 is still waiting: SIGTERM must end its wait */
    CHECK_MSG(harness_now_s() - t0 < 1.0, "SIGTERM took %.2f s", harness_now_s() - t0);
    fake_close(&b);

    char *json = harness_read_file("summary.json");
    CHECK(json);
    for (uint32_t id = 1; id <= 3; id += 2) {
        const char *o = rover_json(json, id);
        CHECK(o);
        CHECK_EQ_INT(harness_json_num(o, "ticks"), 100);
        CHECK_EQ_INT(harness_json_num(o, "lockstep_timeouts"), 0);
        CHECK_EQ_INT(harness_json_num(o, "safety_stops"), 0);
    }
    const char *o = rover_json(json, 2);
    CHECK(o);
    double ticks = harness_json_num(o, "ticks");
    CHECK_MSG(ticks >= 10 && ticks < 50, "robot 2: %g ticks", ticks);
    CHECK(harness_json_num(o, "lockstep_timeouts") >= 1);
    CHECK_EQ_INT(harness_json_num(o, "safety_stops"), 1);
    free(json);
    rig_clean(&r);
}

TEST(fleet_realtime_every_rover_sends_at_the_sensor_rate)
{
    rig r;
    rig_init(&r);
    write_config(&r, "fleet.yaml", 1, "realtime",
                 "  motor_timeout_ms: 1000\n  duration_s: 1\nrobots:\n  - id: 4\n  - id: 9\n");
    fake_brain b;
    fake_init(&b, &r);
    char *argv[] = {FB_SIM_BIN, "--config", "fleet.yaml", "--summary", "summary.json", NULL};
    pid_t sim = proc_spawn(argv, "summary.txt", "sim.err");
    uint64_t got[2] = {0}, seq = 0;
    int status = -1;
    float drive[MOTORS] = {0.2f, 0.2f, 0, 0, 0};
    double end = harness_now_s() + PROC_HANG_GUARD_S;
    while (harness_now_s() < end) {
        if (waitpid(sim, &status, WNOHANG) == sim)
            break;
        wire_header sh;
        if (!fleet_recv(&b, 50, &sh))
            continue;
        CHECK(sh.robot_id == 4 || sh.robot_id == 9);
        got[sh.robot_id == 9]++;
        fleet_publish(&b, sh.robot_id, sh.robot_id, 0, ++seq, &sh, drive);
    }
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sim status %d", status);
    fake_close(&b);
    char *json = harness_read_file("summary.json");
    CHECK(json);
    CHECK(strstr(json, "\"mode\": \"realtime\", \"robots\": 2,"));
    const uint32_t ids[2] = {4, 9};
    for (int k = 0; k < 2; k++) {
        const char *o = rover_json(json, ids[k]);
        CHECK(o);
        /* 1 s at 50 Hz, each rover on its own clock: 50 ticks, each one
         * sensor message (a few unsent before the connection is up). */
        CHECK_EQ_INT(harness_json_num(o, "ticks"), 50);
        CHECK_EQ_INT(harness_json_num(o, "sensor_sent") + harness_json_num(o, "sensor_unsent"), 50);
        CHECK_MSG(got[k] >= 40 && (double)got[k] <= harness_json_num(o, "sensor_sent"),
                  "robot %u: %llu sensor messages came", ids[k], (unsigned long long)got[k]);
        CHECK(harness_json_num(o, "motor_received") > 0);
        CHECK_EQ_INT(harness_json_num(o, "motor_bad"), 0);
    }
    free(json);
    /* The text summary: a block per rover, each naming its robot. */
    CHECK(harness_file_has("summary.txt", "fieldbrain-sim summary (realtime), robot 4"));
    CHECK(harness_file_has("summary.txt", "fieldbrain-sim summary (realtime), robot 9"));
    rig_clean(&r);
}

/* ---- against the real brain ---- */

/* One lockstep run of brain and sim; the trajectory goes to traj_path. */
static int lockstep_run(const rig *r, unsigned seed, const char *model, const char *traj_path, char **json)
{
    char cfg[64];
    snprintf(cfg, sizeof cfg, "run-%u.yaml", seed);
    write_config(r, cfg, seed, "lockstep", "  motor_timeout_ms: 10000\n  duration_s: 6\n  model: \"%s\"\n", model);
    pid_t brain = start_brain(cfg, "brain.err");
    char *argv[] = {FB_SIM_BIN, "--config", cfg, "--trajectory", (char *)traj_path, "--summary", "summary.json", NULL};
    pid_t sim = proc_spawn(argv, NULL, "sim.err");
    int sim_status = proc_wait(sim);
    int brain_status = proc_stop(brain, SIGTERM);
    *json = harness_read_file("summary.json");
    return sim_status == 0 && brain_status == 0 ? 0 : -1;
}

static int same_file(const char *a, const char *b)
{
    char *x = harness_read_file(a), *y = harness_read_file(b);
    int same = x && y && strcmp(x, y) == 0;
    free(x);
    free(y);
    return same;
}

TEST(lockstep_with_the_brain_is_clean_and_the_same_seed_repeats_exactly)
{
    rig r;
    rig_init(&r);
    char *json = NULL;
    CHECK_EQ_INT(lockstep_run(&r, 1, "", "a.csv", &json), 0);
    /* 6 s at 50 Hz: 300 ticks, every one answered. */
    CHECK_EQ_INT(harness_json_num(json, "ticks"), 300);
    CHECK_EQ_INT(harness_json_num(json, "lockstep_timeouts"), 0);
    CHECK_EQ_INT(harness_json_num(json, "motor_bad"), 0);
    CHECK_EQ_INT(harness_json_num(json, "motor_refused"), 0);
    CHECK_EQ_INT(harness_json_num(json, "latency_samples"), 300);
    free(json);
    traj a;
    CHECK_EQ_INT(traj_read("a.csv", &a), 0);
    CHECK_EQ_INT(a.n, 301);
    double moved = 0;
    for (int i = 0; i < a.n; i++) {
        for (int j = 0; j < 13; j++)
            CHECK(isfinite(a.row[i][j]));
        for (int m = 0; m < MOTORS; m++) {
            CHECK(fabs(a.row[i][T_CMD0 + m]) <= 1.0);
            moved = fmax(moved, fabs(a.row[i][T_CMD0 + m]));
        }
    }
    CHECK_MSG(moved > 1e-3, "the brain never moved a motor (max |command| %g)", moved);
    free(a.row);

    /* The same seed: the very same trajectory, byte for byte. */
    CHECK_EQ_INT(lockstep_run(&r, 1, "", "b.csv", &json), 0);
    free(json);
    CHECK(same_file("a.csv", "b.csv"));
    /* Another seed: another brain, another drive. */
    CHECK_EQ_INT(lockstep_run(&r, 2, "", "c.csv", &json), 0);
    free(json);
    CHECK(!same_file("a.csv", "c.csv"));
    rig_clean(&r);
}

TEST(motors_respond_to_the_sensors)
{
    /* The same brain (seed) with the rover started elsewhere: other sensors
     * from the first tick, so other motors. The model is the bundled one
     * with the start pose moved, which also runs the --model path. */
    rig r;
    rig_init(&r);
    char *xml = harness_read_file(FB_ROVER_XML);
    CHECK(xml);
    const char *home_pose = "<body name=\"chassis\" pos=\"0.9 0 0.046\"";
    char *at = strstr(xml, home_pose);
    CHECK_MSG(at, "start pose not found in rover.xml");
    FILE *f = fopen("moved.xml", "w");
    fprintf(f, "%.*s<body name=\"chassis\" pos=\"-0.6 -0.55 0.046\"%s", (int)(at - xml), xml, at + strlen(home_pose));
    fclose(f);
    free(xml);

    char *json = NULL;
    CHECK_EQ_INT(lockstep_run(&r, 1, "", "home.csv", &json), 0);
    free(json);
    CHECK_EQ_INT(lockstep_run(&r, 1, "moved.xml", "moved.csv", &json), 0);
    free(json);
    traj home, moved;
    CHECK_EQ_INT(traj_read("home.csv", &home), 0);
    CHECK_EQ_INT(traj_read("moved.csv", &moved), 0);
    CHECK_EQ_INT(home.n, moved.n);
    CHECK_NEAR(moved.row[0][T_X], -0.6, 1e-6);
    int differ = 0;
    for (int i = 1; i < home.n && !differ; i++)
        for (int m = 0; m < MOTORS; m++)
            differ |= home.row[i][T_CMD0 + m] != moved.row[i][T_CMD0 + m];
    CHECK_MSG(differ, "the same motors for other sensors");
    free(home.row);
    free(moved.row);
    rig_clean(&r);
}

TEST(fleet_lockstep_with_the_real_brain_drives_each_rover_as_its_brain_alone_would)
{
    /* One fieldbrain serving three robots, one fieldbrain-sim with three
     * rovers. The first robot of the list has brain.seed and the lone
     * rover's start, so its drive must be the lone run's, byte for byte
     * (a fleet's brain answers as a one-robot brain would). */
    rig r;
    rig_init(&r);
    write_config(&r, "fleet.yaml", 1, "lockstep",
                 "  motor_timeout_ms: 10000\n  duration_s: 6\nrobots:\n  - id: 1\n  - id: 2\n  - id: 3\n");
    pid_t brain = start_brain("fleet.yaml", "fleet-brain.err");
    char *argv[] = {FB_SIM_BIN, "--config", "fleet.yaml", "--trajectory", "fleet.csv", "--summary", "fleet.json",
                    NULL};
    int sim_status = proc_wait(proc_spawn(argv, NULL, "fleet-sim.err"));
    CHECK_EQ_INT(sim_status, 0);
    CHECK_EQ_INT(proc_stop(brain, SIGTERM), 0);
    char *json = harness_read_file("fleet.json");
    CHECK(json);
    for (uint32_t id = 1; id <= 3; id++) {
        const char *o = rover_json(json, id);
        CHECK_MSG(o, "no rover %u", id);
        CHECK_EQ_INT(harness_json_num(o, "ticks"), 300);
        CHECK_EQ_INT(harness_json_num(o, "lockstep_timeouts"), 0);
        CHECK_EQ_INT(harness_json_num(o, "motor_bad"), 0);
        CHECK_EQ_INT(harness_json_num(o, "latency_samples"), 300);
    }
    free(json);

    CHECK_EQ_INT(lockstep_run(&r, 1, "", "lone.csv", &json), 0);
    free(json);
    CHECK(same_file("fleet-1.csv", "lone.csv"));
    /* The others: their own seeds and starts, their own drives. */
    CHECK(!same_file("fleet-2.csv", "fleet-1.csv") && !same_file("fleet-3.csv", "fleet-2.csv"));
    rig_clean(&r);
}

TEST(safety_stop_when_the_brain_dies_and_driving_again_after_it_restarts)
{
    rig r;
    rig_init(&r);
    write_config(&r, "run.yaml", 1, "lockstep", "  motor_timeout_ms: 200\n  duration_s: 0\n");
    pid_t brain = start_brain("run.yaml", "brain1.err");
    char *argv[] = {FB_SIM_BIN, "--config", "run.yaml", "--trajectory", "traj.csv", "--json", NULL};
    pid_t sim = proc_spawn(argv, "summary.json", "sim.err");
    CHECK(wait_for_text("sim.err", "motor socket connected"));
    harness_sleep_s(1.0); /* let it drive a while */
    kill(brain, SIGKILL); /* a crash: no stop message, sockets just vanish */
    waitpid(brain, NULL, 0);
    CHECK(wait_for_text("sim.err", "safety stop"));
    harness_sleep_s(0.5);
    brain = start_brain("run.yaml", "brain2.err");
    CHECK(wait_for_text("sim.err", "driving again"));
    harness_sleep_s(0.5);
    CHECK_EQ_INT(proc_stop(sim, SIGINT), 0);
    CHECK_EQ_INT(proc_stop(brain, SIGTERM), 0);

    char *json = harness_read_file("summary.json");
    CHECK(json);
    CHECK(harness_json_num(json, "safety_stops") >= 1);
    CHECK(harness_json_num(json, "lockstep_timeouts") >= 1);
    CHECK(harness_json_num(json, "link_disconnects") >= 1);
    CHECK(harness_json_num(json, "link_connects") >= 4); /* two sockets, twice */
    CHECK_EQ_INT(harness_json_num(json, "motor_bad"), 0);
    free(json);

    /* The trajectory: driving, then held (wheels at zero), then driving. */
    traj t;
    CHECK_EQ_INT(traj_read("traj.csv", &t), 0);
    int phase = 0; /* 0 before driving, 1 driving, 2 held, 3 driving again */
    for (int i = 1; i < t.n; i++) {
        int holding = t.row[i][T_HOLDING] != 0;
        if (holding) {
            CHECK_NEAR(t.row[i][T_CMD0 + 0], 0.0, 1e-6);
            CHECK_NEAR(t.row[i][T_CMD0 + 1], 0.0, 1e-6);
        }
        if (phase == 0 && !holding)
            phase = 1;
        else if (phase == 1 && holding)
            phase = 2;
        else if (phase == 2 && !holding)
            phase = 3;
    }
    CHECK_EQ_INT(phase, 3);
    free(t.row);
    rig_clean(&r);
}

TEST(realtime_with_a_fixed_rate_brain)
{
    rig r;
    rig_init(&r);
    write_config(&r, "rt.yaml", 1, "realtime", "  motor_timeout_ms: 300\n  duration_s: 2\n");
    pid_t brain = start_brain("rt.yaml", "brain.err");
    char *argv[] = {FB_SIM_BIN, "--config", "rt.yaml", "--json", "--trajectory", "rt.csv", NULL};
    pid_t sim = proc_spawn(argv, "summary.json", "sim.err");
    CHECK_EQ_INT(proc_wait(sim), 0);
    CHECK_EQ_INT(proc_stop(brain, SIGTERM), 0);
    char *json = harness_read_file("summary.json");
    CHECK(json);
    /* Simulated time is the duration whatever the wall clock did. */
    CHECK_EQ_INT(harness_json_num(json, "ticks"), 100);
    CHECK_NEAR(harness_json_num(json, "sim_time_s"), 2.0, 1e-9);
    CHECK(harness_json_num(json, "sensor_sent") + harness_json_num(json, "sensor_unsent") == 100);
    CHECK(harness_json_num(json, "motor_received") > 0);
    CHECK(harness_json_num(json, "latency_samples") > 0);
    CHECK(harness_json_num(json, "latency_p99_us") >= harness_json_num(json, "latency_p50_us"));
    CHECK_EQ_INT(harness_json_num(json, "motor_bad"), 0);
    free(json);
    traj t;
    CHECK_EQ_INT(traj_read("rt.csv", &t), 0);
    CHECK_EQ_INT(t.n, 101);
    for (int i = 0; i < t.n; i++)
        for (int j = 0; j < 13; j++)
            CHECK(isfinite(t.row[i][j]));
    free(t.row);
    rig_clean(&r);
}

TEST(sigterm_ends_a_run_cleanly_with_the_summary)
{
    rig r;
    rig_init(&r);
    /* No brain at all: the sim runs, sends into the void, never drives. */
    write_config(&r, "alone.yaml", 1, "realtime", "  duration_s: 0\n");
    char *argv[] = {FB_SIM_BIN, "--config", "alone.yaml", "--json", "--summary", "copy.json", NULL};
    pid_t sim = proc_spawn(argv, "summary.json", "sim.err");
    CHECK(wait_for_text("sim.err", "realtime"));
    harness_sleep_s(0.5);
    CHECK_EQ_INT(proc_stop(sim, SIGTERM), 0);
    char *json = harness_read_file("summary.json");
    CHECK(json && json[0] == '{');
    CHECK(harness_json_num(json, "ticks") > 0);
    CHECK_EQ_INT(harness_json_num(json, "sensor_sent"), 0);
    CHECK(harness_json_num(json, "sensor_unsent") > 0);
    CHECK_EQ_INT(harness_json_num(json, "safety_stops"), 0); /* never driven, so never stopped */
    CHECK(same_file("summary.json", "copy.json"));
    free(json);
    rig_clean(&r);
}

TEST(bad_configs_and_options_are_clear_errors)
{
    rig r;
    rig_init(&r);
    write_config(&r, "ok.yaml", 1, "realtime", "  duration_s: 0.1\n");
    write_config(&r, "fleet.yaml", 1, "realtime", "  duration_s: 0.1\nrobots:\n  - id: 1\n  - id: 2\n");
    struct {
        char *args[8];
        const char *says;
    } cases[] = {
        {{FB_SIM_BIN, "--config", "ok.yaml", "--set", "sim.sensor_hz=0", NULL}, "sim.sensor_hz"},
        {{FB_SIM_BIN, "--config", "ok.yaml", "--set", "brain.sensors=8", NULL}, "brain.sensors"},
        {{FB_SIM_BIN, "--config", "ok.yaml", "--mode", "sideways", NULL}, "sim.mode"},
        {{FB_SIM_BIN, "--config", "ok.yaml", "--model", "missing.xml", NULL}, "missing.xml"},
        {{FB_SIM_BIN, "--config", "no-such.yaml", NULL}, "no-such.yaml"},
        {{FB_SIM_BIN, "--config", "ok.yaml", "--bogus", NULL}, "--bogus"},
        {{FB_SIM_BIN, "--config", "ok.yaml", "--robots", "1", NULL}, "no robots list"},
        {{FB_SIM_BIN, "--config", "fleet.yaml", "--robots", "2,7", NULL}, "robot 7 is not in"},
        {{FB_SIM_BIN, "--config", "fleet.yaml", "--robots", "2,2", NULL}, "robot 2 is given twice"},
        {{FB_SIM_BIN, "--config", "fleet.yaml", "--robots", "2,", NULL}, "--robots 2,"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unlink("err.txt");
        int status = proc_wait(proc_spawn(cases[i].args, NULL, "err.txt"));
        CHECK_MSG(status != 0 && status < 128, "case %zu exited %d", i, status);
        CHECK_MSG(harness_file_has("err.txt", cases[i].says), "case %zu does not name %s", i, cases[i].says);
    }
    /* And the good one runs to its duration. */
    char *ok[] = {FB_SIM_BIN, "--config", "ok.yaml", NULL};
    CHECK_EQ_INT(proc_wait(proc_spawn(ok, "out.txt", NULL)), 0);
    CHECK(harness_file_has("out.txt", "ticks"));
    rig_clean(&r);
}
