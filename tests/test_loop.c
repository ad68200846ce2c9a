/* test_loop.c: the control loop of the real fieldbrain program, driven over
 * real sockets on 127.0.0.1 by a robot written here with libzmq: lockstep
 * motors equal a brain stepped directly, the fixed rate holds, SIGTERM
 * stops cleanly with a checkpoint that --resume continues exactly, autosave,
 * and the --summary file agrees with what the robot sent.
 */
#include "harness.h"
#include "proc.h"
#include "brain.h"
#include "config.h"
#include "json.h"
#include "wire.h"

#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define SENSORS 16
#define MOTORS 5

typedef struct {
    char dir[256];
    char cfg_path[300], err_path[300], ckpt[300];
    char summary[300];  /* --summary FILE when not empty */
    char sensor_ep[64], motor_ep[64];
    char yaml[2048];
    pid_t pid;
    void *ctx, *push, *sub;
} rig;

/* Writes the config (a small CPU field, one thread, so a direct brain
 * computes the very same numbers) with `extra` appended. */
static void rig_init(rig *r, const char *mode, double rate_hz, const char *extra)
{
    memset(r, 0, sizeof *r);
    if (harness_temp_dir("loop", r->dir, sizeof r->dir) < 0)
        abort();
    snprintf(r->cfg_path, sizeof r->cfg_path, "%s/brain.yaml", r->dir);
    snprintf(r->err_path, sizeof r->err_path, "%s/stderr", r->dir);
    snprintf(r->ckpt, sizeof r->ckpt, "%s/ckpt", r->dir);
    proc_free_endpoint(r->sensor_ep, sizeof r->sensor_ep);
    proc_free_endpoint(r->motor_ep, sizeof r->motor_ep);
    snprintf(r->yaml, sizeof r->yaml,
             "brain:\n  size: 8\n  channels: 16\n  sensors: %d\n  motors: %d\n  backend: cpu\n  threads: 1\n"
             "loop:\n  mode: %s\n  rate_hz: %g\n  stats_window: 100\n"
             "link:\n  sensor_endpoint: \"%s\"\n  motor_endpoint: \"%s\"\n"
             "telemetry:\n  enabled: false\ncontrol:\n  enabled: false\n%s",
             SENSORS, MOTORS, mode, rate_hz, r->sensor_ep, r->motor_ep, extra);
    FILE *f = fopen(r->cfg_path, "w");
    fputs(r->yaml, f);
    fclose(f);
}

/* Appends a section to the config file. */
__attribute__((format(printf, 2, 3))) static void rig_append(rig *r, const char *fmt, ...)
{
    size_t n = strlen(r->yaml);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->yaml + n, sizeof r->yaml - n, fmt, ap);
    va_end(ap);
    FILE *f = fopen(r->cfg_path, "w");
    fputs(r->yaml, f);
    fclose(f);
}

/* Starts the program (stderr appended to the rig's file) and connects. */
static void rig_start(rig *r, const char *resume)
{
    char *argv[8] = {FB_FIELDBRAIN, "run", "--config", r->cfg_path};
    int n = 4;
    if (resume) {
        argv[n++] = "--resume";
        argv[n++] = (char *)resume;
    }
    if (r->summary[0]) {
        argv[n++] = "--summary";
        argv[n++] = r->summary;
    }
    r->pid = proc_spawn(argv, NULL, r->err_path);
    r->ctx = zmq_ctx_new();
    r->push = zmq_socket(r->ctx, ZMQ_PUSH);
    r->sub = zmq_socket(r->ctx, ZMQ_SUB);
    int zero = 0;
    uint8_t topic[WIRE_TOPIC_BYTES];
    wire_topic(1, topic);
    zmq_setsockopt(r->push, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(r->sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(r->sub, ZMQ_SUBSCRIBE, topic, sizeof topic);
    zmq_connect(r->push, r->sensor_ep);
    zmq_connect(r->sub, r->motor_ep);
}

/* The next motor message within timeout_ms: 1, or 0 on timeout. */
static int rig_recv(rig *r, int timeout_ms, wire_header *h, float *motors)
{
    zmq_pollitem_t it = {.socket = r->sub, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return 0;
    uint8_t buf[1024];
    zmq_recv(r->sub, buf, sizeof buf, 0);
    int n = zmq_recv(r->sub, buf, sizeof buf, 0);
    return n > 0 && wire_decode(buf, (size_t)n, WIRE_KIND_MOTORS, h, motors, MOTORS) == 0;
}

/* Sends one sensor vector and waits for the motors that answer it. */
static int rig_exchange(rig *r, uint64_t seq, const float *s, wire_header *h, float *motors)
{
    uint8_t buf[WIRE_HEADER_BYTES + 4 * SENSORS];
    wire_header sh = {.version = WIRE_VERSION, .kind = WIRE_KIND_SENSORS, .robot_id = 1,
                      .count = SENSORS, .seq = seq, .time_ns = (uint64_t)harness_now_ns()};
    size_t len;
    wire_encode(&sh, s, buf, sizeof buf, &len);
    zmq_send(r->push, buf, len, 0);
    int64_t deadline = harness_now_ns() + 10000000000LL;
    while (harness_now_ns() < deadline)
        if (rig_recv(r, 100, h, motors) && h->answer_seq == seq)
            return 1;
    return 0;
}

/* SIGTERM and the exit status (-1 if it hung). */
static int rig_stop(rig *r)
{
    return proc_stop(r->pid, SIGTERM);
}

/* Removes the rig's directory (config, stderr, checkpoints). */
static void rig_clean(rig *r)
{
    harness_remove_tree(r->dir);
}

static void rig_close(rig *r)
{
    zmq_close(r->push);
    zmq_close(r->sub);
    zmq_ctx_term(r->ctx);
    r->ctx = NULL;
}

/* The program's stderr has needle; the test's output shows it either way. */
static int stderr_has(const rig *r, const char *needle)
{
    char *text = harness_read_file(r->err_path);
    if (text)
        fputs(text, stderr);
    int has = text && strstr(text, needle) != NULL;
    free(text);
    return has;
}

static void sensor_vector(int i, float *s)
{
    for (int k = 0; k < SENSORS; k++)
        s[k] = sinf(0.37f * (float)i + (float)k);
}

/* A brain made from the rig's own config, as the program makes it. */
static brain *direct_brain(const rig *r)
{
    static config c;
    char err[512];
    if (config_load_string(r->yaml, "test", &c, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    brain *b = NULL;
    if (brain_create(&c.brain, &b, err, sizeof err) < 0)
        fprintf(stderr, "%s\n", err);
    return b;
}

/* The keys --summary documents (fieldbrain --help, README.md). */
static const char *const summary_keys[] = {
    "cycles", "overruns", "skipped_ticks", "received", "skipped", "published", "brain_errors",
    "bad", "bad_by_reason", "lateness_p50_ns", "lateness_p99_ns", "lateness_max_ns",
    "work_p50_ns", "work_p99_ns", "work_max_ns", "device", "device_reason", "backend", "mode",
    "rate_hz_target",
};

/* The --summary file of a clean lockstep run that exchanged `sent` vectors
 * (after the first heartbeat): one JSON object with every key, numbers that
 * agree with the run and with the summary line on stderr. */
static void check_summary(const rig *r, int sent, int *harness_failed_)
{
    static json_node n[256];
    static char text[8192];
    char *file = harness_read_file(r->summary);
    CHECK_MSG(file, "no %s", r->summary);
    snprintf(text, sizeof text, "%s", file);
    free(file);
    fprintf(stderr, "%s", text);
    CHECK(json_parse(text, strlen(text), n, 256) > 0 && n[0].type == JSON_OBJ);
    for (size_t k = 0; k < sizeof summary_keys / sizeof summary_keys[0]; k++)
        CHECK_MSG(json_get(n, 0, summary_keys[k]) >= 0, "no key %s", summary_keys[k]);
    /* Every answer, the heartbeats before the first vector, the stop. */
    double cycles = json_num(n, 0, "cycles", -1);
    CHECK_EQ_INT(json_num(n, 0, "received", -1), sent);
    CHECK(cycles >= sent + 2);
    CHECK_EQ_INT(json_num(n, 0, "published", -1), cycles);
    CHECK_EQ_INT(json_num(n, 0, "skipped", -1), 0);
    CHECK_EQ_INT(json_num(n, 0, "bad", -1), 0);
    CHECK_EQ_INT(json_num(n, 0, "brain_errors", -1), 0);
    CHECK_EQ_INT(json_num(n, 0, "overruns", -1), 0);
    CHECK_EQ_INT(json_num(n, 0, "skipped_ticks", -1), 0);
    int by = json_get(n, 0, "bad_by_reason");
    CHECK_EQ_INT(json_count(n, by), WIRE_BAD_REASONS);
    for (int k = 0; k < WIRE_BAD_REASONS; k++)
        CHECK_EQ_INT(json_num(n, by, wire_bad_name(k), -1), 0);
    /* Lockstep: no wake-up lateness; a cycle's work takes some time. */
    CHECK_EQ_INT(json_num(n, 0, "lateness_max_ns", -1), 0);
    double p50 = json_num(n, 0, "work_p50_ns", -1), p99 = json_num(n, 0, "work_p99_ns", -1),
           max = json_num(n, 0, "work_max_ns", -1);
    CHECK(p50 > 0 && p50 <= p99 && p99 <= max);
    char str[256];
    json_str(n, 0, "backend", str, sizeof str);
    CHECK(strcmp(str, "cpu") == 0);
    json_str(n, 0, "device", str, sizeof str);
    CHECK(strncmp(str, "cpu", 3) == 0);
    json_str(n, 0, "mode", str, sizeof str);
    CHECK(strcmp(str, "lockstep") == 0);
    CHECK_EQ_INT(json_num(n, 0, "rate_hz_target", -1), 0);
    /* The very numbers of the line on stderr. */
    char line[160];
    snprintf(line, sizeof line, "cycles=%.0f overruns=0 skipped_ticks=0 received=%d skipped=0 published=%.0f ",
             cycles, sent, cycles);
    CHECK_MSG(harness_file_has(r->err_path, line), "stderr lacks '%s'", line);
    CHECK_EQ_INT(json_num(n, 0, "peers_cut", -1), 0);
    snprintf(line, sizeof line, "work_ns p50=%.0f p99=%.0f max=%.0f peers_cut=0 peers_refused=0\n", p50, p99, max);
    CHECK_MSG(harness_file_has(r->err_path, line), "stderr lacks '%s'", line);
}

TEST(lockstep_motors_equal_direct_brain)
{
    rig r;
    rig_init(&r, "lockstep", 100, "");
    snprintf(r.summary, sizeof r.summary, "%s/summary.json", r.dir);
    rig_start(&r, NULL);
    brain *b = direct_brain(&r);
    CHECK(b);
    wire_header h;
    float got[MOTORS], want[MOTORS], s[SENSORS];
    CHECK(rig_recv(&r, 5000, &h, got));  /* the link_lost heartbeat: subscribed */
    CHECK(h.flags & WIRE_FLAG_LINK_LOST);
    for (int i = 1; i <= 40; i++) {
        sensor_vector(i, s);
        CHECK_MSG(rig_exchange(&r, (uint64_t)i, s, &h, got), "no answer to %d", i);
        CHECK_EQ_INT(brain_step(b, s, SENSORS, want, NULL), 0);
        CHECK_EQ_INT(h.flags, 0);
        for (int j = 0; j < MOTORS; j++)
            CHECK_MSG(got[j] == want[j], "cycle %d motor %d: %.9g vs %.9g", i, j, got[j], want[j]);
    }
    brain_destroy(&b);
    rig_close(&r);
    CHECK_EQ_INT(rig_stop(&r), 0);
    CHECK(stderr_has(&r, "received=40 "));
    check_summary(&r, 40, harness_failed_);
    rig_clean(&r);
}

/* The program's fixed-rate loop publishes one motor message a cycle, numbered
 * without gaps, stamped in order. How many cycles a second is the clock's
 * business: test_loop_clock.c counts them exactly on a clock of its own, so
 * nothing here depends on how busy the machine is. */
TEST(fixed_rate_program_publishes_every_cycle_in_order)
{
    rig r;
    rig_init(&r, "fixed_rate", 200, "");
    rig_start(&r, NULL);
    wire_header h, prev = {0};
    float m[MOTORS];
    CHECK(rig_recv(&r, 5000, &prev, m));
    for (int i = 0; i < 100; i++) {
        CHECK_MSG(rig_recv(&r, 5000, &h, m), "no motor message after seq %llu", (unsigned long long)prev.seq);
        CHECK_EQ_INT(h.seq, prev.seq + 1);
        CHECK(h.time_ns > prev.time_ns);
        CHECK(h.flags & WIRE_FLAG_LINK_LOST); /* no robot: lost from the first cycle */
        prev = h;
    }
    rig_close(&r);
    CHECK_EQ_INT(rig_stop(&r), 0);
    rig_clean(&r);
}

TEST(sigterm_stops_cleanly_and_resume_continues_exactly)
{
    rig r;
    rig_init(&r, "lockstep", 100, "");
    rig_append(&r, "checkpoint:\n  path: \"%s\"\n  on_exit: true\n", r.ckpt);

    brain *ref = direct_brain(&r);
    CHECK(ref);
    rig_start(&r, NULL);
    wire_header h;
    float got[MOTORS], want[MOTORS], s[SENSORS];
    CHECK(rig_recv(&r, 5000, &h, got));
    for (int i = 1; i <= 25; i++) {
        sensor_vector(i, s);
        CHECK(rig_exchange(&r, (uint64_t)i, s, &h, got));
        CHECK_EQ_INT(brain_step(ref, s, SENSORS, want, NULL), 0);
    }
    kill(r.pid, SIGTERM);
    int stopped = 0;
    while (!stopped && rig_recv(&r, 5000, &h, got))
        if (h.flags & WIRE_FLAG_STOP) {
            stopped = 1;
            for (int j = 0; j < MOTORS; j++)
                CHECK(got[j] == 0.0f);
        }
    CHECK_MSG(stopped, "no stop message");
    CHECK_EQ_INT(rig_stop(&r), 0);
    rig_close(&r);
    CHECK(stderr_has(&r, "checkpoint written"));

    /* The checkpoint loads into a brain of its own shape, at cycle 25. */
    brain_params p;
    char err[512];
    brain_params_default(&p);
    p.backend = BRAIN_BACKEND_CPU;
    p.threads = 1;
    const char *ckpt = r.ckpt;
    CHECK_MSG(brain_checkpoint_params(ckpt, &p, err, sizeof err) == 0, "%s", err);
    brain *b = NULL;
    CHECK_MSG(brain_create(&p, &b, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(brain_load(b, ckpt, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(brain_get_cycle(b), 25);
    brain_destroy(&b);

    /* --resume continues exactly where the first run stopped. */
    rig_start(&r, ckpt);
    CHECK(rig_recv(&r, 5000, &h, got));
    for (int i = 26; i <= 40; i++) {
        sensor_vector(i, s);
        CHECK(rig_exchange(&r, (uint64_t)i, s, &h, got));
        CHECK_EQ_INT(brain_step(ref, s, SENSORS, want, NULL), 0);
        for (int j = 0; j < MOTORS; j++)
            CHECK_MSG(got[j] == want[j], "cycle %d motor %d: %.9g vs %.9g", i, j, got[j], want[j]);
    }
    rig_close(&r);
    CHECK_EQ_INT(rig_stop(&r), 0);
    CHECK(stderr_has(&r, "resumed"));
    brain_destroy(&ref);
    rig_clean(&r);
}

TEST(autosave_writes_loadable_checkpoints_while_running)
{
    rig r;
    rig_init(&r, "fixed_rate", 100, "");
    rig_append(&r, "checkpoint:\n  path: \"%s/auto\"\n  every_s: 0.2\n  on_exit: false\n", r.dir);
    rig_start(&r, NULL);
    char side[320];
    snprintf(side, sizeof side, "%s/auto.json", r.dir);
    struct stat st;
    int64_t deadline = harness_now_ns() + 20000000000LL;
    while (stat(side, &st) != 0 && harness_now_ns() < deadline)
        usleep(20000);
    CHECK_MSG(stat(side, &st) == 0, "no autosave at %s", side);
    /* The loop ran on meanwhile: motors keep coming. */
    wire_header h;
    float m[MOTORS];
    CHECK(rig_recv(&r, 2000, &h, m));
    uint64_t seq0 = h.seq;
    CHECK(rig_recv(&r, 2000, &h, m));
    CHECK(h.seq > seq0);
    usleep(500000);
    rig_close(&r);
    CHECK_EQ_INT(rig_stop(&r), 0);
    CHECK(stderr_has(&r, "event checkpoint_written"));
    brain *b = direct_brain(&r);
    char err[512], path[320];
    snprintf(path, sizeof path, "%s/auto", r.dir);
    CHECK(b);
    CHECK_MSG(brain_load(b, path, err, sizeof err) == 0, "%s", err);
    CHECK(brain_get_cycle(b) > 0);
    brain_destroy(&b);
    rig_clean(&r);
}
