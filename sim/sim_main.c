/* sim_main.c: fieldbrain-sim, the bundled MuJoCo rover as a robot client of
 * a fieldbrain brain (io/PROTOCOL.md): realtime or lockstep, robot-side
 * safety stop, reconnects, a trajectory CSV, and a summary (text or JSON)
 * on exit, SIGINT or SIGTERM included. With a robots list in the config it
 * runs one rover per robot, each in its own world and on its own thread,
 * so a rover that waits for its brain never holds up another.
 */
#include "config.h"
#include "fail.h"
#include "sim.h"
#include "sim_link.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* The one piece of global state: what the signal handler sets. Atomic, as
 * the rovers' threads read it; lock-free, so a handler may write it. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the stop flag must be lock-free");
static atomic_int g_stop;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&g_stop, 1);
}

/* SIGUSR1 only wakes a rover's thread out of its wait (EINTR), so that it
 * sees g_stop; main sends it once g_stop is set. */
static void on_wake(int sig)
{
    (void)sig;
}

#define MAX_VALUES 64
#define TRAJ_ROWS 1024

/* End-to-end latency, log-binned (32 bins per octave: within 3 %), so a run
 * of any length keeps percentiles in fixed memory. */
#define LAT_SUB 32
#define LAT_BINS (64 * LAT_SUB)
typedef struct {
    uint64_t n;
    uint32_t bin[LAT_BINS];
} latency_hist;

static int lat_index(uint64_t v)
{
    if (v < LAT_SUB)
        return (int)v;
    int e = 63 - __builtin_clzll(v); /* v >= 32: e >= 5 */
    return (e - 4) * LAT_SUB + (int)((v >> (e - 5)) & (LAT_SUB - 1));
}

static double lat_value(int i)
{
    if (i < LAT_SUB)
        return i;
    int e = i / LAT_SUB + 4, sub = i % LAT_SUB;
    double lo = ldexp(1.0, e) + (double)sub * ldexp(1.0, e - 5);
    return lo + 0.5 * ldexp(1.0, e - 5);
}

static void lat_add(latency_hist *h, uint64_t ns)
{
    h->bin[lat_index(ns)]++;
    h->n++;
}

static double lat_percentile(const latency_hist *h, double p)
{
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)ceil(p * (double)h->n), seen = 0;
    if (want == 0)
        want = 1;
    for (int i = 0; i < LAT_BINS; i++) {
        seen += h->bin[i];
        if (seen >= want)
            return lat_value(i);
    }
    return lat_value(LAT_BINS - 1);
}

/* One row of the trajectory CSV; rows are kept and written in batches so a
 * tick does no formatting or file I/O of its own. */
typedef struct {
    double t, x, y, yaw, speed;
    float cmd[SIM_MOTORS];
    float bump[2];
    int holding;
} traj_row;

typedef struct {
    FILE *f;
    int n;
    traj_row rows[TRAJ_ROWS];
} trajectory;

static void traj_flush(trajectory *tr)
{
    for (int i = 0; i < tr->n; i++) {
        const traj_row *r = &tr->rows[i];
        fprintf(tr->f, "%.4f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.4f,%.4f,%d\n", r->t, r->x, r->y,
                r->yaw, r->speed, r->cmd[0], r->cmd[1], r->cmd[2], r->cmd[3], r->cmd[4], r->bump[0], r->bump[1],
                r->holding);
    }
    tr->n = 0;
}

static void traj_add(trajectory *tr, const sim_world *w, int holding)
{
    if (!tr || !tr->f)
        return;
    traj_row *r = &tr->rows[tr->n];
    sim_pose p;
    float s[SIM_SENSORS];
    sim_world_pose(w, &p);
    sim_world_motors(w, r->cmd);
    sim_world_sensors(w, s);
    r->t = p.time_s;
    r->x = p.x;
    r->y = p.y;
    r->yaw = p.yaw;
    r->speed = p.speed;
    r->bump[0] = s[SIM_SENSOR_BUMP_FRONT];
    r->bump[1] = s[SIM_SENSOR_BUMP_REAR];
    r->holding = holding;
    if (++tr->n == TRAJ_ROWS)
        traj_flush(tr);
}

static double sim_time(const sim_world *w)
{
    sim_pose p;
    sim_world_pose(w, &p);
    return p.time_s;
}

typedef struct {
    const config *cfg;
    uint32_t robot_id;
    char traj_path[CONFIG_STR + 16]; /* sim.trajectory, in a fleet with "-ID" */
    char label[32];            /* after "fieldbrain-sim: " in log lines: "" alone, "robot 3: " in a fleet */
    sim_world *world;
    sim_link *link;
    trajectory *traj;
    uint32_t sensors, motors;  /* counts on the wire (the brain's) */
    uint64_t seq;              /* last sensor message sent */
    uint64_t last_answered;    /* newest sensor seq a motor message answered */
    uint64_t last_motor_ns;    /* when the last valid driving motor message came */
    int holding;               /* safety stop (or not yet driven): wheels stopped, servos held */
    int driven;                /* a motor message has driven it at least once */
    uint64_t safety_stops;     /* timeouts that stopped a driving robot */
    uint64_t brain_stops;      /* driving stopped by a motor message flagged stop or link_lost */
    uint64_t lockstep_timeouts;/* lockstep ticks whose answer did not come in time */
    uint64_t stale;            /* lockstep: answers to an older tick, ignored */
    uint64_t overruns;         /* realtime: ticks that fell behind the wall clock and resynced */
    latency_hist lat;
    uint64_t start_ns, end_ns;
    pthread_t thread;          /* a fleet's rover runs on its own */
    int started;               /* the thread was created (join it) */
    atomic_int finished;       /* its run is over (main stops waking it) */
} run_state;

static void safety_stop(run_state *s, const char *why)
{
    if (!s->holding) {
        s->safety_stops++;
        fprintf(stderr, "fieldbrain-sim: %ssafety stop at t=%.2f s: %s\n", s->label,
                sim_time(s->world), why);
    }
    sim_world_safety_stop(s->world);
    s->holding = 1;
}

/* A valid motor message: drive, or hold if the brain says so. */
static void take_motors(run_state *s, const wire_header *h, const float *values, uint64_t now)
{
    if (h->answer_seq > s->last_answered && h->answer_seq <= s->seq && h->answer_time_ns <= now) {
        lat_add(&s->lat, now - h->answer_time_ns);
        s->last_answered = h->answer_seq;
    }
    if (h->flags & (WIRE_FLAG_STOP | WIRE_FLAG_LINK_LOST)) {
        if (!s->holding) {
            s->brain_stops++;
            fprintf(stderr, "fieldbrain-sim: %sbrain says %s: holding still\n", s->label,
                    (h->flags & WIRE_FLAG_STOP) ? "stop" : "link lost");
        }
        sim_world_safety_stop(s->world);
        s->holding = 1;
        return;
    }
    if (sim_world_set_motors(s->world, values) != SIM_OK)
        return; /* refused (counted by the world); the commands in force stay */
    s->last_motor_ns = now;
    if (s->holding && s->driven)
        fprintf(stderr, "fieldbrain-sim: %sdriving again at t=%.2f s\n", s->label, sim_time(s->world));
    s->holding = 0;
    s->driven = 1;
}

static void send_sensors(run_state *s)
{
    float v[MAX_VALUES] = {0};  /* a brain with more sensors gets zeros past ours */
    sim_world_sensors(s->world, v);
    s->seq++;
    sim_link_send(s->link, s->seq, sim_now_ns(), v, s->sensors);
}

static int done(const run_state *s)
{
    return atomic_load(&g_stop) ||
           (s->cfg->sim.duration_s > 0 && sim_time(s->world) >= s->cfg->sim.duration_s - 1e-9);
}

static void step(run_state *s)
{
    if (sim_world_tick(s->world) == SIM_ERR_UNSTABLE)
        fprintf(stderr, "fieldbrain-sim: %sthe physics diverged; MuJoCo restarted it at the start pose\n", s->label);
    traj_add(s->traj, s->world, s->holding);
}

static void run_realtime(run_state *s)
{
    uint64_t period = (uint64_t)(1e9 / s->cfg->sim.sensor_hz);
    uint64_t timeout = (uint64_t)s->cfg->sim.motor_timeout_ms * 1000000ull;
    uint64_t next = sim_now_ns();
    wire_header h;
    float v[MAX_VALUES];
    while (!done(s)) {
        send_sensors(s);
        next += period;
        /* Motors apply as they come; the physics takes them at the next tick. */
        for (;;) {
            sim_link_event ev = sim_link_wait(s->link, next, &h, v);
            if (ev == SIM_LINK_MOTORS)
                take_motors(s, &h, v, sim_now_ns());
            else if (ev == SIM_LINK_TIMEOUT || atomic_load(&g_stop))
                break;
        }
        uint64_t now = sim_now_ns();
        if (s->driven && !s->holding && now - s->last_motor_ns > timeout)
            safety_stop(s, "no motor message within sim.motor_timeout_ms");
        step(s);
        if (now > next + 5 * period) {
            /* Fell far behind (a stalled machine): do not race to catch up. */
            s->overruns++;
            next = now;
        }
    }
}

/* Lockstep: before the first sensor message, wait (until stopped) for a
 * first motor message: it proves our subscription has reached the brain, so
 * the answer to the first tick cannot be lost (a lockstep brain publishes a
 * link_lost message every 100 ms until sensors come; PROTOCOL.md). */
static void wait_for_brain(run_state *s)
{
    wire_header h;
    float v[MAX_VALUES];
    fprintf(stderr, "fieldbrain-sim: %swaiting for the brain at %s and %s\n", s->label,
            s->cfg->link.sensor_endpoint, s->cfg->link.motor_endpoint);
    while (!atomic_load(&g_stop) &&
           sim_link_wait(s->link, sim_now_ns() + 100000000ull, &h, v) != SIM_LINK_MOTORS) {
    }
}

static void run_lockstep(run_state *s)
{
    uint64_t timeout = (uint64_t)s->cfg->sim.motor_timeout_ms * 1000000ull;
    wire_header h;
    float v[MAX_VALUES];
    wait_for_brain(s);
    while (!done(s)) {
        send_sensors(s);
        uint64_t deadline = sim_now_ns() + timeout;
        int answered = 0;
        while (!answered && !atomic_load(&g_stop)) {
            sim_link_event ev = sim_link_wait(s->link, deadline, &h, v);
            if (ev == SIM_LINK_TIMEOUT)
                break;
            if (ev != SIM_LINK_MOTORS)
                continue;
            uint64_t now = sim_now_ns();
            if (h.answer_seq == s->seq) {
                take_motors(s, &h, v, now);
                answered = 1;
            } else if (h.flags & (WIRE_FLAG_STOP | WIRE_FLAG_LINK_LOST)) {
                take_motors(s, &h, v, now); /* hold now, keep waiting for our answer */
            } else {
                s->stale++;
            }
        }
        if (atomic_load(&g_stop))
            break;
        if (!answered) {
            /* No brain, or it lost our message: stop the robot and go on
             * with the next tick (resending fresh sensors), never hang. */
            s->lockstep_timeouts++;
            safety_stop(s, "no answer within sim.motor_timeout_ms");
        }
        step(s);
    }
}

/* One rover's summary: JSON (one object, no newline; in a fleet with
 * "robot_id" first) or text (in a fleet the heading names the robot). */
static void print_rover(const run_state *s, FILE *f, int json, int fleet)
{
    sim_stats ws;
    sim_link_stats ls;
    sim_world_stats(s->world, &ws);
    sim_link_stats_get(s->link, &ls);
    double wall = (double)(s->end_ns - s->start_ns) / 1e9;
    double p50 = lat_percentile(&s->lat, 0.50) / 1e3, p99 = lat_percentile(&s->lat, 0.99) / 1e3;
    const char *mode = s->cfg->sim.mode == SIM_LOCKSTEP ? "lockstep" : "realtime";
    if (json) {
        if (fleet)
            fprintf(f, "{\"robot_id\": %u, ", s->robot_id);
        else
            fprintf(f, "{");
        fprintf(f,
                "\"mode\": \"%s\", \"ticks\": %llu, \"sim_time_s\": %.4f, \"wall_s\": %.4f, "
                "\"distance_m\": %.4f, \"collisions\": %llu, \"safety_stops\": %llu, \"brain_stops\": %llu, "
                "\"lockstep_timeouts\": %llu, \"overruns\": %llu, \"sensor_sent\": %llu, \"sensor_unsent\": %llu, "
                "\"motor_received\": %llu, \"motor_bad\": %llu, \"motor_stale\": %llu, \"motor_refused\": %llu, "
                "\"motor_clamped\": %llu, \"physics_resets\": %llu, \"link_connects\": %llu, "
                "\"link_disconnects\": %llu, \"latency_samples\": %llu, \"latency_p50_us\": %.1f, "
                "\"latency_p99_us\": %.1f, \"motor_bad_by_reason\": {",
                mode, (unsigned long long)ws.ticks, ws.time_s, wall, ws.distance_m,
                (unsigned long long)ws.collisions, (unsigned long long)s->safety_stops,
                (unsigned long long)s->brain_stops, (unsigned long long)s->lockstep_timeouts,
                (unsigned long long)s->overruns, (unsigned long long)ls.sent, (unsigned long long)ls.unsent,
                (unsigned long long)ls.received, (unsigned long long)ls.bad, (unsigned long long)s->stale,
                (unsigned long long)ws.refused, (unsigned long long)ws.clamped, (unsigned long long)ws.resets,
                (unsigned long long)ls.connects, (unsigned long long)ls.disconnects,
                (unsigned long long)s->lat.n, p50, p99);
        for (int i = 0; i < WIRE_BAD_REASONS; i++)
            fprintf(f, "%s\"%s\": %llu", i ? ", " : "", wire_bad_name(i), (unsigned long long)ls.bad_by_reason[i]);
        fprintf(f, "}}");
        return;
    }
    char robot[32] = "";
    if (fleet)
        snprintf(robot, sizeof robot, ", robot %u", s->robot_id);
    fprintf(f,
            "fieldbrain-sim summary (%s)%s\n"
            "  ticks            %llu (%.2f s simulated in %.2f s wall)\n"
            "  distance driven  %.2f m\n"
            "  collisions       %llu bump events\n"
            "  safety stops     %llu (motor timeouts; lockstep waits timed out: %llu; brain stop/link-lost messages: %llu)\n"
            "  sensor messages  %llu sent, %llu unsent (no brain connected)\n"
            "  motor messages   %llu valid, %llu bad, %llu stale, %llu refused, %llu values clamped\n"
            "  latency e2e      p50 %.1f us, p99 %.1f us (%llu samples: sensor send to answering motor receive)\n"
            "  link events      %llu connects, %llu disconnects\n"
            "  physics resets   %llu, realtime overruns %llu\n",
            mode, robot, (unsigned long long)ws.ticks, ws.time_s, wall, ws.distance_m,
            (unsigned long long)ws.collisions,
            (unsigned long long)s->safety_stops, (unsigned long long)s->lockstep_timeouts,
            (unsigned long long)s->brain_stops, (unsigned long long)ls.sent, (unsigned long long)ls.unsent,
            (unsigned long long)ls.received, (unsigned long long)ls.bad, (unsigned long long)s->stale,
            (unsigned long long)ws.refused, (unsigned long long)ws.clamped, p50, p99, (unsigned long long)s->lat.n,
            (unsigned long long)ls.connects, (unsigned long long)ls.disconnects, (unsigned long long)ws.resets,
            (unsigned long long)s->overruns);
}

/* The summary of the run. Without a robots list: the one rover's, as it
 * always was. With one: {"mode", "robots" (how many rovers this process
 * ran), "wall_s" (first start to last end), "rovers": [each rover's object
 * with "robot_id" first, in the list's order]}; as text, one block a rover. */
static void print_summary(const run_state *rovers, uint32_t n, int fleet, FILE *f, int json)
{
    if (!fleet || !json) {
        for (uint32_t i = 0; i < n; i++)
            print_rover(&rovers[i], f, json, fleet);
        if (json)
            fprintf(f, "\n");
        return;
    }
    uint64_t start = rovers[0].start_ns, end = rovers[0].end_ns;
    for (uint32_t i = 1; i < n; i++) {
        start = rovers[i].start_ns < start ? rovers[i].start_ns : start;
        end = rovers[i].end_ns > end ? rovers[i].end_ns : end;
    }
    fprintf(f, "{\"mode\": \"%s\", \"robots\": %u, \"wall_s\": %.4f, \"rovers\": [",
            rovers[0].cfg->sim.mode == SIM_LOCKSTEP ? "lockstep" : "realtime", n, (double)(end - start) / 1e9);
    for (uint32_t i = 0; i < n; i++) {
        fprintf(f, "%s", i ? ", " : "");
        print_rover(&rovers[i], f, 1, 1);
    }
    fprintf(f, "]}\n");
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fieldbrain-sim --config FILE [options]\n"
            "       fieldbrain-sim --help\n"
            "\n"
            "Simulates the bundled rover (MuJoCo) as a robot of a fieldbrain brain:\n"
            "sensors to link.sensor_endpoint, motors from link.motor_endpoint, with the\n"
            "bytes of io/PROTOCOL.md (sim/SENSORS.md: what the 16 sensors and 5 motors\n"
            "are). Runs for sim.duration_s of simulated time or until SIGINT/SIGTERM,\n"
            "then prints a summary and exits 0.\n"
            "\n"
            "  --config FILE       the YAML configuration (sim: and link: sections)\n"
            "  --mode M            realtime | lockstep (sim.mode)\n"
            "  --duration S        simulated seconds; 0 = until stopped (sim.duration_s)\n"
            "  --trajectory FILE   write the pose over time as CSV (sim.trajectory)\n"
            "  --model FILE        another MJCF model with the rover's named parts (sim.model)\n"
            "  --set KEY=VALUE     any config key, e.g. link.sensor_endpoint=tcp://127.0.0.1:6000\n"
            "  --robots ID[,ID...] with a robots list: simulate only these of its robots\n"
            "  --json              print the summary as one JSON object instead of text\n"
            "  --summary FILE      also write the JSON summary to FILE\n"
            "\n"
            "Without a robots list in the config: one rover, robot link.robot_id.\n"
            "With one (robots:, config/default.yaml): one rover per robot of the list\n"
            "(or of --robots), each in its own world with its own link and robot id, all\n"
            "to the same two endpoints. Each runs on its own: in lockstep a rover steps\n"
            "when its own answer comes, so a rover whose brain stops answering never\n"
            "holds up another; each has its own safety stop and counters. The rover at\n"
            "place K (0, 1, ...) of a list of N starts at the model's start pose turned\n"
            "by K x 360/N degrees about the arena's centre (x = y = 0): the first where\n"
            "a lone rover starts, the others around the arena, so the same robot starts\n"
            "in the same place whichever process simulates it. sim.trajectory is then\n"
            "one CSV per rover with \"-ID\" before the extension (run/traj.csv:\n"
            "run/traj-3.csv for robot 3). The JSON summary is then {\"mode\", \"robots\"\n"
            "(rovers run), \"wall_s\", \"rovers\": [...]}, each entry the one-rover object\n"
            "with \"robot_id\" first, in the list's order; the text, one block a rover.\n");
}

static int set_key(config *cfg, const char *key, const char *value)
{
    char err[512];
    if (config_set(cfg, key, value, err, sizeof err) < 0) {
        fprintf(stderr, "fieldbrain-sim: %s\n", err);
        return -1;
    }
    return 0;
}

/* path with "-ID" before the extension of its last part (run/traj.csv:
 * run/traj-3.csv), else at the end (run/traj: run/traj-3). */
static int rover_path(const char *path, uint32_t id, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot > base ? (size_t)(dot - path) : strlen(path);
    int n = snprintf(out, cap, "%.*s-%u%s", (int)stem, path, id, path + stem);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The rovers to run: without a robots list the one robot (--robots is an
 * error); with one, the robots of the list, or those --robots names, in the
 * list's order. place[] gets each one's index in the list. */
static int pick_robots(const char *arg, int fleet, const config_fleet_robot *robots, uint32_t listed,
                       uint32_t *place, uint32_t *n, char *err, size_t err_len)
{
    *n = 0;
    if (!arg) {
        for (uint32_t i = 0; i < listed; i++)
            place[(*n)++] = i;
        return 0;
    }
    if (!fleet)
        return fb_fail(err, err_len, -1,
                       "--robots %s: the config has no robots list (without one the rover is link.robot_id)", arg);
    unsigned char picked[CONFIG_MAX_ROBOTS] = {0};
    for (const char *p = arg;;) {
        char *end;
        errno = 0;
        unsigned long long id = strtoull(p, &end, 10);
        if (end == p || *p == '-' || *p == '+' || errno || id > UINT32_MAX || (*end && *end != ','))
            return fb_fail(err, err_len, -1, "--robots %s: want robot ids (0 to 4294967295) separated by commas", arg);
        uint32_t i = 0;
        while (i < listed && robots[i].id != id)
            i++;
        if (i == listed)
            return fb_fail(err, err_len, -1, "--robots %s: robot %llu is not in the config's robots list", arg, id);
        if (picked[i])
            return fb_fail(err, err_len, -1, "--robots %s: robot %llu is given twice", arg, id);
        picked[i] = 1;
        if (!*end)
            break;
        p = end + 1;
    }
    for (uint32_t i = 0; i < listed; i++)
        if (picked[i])
            place[(*n)++] = i;
    return 0;
}

/* One rover's world (at its start pose), link and trajectory file. */
static int rover_open(run_state *s, const config *cfg, uint32_t id, uint32_t place, uint32_t listed, int fleet,
                      char *err, size_t err_len)
{
    s->cfg = cfg;
    s->robot_id = id;
    s->sensors = cfg->brain.sensors;
    s->motors = cfg->brain.motors;
    s->holding = 1;
    if (fleet)
        snprintf(s->label, sizeof s->label, "robot %u: ", id);
    if (sim_world_new(cfg->sim.model, 1.0 / cfg->sim.sensor_hz, &s->world, err, err_len) < 0)
        return -1;
    if (place > 0) {
        /* Turned about the arena's centre, so each robot of the list starts
         * elsewhere (and the same robot always in the same place). */
        sim_pose p;
        sim_world_pose(s->world, &p);
        double a = 2.0 * M_PI * place / listed;
        sim_world_place(s->world, p.x * cos(a) - p.y * sin(a), p.x * sin(a) + p.y * cos(a), p.yaw + a);
    }
    if (sim_link_new(cfg->link.sensor_endpoint, cfg->link.motor_endpoint, id, cfg->brain.motors, s->label,
                     &s->link, err, err_len) < 0)
        return -1;
    if (!cfg->sim.trajectory[0])
        return 0;
    if (fleet && rover_path(cfg->sim.trajectory, id, s->traj_path, sizeof s->traj_path) < 0)
        return fb_fail(err, err_len, -1, "sim.trajectory: %s: too long with \"-%u\" added", cfg->sim.trajectory, id);
    if (!fleet)
        snprintf(s->traj_path, sizeof s->traj_path, "%s", cfg->sim.trajectory);
    if (!(s->traj = calloc(1, sizeof *s->traj)))
        return fb_fail(err, err_len, -1, "out of memory for the trajectory");
    if (!(s->traj->f = fopen(s->traj_path, "w")))
        return fb_fail(err, err_len, -1, "sim.trajectory: %s: %s", s->traj_path, strerror(errno));
    fprintf(s->traj->f, "time_s,x,y,yaw,speed,wheel_left,wheel_right,steer,pan,tilt,bump_front,bump_rear,holding\n");
    traj_add(s->traj, s->world, 1);
    return 0;
}

/* Undoes rover_open (whatever part of it was done); -1 if the trajectory
 * could not be written out (said on stderr). */
static int rover_close(run_state *s)
{
    int rc = 0;
    if (s->traj && s->traj->f) {
        traj_flush(s->traj);
        if (fclose(s->traj->f) != 0) {
            fprintf(stderr, "fieldbrain-sim: sim.trajectory: %s: %s\n", s->traj_path, strerror(errno));
            rc = -1;
        }
    }
    free(s->traj);
    s->traj = NULL;
    sim_link_destroy(&s->link);
    sim_world_destroy(&s->world);
    return rc;
}

static void run_rover(run_state *s)
{
    s->start_ns = sim_now_ns();
    if (s->cfg->sim.mode == SIM_LOCKSTEP)
        run_lockstep(s);
    else
        run_realtime(s);
    s->end_ns = sim_now_ns();
}

/* Each rover's link holds about ten file descriptors (its ZeroMQ context,
 * sockets and monitors), so a large fleet outgrows a soft limit of 1024:
 * raise it to the hard limit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void *rover_main(void *arg)
{
    run_state *s = arg;
    run_rover(s);
    atomic_store(&s->finished, 1);
    return NULL;
}

/* A fleet: each rover on its own thread. SIGINT and SIGTERM reach main
 * alone (the rovers' threads block them); once g_stop is set main wakes
 * each rover still running with SIGUSR1, again every 20 ms until it ends
 * (a rover between its look at g_stop and its wait would miss one). */
static int run_fleet(run_state *rovers, uint32_t n, char *err, size_t err_len)
{
    sigset_t stops, old;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stops, &old);
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        int e = pthread_create(&rovers[i].thread, NULL, rover_main, &rovers[i]);
        if (e) {
            rc = fb_fail(err, err_len, -1, "robot %u: cannot start its thread: %s", rovers[i].robot_id, strerror(e));
            atomic_store(&g_stop, 1);
        } else {
            rovers[i].started = 1;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    for (;;) {
        uint32_t running = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (!rovers[i].started || atomic_load(&rovers[i].finished))
                continue;
            running++;
            if (atomic_load(&g_stop))
                pthread_kill(rovers[i].thread, SIGUSR1);
        }
        if (!running)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
    }
    for (uint32_t i = 0; i < n; i++)
        if (rovers[i].started)
            pthread_join(rovers[i].thread, NULL);
    return rc;
}

int main(int argc, char **argv)
{
    static config cfg;  /* large: keep it off the stack */
    static config_fleet_robot robots[CONFIG_MAX_ROBOTS];
    static uint32_t place[CONFIG_MAX_ROBOTS];
    const char *config_path = NULL, *summary_path = NULL, *robots_arg = NULL;
    int json = 0;
    char err[1024];

    config_default(&cfg);
    /* The file first, then the flags over it, in the order given. */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config_path = argv[i + 1];
    if (config_path && config_load(config_path, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "fieldbrain-sim: %s\n", err);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "fieldbrain-sim: %s: unknown option or missing value\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--config"))
            continue;
        else if (!strcmp(a, "--summary"))
            summary_path = v;
        else if (!strcmp(a, "--robots"))
            robots_arg = v;
        else if (!strcmp(a, "--mode"))
            rc = set_key(&cfg, "sim.mode", v);
        else if (!strcmp(a, "--duration"))
            rc = set_key(&cfg, "sim.duration_s", v);
        else if (!strcmp(a, "--trajectory"))
            rc = set_key(&cfg, "sim.trajectory", v);
        else if (!strcmp(a, "--model"))
            rc = set_key(&cfg, "sim.model", v);
        else if (!strcmp(a, "--set")) {
            char kv[CONFIG_STR * 2];
            snprintf(kv, sizeof kv, "%s", v);
            char *eq = strchr(kv, '=');
            if (!eq) {
                fprintf(stderr, "fieldbrain-sim: --set %s: want KEY=VALUE\n", v);
                return 2;
            }
            *eq = '\0';
            rc = set_key(&cfg, kv, eq + 1);
        } else {
            fprintf(stderr, "fieldbrain-sim: %s: unknown option\n", a);
            usage(stderr);
            return 2;
        }
        if (rc < 0)
            return 2;
    }
    if (config_check(&cfg, config_path ? config_path : "(defaults)", err, sizeof err) < 0) {
        fprintf(stderr, "fieldbrain-sim: %s\n", err);
        return 2;
    }
    if (cfg.brain.sensors < SIM_SENSORS || cfg.brain.sensors > MAX_VALUES ||
        cfg.brain.motors < SIM_MOTORS || cfg.brain.motors > MAX_VALUES) {
        fprintf(stderr,
                "fieldbrain-sim: brain.sensors %u, brain.motors %u: the rover has %d sensors and %d motors "
                "(the brain needs at least that many, at most %d)\n",
                cfg.brain.sensors, cfg.brain.motors, SIM_SENSORS, SIM_MOTORS, MAX_VALUES);
        return 2;
    }
    /* the config's warnings about the sim's own keys, after the flags
     * (--mode lockstep against a fixed_rate brain's file, say); the rest
     * are the brain's to print */
    char warn[2048];
    if (config_warnings(&cfg, warn, sizeof warn) > 0)
        for (char *line = strtok(warn, "\n"); line; line = strtok(NULL, "\n"))
            if (strncmp(line, "sim.", 4) == 0)
                fprintf(stderr, "fieldbrain-sim: warning: %s\n", line);
    /* a summary file that cannot be written is found now, not after the run */
    if (summary_path) {
        FILE *probe = fopen(summary_path, "a");
        if (!probe) {
            fprintf(stderr, "fieldbrain-sim: --summary %s: %s\n", summary_path, strerror(errno));
            return 1;
        }
        fclose(probe);
    }
    int fleet = cfg.robots.count > 0;
    uint32_t listed = config_fleet(&cfg, robots), n = 0;
    if (pick_robots(robots_arg, fleet, robots, listed, place, &n, err, sizeof err) < 0) {
        fprintf(stderr, "fieldbrain-sim: %s\n", err);
        return 2;
    }

    if (fleet)
        raise_fd_limit();
    int status = 1;
    uint32_t opened = 0;
    run_state *rovers = calloc(n, sizeof *rovers);
    if (!rovers) {
        fprintf(stderr, "fieldbrain-sim: out of memory for %u rovers\n", n);
        return 1;
    }
    for (; opened < n; opened++) {
        run_state *s = &rovers[opened];
        if (rover_open(s, &cfg, robots[place[opened]].id, place[opened], listed, fleet, err, sizeof err) < 0) {
            fprintf(stderr, "fieldbrain-sim: %s%s\n", s->label, err);
            opened++; /* rover_close undoes its part-done open */
            goto out;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;  /* no SA_RESTART: a signal must wake the wait */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (fleet) {
        sa.sa_handler = on_wake;
        sigaction(SIGUSR1, &sa, NULL);
    }

    const char *model = cfg.sim.model[0] ? cfg.sim.model : "bundled";
    const char *mode = cfg.sim.mode == SIM_LOCKSTEP ? "lockstep" : "realtime";
    if (!fleet) {
        fprintf(stderr, "fieldbrain-sim %s: %s rover, %s, %.0f Hz ticks, robot %u, sensors to %s, motors from %s\n",
                FB_VERSION, model, mode, cfg.sim.sensor_hz, cfg.link.robot_id, cfg.link.sensor_endpoint,
                cfg.link.motor_endpoint);
        run_rover(&rovers[0]);
    } else {
        /* The ids, as many as fit in a line of reasonable length. */
        char ids[512] = "";
        for (size_t i = 0, len = 0; i < n; i++) {
            if (len + 16 > sizeof ids) {
                snprintf(ids + len, sizeof ids - len, ", ...");
                break;
            }
            len += (size_t)snprintf(ids + len, sizeof ids - len, "%s%u", i ? ", " : "", rovers[i].robot_id);
        }
        fprintf(stderr,
                "fieldbrain-sim %s: %s rover, %s, %.0f Hz ticks, %u rover%s (robot%s %s), sensors to %s, motors "
                "from %s\n",
                FB_VERSION, model, mode, cfg.sim.sensor_hz, n, n == 1 ? "" : "s", n == 1 ? "" : "s", ids,
                cfg.link.sensor_endpoint, cfg.link.motor_endpoint);
        if (run_fleet(rovers, n, err, sizeof err) < 0) {
            fprintf(stderr, "fieldbrain-sim: %s\n", err);
            goto out;
        }
    }
    status = 0;

    print_summary(rovers, n, fleet, stdout, json);
    fflush(stdout);
    if (summary_path) {
        FILE *f = fopen(summary_path, "w");
        if (!f || (print_summary(rovers, n, fleet, f, 1), fclose(f) != 0)) {
            fprintf(stderr, "fieldbrain-sim: --summary %s: %s\n", summary_path, strerror(errno));
            status = 1;
        }
    }
out:
    while (opened > 0)
        if (rover_close(&rovers[--opened]) < 0)
            status = 1;
    free(rovers);
    return status;
}
