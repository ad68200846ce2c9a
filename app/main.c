/* main.c: the fieldbrain program, which composes the parts: reads the config
 * (config/), creates the brain (brain/) or resumes one from a checkpoint,
 * binds the link and makes the control loop (io/), attaches telemetry
 * (app_telemetry.c), runs until SIGINT, SIGTERM or SIGHUP, then shuts down cleanly
 * (with the loop's summary as JSON for --summary FILE) and exits 0. The
 * libraries print nothing; this file prints what they say.
 */
#include "brain.h"
#include "config.h"
#include "link.h"
#include "loop.h"
#include "app_inlog.h"
#include "app_replay.h"
#include "app_telemetry.h"
#include "control.h"
#include "wire.h"
#include "fail.h"

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <string.h>

/* The one piece of global state: what the signal handler sets. */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fieldbrain run --config FILE [--resume CHECKPOINT | --resume-fleet] [--summary FILE]\n"
            "       fieldbrain replay LOG [options]   (fieldbrain replay --help)\n"
            "       fieldbrain --help | --version\n"
            "\n"
            "Runs the field brain as a robot controller: sensors come in on\n"
            "link.sensor_endpoint (ZeroMQ PULL), motors go out on link.motor_endpoint\n"
            "(PUB, robot id as topic); the wire format is io/PROTOCOL.md.\n"
            "SIGINT, SIGTERM or SIGHUP stops it: zero motors flagged stop, the exit\n"
            "checkpoint when checkpoint.on_exit is set, exit status 0. Exit status 1:\n"
            "it could not start, or could not write the exit checkpoint or --summary;\n"
            "2: a bad command line or config, or a --resume checkpoint it cannot read.\n"
            "\n"
            "  --config FILE         the YAML configuration (see config/default.yaml)\n"
            "  --resume CHECKPOINT   continue from a checkpoint (its field shape wins); one robot\n"
            "  --resume-fleet        continue every robot from its own checkpoint (the config's\n"
            "                        robots list and checkpoint.path say where; each must be\n"
            "                        there; the first robot's shape for all, each keeps its seed and values)\n"
            "  --summary FILE        at exit, also write the summary line to FILE as one\n"
            "                        JSON object: cycles, overruns, skipped_ticks, received,\n"
            "                        skipped, published, brain_errors, bad, bad_by_reason,\n"
            "                        peers_cut, peers_refused,\n"
            "                        lateness_{p50,p99,max}_ns, work_{p50,p99,max}_ns,\n"
            "                        device, device_reason, backend, mode, rate_hz_target;\n"
            "                        with several robots also robots: [{robot_id, cycles,\n"
            "                        brain_cycle, received, skipped, published, brain_errors,\n"
            "                        link_losses, bad}, ...]\n");
}

/* Every robot, sim and subscriber connection costs a file descriptor, and so
 * do the brain's own checkpoint files: a low soft limit (often 1024) would
 * let idle connections starve both. Raise it to the hard limit, and say so. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        fprintf(stderr, "fieldbrain: file descriptors: raised the soft limit from %llu to the hard "
                "limit %llu\n", (unsigned long long)was, (unsigned long long)rl.rlim_max);
    else
        fprintf(stderr, "fieldbrain: warning: file descriptors: cannot raise the soft limit %llu "
                "to %llu: %s\n", (unsigned long long)was, (unsigned long long)rl.rlim_max,
                strerror(errno));
}

/* s as a JSON string. */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* --summary FILE: what loop_run's summary line says, and what ran it.
 * 0, or -1 with errno set. */
static void write_summary_robots(FILE *f, const loop *lp)
{
    fputs(", \"robots\": [", f);
    for (uint32_t i = 0; i < loop_robot_count(lp); i++) {
        loop_robot_summary rs;
        loop_get_robot_summary(lp, i, &rs);
        fprintf(f,
                "%s{\"robot_id\": %u, \"cycles\": %llu, \"brain_cycle\": %llu, \"received\": %llu, "
                "\"skipped\": %llu, \"published\": %llu, \"brain_errors\": %llu, "
                "\"link_losses\": %llu, \"bad\": %llu}",
                i ? ", " : "", rs.robot_id, (unsigned long long)rs.cycles,
                (unsigned long long)rs.brain_cycle, (unsigned long long)rs.link.received,
                (unsigned long long)rs.link.skipped, (unsigned long long)rs.link.published,
                (unsigned long long)rs.brain_errors, (unsigned long long)rs.link_losses,
                (unsigned long long)rs.link.bad_total);
    }
    fputc(']', f);
}

static void write_summary_to(FILE *f, const loop *lp, brain_fleet *fleet, const config *cfg)
{
    loop_summary s;
    loop_get_summary(lp, &s);
    fprintf(f,
            "{\"cycles\": %llu, \"overruns\": %llu, \"skipped_ticks\": %llu, \"received\": %llu, "
            "\"skipped\": %llu, \"published\": %llu, \"brain_errors\": %llu, \"bad\": %llu, "
            "\"bad_by_reason\": {",
            (unsigned long long)s.cycles, (unsigned long long)s.overruns,
            (unsigned long long)s.skipped_ticks, (unsigned long long)s.link.received,
            (unsigned long long)s.link.skipped, (unsigned long long)s.link.published,
            (unsigned long long)s.brain_errors, (unsigned long long)s.link.bad_total);
    for (int r = 0; r < WIRE_BAD_REASONS; r++)
        fprintf(f, "%s\"%s\": %llu", r ? ", " : "", wire_bad_name(r),
                (unsigned long long)s.link.bad[r]);
    fprintf(f,
            "}, \"peers_cut\": %llu, \"peers_refused\": %llu, \"lateness_p50_ns\": %lld, \"lateness_p99_ns\": %lld, \"lateness_max_ns\": %lld, "
            "\"work_p50_ns\": %lld, \"work_p99_ns\": %lld, \"work_max_ns\": %lld, \"device\": ",
            (unsigned long long)s.link.peers_cut, (unsigned long long)s.link.peers_refused,
            (long long)s.lateness.p50_ns, (long long)s.lateness.p99_ns, (long long)s.lateness.max_ns,
            (long long)s.work.p50_ns, (long long)s.work.p99_ns, (long long)s.work.max_ns);
    const brain *b = brain_fleet_brain(fleet, 0);
    json_string(f, brain_fleet_device_name(fleet));
    fputs(", \"device_reason\": ", f);
    json_string(f, brain_device_reason(b));
    fprintf(f, ", \"backend\": \"%s\", \"mode\": \"%s\", \"rate_hz_target\": %.17g",
            brain_backend_name(brain_get_backend(b)),
            cfg->loop.mode == LOOP_LOCKSTEP ? "lockstep" : "fixed_rate",
            cfg->loop.mode == LOOP_LOCKSTEP ? 0.0 : cfg->loop.rate_hz);
    if (loop_robot_count(lp) > 1)
        write_summary_robots(f, lp);
    fputs("}\n", f);
}

static int write_summary(const char *path, const loop *lp, brain_fleet *fleet, const config *cfg)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    write_summary_to(f, lp, fleet, cfg);
    int failed = ferror(f);
    if (fclose(f) != 0 || failed)
        return -1;
    return 0;
}

/* The fleet's brains: each robot's seed, or with --resume-fleet each
 * robot's checkpoint (its seed, its values; every robot of one shape). A
 * checkpoint's brain replaces the config's (this machine's threads kept)
 * and must pass the config's checks. 0, or 2 (a checkpoint that cannot be
 * read or does not fit) or 1 (the brain cannot be made) with err. */
static int make_fleet(config *cfg, const char *config_path, const config_fleet_robot *robots, uint32_t n,
                      const char *resume, bool resume_fleet, brain_fleet **f, char *err, size_t err_len)
{
    static uint64_t seeds[CONFIG_MAX_ROBOTS];
    static brain_params saved[CONFIG_MAX_ROBOTS];
    for (uint32_t i = 0; i < n; i++) {
        seeds[i] = robots[i].seed;
        const char *path = resume_fleet ? robots[i].checkpoint : i == 0 ? resume : NULL;
        if (!path)
            continue;
        if (!path[0])
            return fb_fail(err, err_len, 2, "--resume-fleet: robot %u has no checkpoint (set "
                           "checkpoint.path or the robot's checkpoint)", robots[i].id);
        saved[i] = cfg->brain;
        char why[768];
        const char *opt = resume_fleet ? "--resume-fleet" : "--resume";
        if (brain_checkpoint_params(path, &saved[i], why, sizeof why) < 0)
            return fb_fail(err, err_len, 2, "%s %s: %s", opt, path, why);
        if (i > 0 && (saved[i].size_x != saved[0].size_x || saved[i].size_y != saved[0].size_y ||
                      saved[i].size_z != saved[0].size_z || saved[i].channels != saved[0].channels ||
                      saved[i].sensors != saved[0].sensors || saved[i].motors != saved[0].motors))
            return fb_fail(err, err_len, 2,
                           "%s: robot %u's checkpoint %s holds a %ux%ux%u x %u brain with %u sensors "
                           "and %u motors, the first robot's %ux%ux%u x %u with %u and %u: the brains "
                           "of a fleet have one shape", opt, robots[i].id, path, saved[i].size_x,
                           saved[i].size_y, saved[i].size_z, saved[i].channels, saved[i].sensors,
                           saved[i].motors, saved[0].size_x, saved[0].size_y, saved[0].size_z,
                           saved[0].channels, saved[0].sensors, saved[0].motors);
        if (i == 0) {
            /* The checkpoint's brain in the config: its checks between keys
             * (message size, overflow bound, slices) hold for it too. */
            cfg->brain = saved[0];
            if (config_check(cfg, config_path, why, sizeof why) < 0)
                return fb_fail(err, err_len, 2, "%s %s: the checkpoint's brain does not fit the "
                               "config: %s", opt, path, why);
        }
        seeds[i] = saved[i].seed;
    }
    char why[768];
    if (brain_fleet_create(&cfg->brain, seeds, n, f, why, sizeof why) < 0)
        return fb_fail(err, err_len, 1, "brain: %s", why);
    for (uint32_t i = 0; i < n; i++) {
        const char *path = resume_fleet ? robots[i].checkpoint : i == 0 ? resume : NULL;
        if (!path)
            continue;
        brain *b = brain_fleet_brain(*f, i);
        int lrc = i > 0 ? brain_set_params(b, &saved[i], why, sizeof why) : 0;
        if (lrc == 0)
            lrc = brain_load(b, path, why, sizeof why);
        if (lrc < 0)
            /* a file that cannot be read or is not this brain's: 2 */
            return fb_fail(err, err_len,
                           lrc == BRAIN_ERR_IO || lrc == BRAIN_ERR_FORMAT || lrc == BRAIN_ERR_MISMATCH ||
                                   lrc == BRAIN_ERR_PARAM ? 2 : 1,
                           "%s %s: %s", resume_fleet ? "--resume-fleet" : "--resume", path, why);
        fprintf(stderr, "fieldbrain: resumed %s at brain cycle %llu\n", path,
                (unsigned long long)brain_get_cycle(b));
    }
    return 0;
}

static int run(const char *config_path, const char *resume, bool resume_fleet,
               const char *summary_path)
{
    static config cfg;  /* large: keep it off the stack */
    static config_fleet_robot robots[CONFIG_MAX_ROBOTS];
    static uint32_t ids[CONFIG_MAX_ROBOTS];
    static loop_checkpoint_options ck[CONFIG_MAX_ROBOTS];
    char err[1024];
    if (config_load(config_path, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "fieldbrain: %s\n", err);
        return 2;
    }
    if (config_warnings(&cfg, err, sizeof err) > 0)
        fprintf(stderr, "fieldbrain: warning: %s\n", err);
    uint32_t n = config_fleet(&cfg, robots);
    if (resume && n > 1) {
        fprintf(stderr, "fieldbrain: --resume CHECKPOINT: the config has %u robots; "
                "--resume-fleet resumes each from its own checkpoint\n", n);
        return 2;
    }
    for (uint32_t i = 0; i < n; i++) {
        ids[i] = robots[i].id;
        ck[i] = cfg.checkpoint;
        snprintf(ck[i].path, sizeof ck[i].path, "%s", robots[i].checkpoint);
    }

    raise_fd_limit();
    int status = 1;
    brain_fleet *fleet = NULL;
    robot_link *l = NULL;
    loop *lp = NULL;
    app_telemetry *tm = NULL;
    app_inlog *il = NULL;
    control *ctl = NULL;
    int frc = make_fleet(&cfg, config_path, robots, n, resume, resume_fleet, &fleet, err, sizeof err);
    if (frc) {
        fprintf(stderr, "fieldbrain: %s\n", err);
        status = frc;
        goto out;
    }
    brain *b = brain_fleet_brain(fleet, 0);
    const brain_params *p = brain_get_params(b);
    fprintf(stderr, "fieldbrain: brain %ux%ux%u x %u on %s: %s (%s)\n", p->size_x, p->size_y,
            p->size_z, p->channels, brain_backend_name(brain_get_backend(b)), brain_fleet_device_name(fleet),
            brain_device_reason(b));
    if (link_create(&cfg.link, ids, n, cfg.brain.sensors, cfg.brain.motors, &l, err, sizeof err) < 0) {
        fprintf(stderr, "fieldbrain: %s\n", err);
        goto out;
    }
    if (loop_create(&cfg.loop, ck, fleet, l, &lp, err, sizeof err) < 0) {
        fprintf(stderr, "fieldbrain: %s\n", err);
        goto out;
    }
    if (cfg.telemetry.enabled) {
        if (app_telemetry_attach(&cfg, fleet, lp, &tm, err, sizeof err) < 0) {
            fprintf(stderr, "fieldbrain: %s\n", err);
            goto out;
        }
        bool curve = !cfg.telemetry.unencrypted &&
                     (cfg.telemetry.curve_secret_key[0] || cfg.link.curve_secret_key[0]);
        fprintf(stderr, "fieldbrain: telemetry on %s%s\n", telemetry_endpoint(app_telemetry_publisher(tm)),
                curve ? " (CURVE)" : "");
    }
    if (cfg.record.path[0]) {
        if (app_inlog_attach(&cfg, fleet, lp, &il, err, sizeof err) < 0) {
            fprintf(stderr, "fieldbrain: %s\n", err);
            goto out;
        }
        if (strcmp(robots[0].record, cfg.record.path) == 0)
            fprintf(stderr, "fieldbrain: input log in %s (at most %u MiB)\n", cfg.record.path,
                    cfg.record.max_mb);
        else
            fprintf(stderr, "fieldbrain: input logs in %s/robot-ID, one for each robot (at most %u "
                    "MiB each)\n", cfg.record.path, cfg.record.max_mb);
    }
    if (cfg.control.enabled) {
        if (control_create(&cfg, fleet, lp, tm ? app_telemetry_publisher(tm) : NULL, &ctl, err,
                           sizeof err) < 0) {
            fprintf(stderr, "fieldbrain: %s\n", err);
            goto out;
        }
        fprintf(stderr, "fieldbrain: control on %s%s\n", control_endpoint(ctl),
                cfg.link.curve_secret_key[0] ? " (CURVE)" : "");
    }
    /* Before the banner: whoever waits for the banner may signal at once. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;  /* no SA_RESTART: a signal must wake the loop's sleep */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);  /* a closed terminal stops the robot as cleanly */
    signal(SIGPIPE, SIG_IGN);

    fprintf(stderr,
            "fieldbrain %s: %ux%ux%u x %u field, %u sensors, %u motors on %s; %s",
            FB_VERSION, p->size_x, p->size_y, p->size_z, p->channels, p->sensors, p->motors,
            brain_fleet_device_name(fleet), cfg.loop.mode == LOOP_LOCKSTEP ? "lockstep" : "fixed_rate");
    if (cfg.loop.mode == LOOP_FIXED_RATE)
        fprintf(stderr, " at %g Hz", cfg.loop.rate_hz);
    if (n == 1) {
        fprintf(stderr, "; robot %u", ids[0]);
    } else {
        fprintf(stderr, "; %u robots:", n);
        for (uint32_t i = 0; i < n; i++)
            fprintf(stderr, "%s %u", i ? "," : "", ids[i]);
    }
    fprintf(stderr, "; sensors on %s, motors on %s%s\n", cfg.link.sensor_endpoint,
            cfg.link.motor_endpoint, cfg.link.curve_secret_key[0] ? " (CURVE)" : "");

    status = loop_run(lp, &g_stop) == 0 ? 0 : 1;
    if (summary_path && write_summary(summary_path, lp, fleet, &cfg) < 0) {
        fprintf(stderr, "fieldbrain: --summary %s: %s\n", summary_path, strerror(errno));
        status = 1;
    }
out:
    control_destroy(&ctl);      /* no command pending once it is gone */
    app_inlog_detach(&il);      /* unhooks, writes what is queued */
    app_telemetry_detach(&tm);  /* unhooks before the loop goes */
    loop_destroy(&lp);
    link_destroy(&l);  /* linger 0: never waits for a peer */
    brain_fleet_destroy(&fleet);
    return status;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("fieldbrain %s\n", FB_VERSION);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "replay") == 0)
        return app_replay_main(argc, argv);
    if (argc < 2 || strcmp(argv[1], "run") != 0) {
        usage(stderr);
        return 2;
    }
    const char *config_path = NULL, *resume = NULL, *summary_path = NULL;
    bool resume_fleet = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--resume") == 0 && i + 1 < argc) {
            resume = argv[++i];
        } else if (strcmp(argv[i], "--resume-fleet") == 0) {
            resume_fleet = true;
        } else if (strcmp(argv[i], "--summary") == 0 && i + 1 < argc) {
            summary_path = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "fieldbrain: unknown or incomplete argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!config_path) {
        fprintf(stderr, "fieldbrain: run needs --config FILE\n");
        return 2;
    }
    if (resume && resume_fleet) {
        fprintf(stderr, "fieldbrain: --resume and --resume-fleet: choose one\n");
        return 2;
    }
    return run(config_path, resume, resume_fleet, summary_path);
}
