/* replay.c: `fieldbrain replay LOG`: steps an input log's recorded sensor
 * vectors through a brain made from the log's start checkpoint, as fast as
 * the backend goes, and checks every motor against the one recorded: bit for
 * bit on the backend and device that recorded it, within field-brain.md's
 * tolerance on another. With --set it is a what-if instead: the same inputs
 * under other parameters, and how far the motors moved.
 */
#include "app_replay.h"
#include "brain.h"
#include "config.h"
#include "inlog.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_SETS 32
/* field-brain.md: motors within 1e-4 of the reference after 100 cycles. */
#define CROSS_BACKEND_TOLERANCE 1e-4

typedef struct {
    const char *log, *out, *backend, *device;
    uint64_t from, until;
    const char *sets[MAX_SETS];
    int n_sets;
} replay_args;

typedef struct {
    uint64_t n, cap;
    uint32_t motors;
    uint64_t *cycles;
    float *rec, *rep, *erec, *erep;
} series;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fieldbrain replay LOG [--from CYCLE] [--until CYCLE] [--set KEY=VALUE]...\n"
            "                         [--out DIR] [--backend cpu|vulkan] [--device NAME]\n"
            "\n"
            "Steps the input log LOG (a record.path directory, inlog/FORMAT.md) offline and\n"
            "checks every motor against the recorded one: bit for bit on the backend and\n"
            "device that recorded it, within %g on another. Reports the first divergence.\n"
            "\n"
            "  --from CYCLE      start at the newest segment checkpoint at or before loop cycle CYCLE\n"
            "  --until CYCLE     stop after loop cycle CYCLE\n"
            "  --set KEY=VALUE   a what-if: a brain parameter (brain.motor_gain=20, ...) changed\n"
            "                    for the whole replay; reports how far the motors moved\n"
            "  --out DIR         cycles, motors and energy, recorded and replayed, as .npy, and\n"
            "                    plots of one against the other (python3-matplotlib)\n"
            "  --backend B       cpu or vulkan (default: the one that recorded the log)\n"
            "  --device NAME     the Vulkan device (default: the one that recorded the log)\n"
            "\n"
            "Exit status: 0 the motors agree (or a what-if ran), 1 they diverge, 2 the log or\n"
            "an option is unusable.\n",
            CROSS_BACKEND_TOLERANCE);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, replay_args *a)
{
    memset(a, 0, sizeof *a);
    a->until = UINT64_MAX;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(o, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(o, "--from") == 0 && has) {
            if (parse_u64(argv[++i], &a->from))
                return fprintf(stderr, "fieldbrain replay: --from: '%s' is not a cycle number\n", argv[i]), -1;
        } else if (strcmp(o, "--until") == 0 && has) {
            if (parse_u64(argv[++i], &a->until))
                return fprintf(stderr, "fieldbrain replay: --until: '%s' is not a cycle number\n", argv[i]), -1;
        } else if (strcmp(o, "--set") == 0 && has) {
            if (a->n_sets == MAX_SETS)
                return fprintf(stderr, "fieldbrain replay: at most %d --set options\n", MAX_SETS), -1;
            a->sets[a->n_sets++] = argv[++i];
        } else if (strcmp(o, "--out") == 0 && has) {
            a->out = argv[++i];
        } else if (strcmp(o, "--backend") == 0 && has) {
            a->backend = argv[++i];
        } else if (strcmp(o, "--device") == 0 && has) {
            a->device = argv[++i];
        } else if (o[0] != '-' && !a->log) {
            a->log = o;
        } else {
            return fprintf(stderr, "fieldbrain replay: unknown or incomplete argument '%s'\n", o), -1;
        }
    }
    if (!a->log)
        return fprintf(stderr, "fieldbrain replay: which log? (fieldbrain replay LOG)\n"), -1;
    if (a->from > a->until)
        return fprintf(stderr, "fieldbrain replay: --from %llu is after --until %llu\n",
                       (unsigned long long)a->from, (unsigned long long)a->until), -1;
    if (a->backend && strcmp(a->backend, "cpu") != 0 && strcmp(a->backend, "vulkan") != 0)
        return fprintf(stderr, "fieldbrain replay: --backend: '%s' is not one of cpu, vulkan\n", a->backend), -1;
    return 0;
}

/* The parameters a segment steps with: its start checkpoint's (the values
 * in force there, live changes included), on the backend asked for (or the
 * recording's), then the what-if changes. 0, or 2 with the sentence
 * printed. */
static int segment_params(const replay_args *a, inlog_reader *r, uint32_t seg, brain_params *out)
{
    char err[1024];
    static config c; /* large: off the stack */
    config_default(&c);
    if (brain_checkpoint_params(inlog_reader_start(r, seg), &c.brain, err, sizeof err) < 0) {
        fprintf(stderr, "fieldbrain replay: %s\n", err);
        return 2;
    }
    const char *backend = a->backend ? a->backend : inlog_reader_backend(r, seg);
    c.brain.backend = strcmp(backend, "vulkan") == 0 ? BRAIN_BACKEND_VULKAN : BRAIN_BACKEND_CPU;
    if (c.brain.backend == BRAIN_BACKEND_VULKAN)
        snprintf(c.brain.device, sizeof c.brain.device, "%s", a->device ? a->device : inlog_reader_device(r, seg));
    for (int i = 0; i < a->n_sets; i++) {
        char key[128];
        const char *eq = strchr(a->sets[i], '=');
        size_t kn = eq ? (size_t)(eq - a->sets[i]) : 0;
        if (!eq || kn >= sizeof key) {
            fprintf(stderr, "fieldbrain replay: --set %s: expected KEY=VALUE\n", a->sets[i]);
            return 2;
        }
        memcpy(key, a->sets[i], kn);
        key[kn] = '\0';
        static const char *const fixed[] = {"brain.size", "brain.size_x", "brain.size_y", "brain.size_z",
                                            "brain.channels", "brain.sensors", "brain.motors", "brain.seed",
                                            "brain.backend", "brain.device", "brain.precision"};
        for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++)
            if (strcmp(key, fixed[k]) == 0) {
                fprintf(stderr, "fieldbrain replay: --set %s: the log's checkpoints fix the field's shape "
                        "and seed, and --backend/--device choose where it runs\n", key);
                return 2;
            }
        if (strncmp(key, "brain.", 6) != 0) {
            fprintf(stderr, "fieldbrain replay: --set %s: only brain.* parameters change a replay\n", key);
            return 2;
        }
        if (config_set(&c, key, eq + 1, err, sizeof err) < 0 ||
            brain_params_check(&c.brain, err, sizeof err) < 0) {
            fprintf(stderr, "fieldbrain replay: --set: %s\n", err);
            return 2;
        }
    }
    *out = c.brain;
    return 0;
}

/* The brain the replay steps, from segment seg's checkpoint. */
static int make_brain(const replay_args *a, inlog_reader *r, uint32_t seg, bool *same_device, brain **out)
{
    char err[1024];
    const char *start = inlog_reader_start(r, seg);
    brain_params p;
    int rc = segment_params(a, r, seg, &p);
    if (rc)
        return rc;
    brain *b = NULL;
    if (brain_create(&p, &b, err, sizeof err) < 0) {
        fprintf(stderr, "fieldbrain replay: brain: %s\n", err);
        return 2;
    }
    if (brain_load(b, start, err, sizeof err) < 0) {
        fprintf(stderr, "fieldbrain replay: %s\n", err);
        brain_destroy(&b);
        return 2;
    }
    /* The CPU backend gives the same bits on any machine and thread count
     * (tests/test_brain_cpu.c); a GPU, on the same device. */
    const char *rec_backend = inlog_reader_backend(r, seg), *rec_device = inlog_reader_device(r, seg);
    bool cpu = brain_get_backend(b) == BRAIN_BACKEND_CPU;
    *same_device = strcmp(brain_backend_name(brain_get_backend(b)), rec_backend) == 0 &&
                   (cpu || strcmp(brain_device_name(b), rec_device) == 0);
    fprintf(stderr, "fieldbrain replay: %s from %s (brain cycle %llu) on %s: %s\n", a->log, start,
            (unsigned long long)brain_get_cycle(b), brain_backend_name(brain_get_backend(b)),
            brain_device_name(b));
    *out = b;
    return 0;
}

/* At the start of segment g (not the first): the values in force there, as
 * its checkpoint holds them (a live change starts a segment), and, after a
 * gap in the cycles, its state too. 0, or 2 with the sentence printed. */
static int enter_segment(const replay_args *a, inlog_reader *r, uint32_t g, brain *b, bool gap)
{
    char err[1024];
    brain_params p;
    int rc = segment_params(a, r, g, &p);
    if (rc)
        return rc;
    if (memcmp(&p, brain_get_params(b), sizeof p) != 0 && brain_set_params(b, &p, err, sizeof err) < 0) {
        fprintf(stderr, "fieldbrain replay: %s: %s\n", inlog_reader_start(r, g), err);
        return 2;
    }
    if (gap && brain_load(b, inlog_reader_start(r, g), err, sizeof err) < 0) {
        fprintf(stderr, "fieldbrain replay: %s\n", err);
        return 2;
    }
    return 0;
}

static int series_add(series *s, uint64_t cycle, const float *rec, const float *rep, float erec, float erep)
{
    if (s->n == s->cap) {
        uint64_t cap = s->cap ? 2 * s->cap : 4096;
        uint64_t *c = realloc(s->cycles, cap * sizeof *c);
        if (c)
            s->cycles = c;
        float *a = realloc(s->rec, cap * s->motors * sizeof *a);
        if (a)
            s->rec = a;
        float *b = realloc(s->rep, cap * s->motors * sizeof *b);
        if (b)
            s->rep = b;
        float *e = realloc(s->erec, cap * sizeof *e);
        if (e)
            s->erec = e;
        float *f = realloc(s->erep, cap * sizeof *f);
        if (f)
            s->erep = f;
        if (!c || !a || !b || !e || !f)
            return -1;
        s->cap = cap;
    }
    s->cycles[s->n] = cycle;
    memcpy(s->rec + s->n * s->motors, rec, s->motors * sizeof(float));
    memcpy(s->rep + s->n * s->motors, rep, s->motors * sizeof(float));
    s->erec[s->n] = erec;
    s->erep[s->n] = erep;
    s->n++;
    return 0;
}

static void series_free(series *s)
{
    free(s->cycles);
    free(s->rec);
    free(s->rep);
    free(s->erec);
    free(s->erep);
}

/* One .npy file: little-endian, C order. */
static int write_npy(const char *dir, const char *name, const char *descr, const void *data,
                     uint64_t rows, uint32_t cols, size_t elem)
{
    char path[PATH_MAX], header[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int n = cols ? snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%llu, %u), }",
                            descr, (unsigned long long)rows, cols)
                 : snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%llu,), }",
                            descr, (unsigned long long)rows);
    size_t total = (10 + (size_t)n + 1 + 63) / 64 * 64;
    size_t hlen = total - 10;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    fwrite(pre, 1, 10, f);
    fwrite(header, 1, (size_t)n, f);
    for (size_t i = 10 + (size_t)n; i < total - 1; i++)
        fputc(' ', f);
    fputc('\n', f);
    fwrite(data, elem, rows * (cols ? cols : 1), f);
    return fclose(f) == 0 ? 0 : -1;
}

static int write_out(const char *dir, const series *s, bool what_if)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "fieldbrain replay: --out %s: %s\n", dir, strerror(errno));
        return -1;
    }
    const char *rep = what_if ? "whatif" : "replayed";
    char mname[64], ename[64];
    snprintf(mname, sizeof mname, "motors_%s.npy", rep);
    snprintf(ename, sizeof ename, "energy_%s.npy", rep);
    if (write_npy(dir, "cycles.npy", "<u8", s->cycles, s->n, 0, 8) ||
        write_npy(dir, "motors_recorded.npy", "<f4", s->rec, s->n, s->motors, 4) ||
        write_npy(dir, mname, "<f4", s->rep, s->n, s->motors, 4) ||
        write_npy(dir, "energy_recorded.npy", "<f4", s->erec, s->n, 0, 4) ||
        write_npy(dir, ename, "<f4", s->erep, s->n, 0, 4)) {
        fprintf(stderr, "fieldbrain replay: --out %s: cannot write the .npy files\n", dir);
        return -1;
    }
    /* The plots: fieldbrain-replay-plot beside this program. */
    char self[PATH_MAX], plot[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 0;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(plot, sizeof plot, "%s/fieldbrain-replay-plot", self);
    if (access(plot, X_OK) != 0)
        return 0;
    char *args[] = {plot, (char *)dir, NULL};
    pid_t pid;
    if (posix_spawn(&pid, plot, NULL, NULL, args, environ) != 0)
        return 0;
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "fieldbrain replay: warning: the plots failed (%s %s)\n", plot, dir);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int app_replay_main(int argc, char **argv)
{
    replay_args a;
    if (parse_args(argc, argv, &a)) {
        usage(stderr);
        return 2;
    }
    char err[1024];
    inlog_reader *r = NULL;
    if (inlog_reader_open(a.log, &r, err, sizeof err) < 0) {
        fprintf(stderr, "fieldbrain replay: %s\n", err);
        return 2;
    }
    uint32_t nseg = inlog_reader_segments(r), seg = 0;
    for (uint32_t i = 0; i < nseg; i++)
        if (inlog_reader_first_cycle(r, i) <= a.from)
            seg = i;
    if (a.from && inlog_reader_first_cycle(r, seg) > a.from) {
        fprintf(stderr, "fieldbrain replay: --from %llu: the log begins at loop cycle %llu\n",
                (unsigned long long)a.from, (unsigned long long)inlog_reader_first_cycle(r, 0));
        inlog_reader_close(&r);
        return 2;
    }
    const uint64_t records = inlog_reader_records(r, nseg - 1);
    const uint64_t last = inlog_reader_first_cycle(r, nseg - 1) + records - 1;
    if (a.from && (records == 0 || a.from > last)) {
        fprintf(stderr, "fieldbrain replay: --from %llu: the log ends at loop cycle %llu\n",
                (unsigned long long)a.from, (unsigned long long)(records ? last : inlog_reader_first_cycle(r, nseg - 1) - 1));
        inlog_reader_close(&r);
        return 2;
    }
    bool what_if = a.n_sets > 0, same = false;
    brain *b = NULL;
    int status = make_brain(&a, r, seg, &same, &b);
    if (status) {
        inlog_reader_close(&r);
        return status;
    }
    uint32_t M = inlog_reader_motors(r), S = inlog_reader_sensors(r);
    const brain_params *p = brain_get_params(b);
    if (p->sensors != S || p->motors != M) {
        fprintf(stderr, "fieldbrain replay: %s: the log has %u sensors and %u motors, its checkpoint %u and %u\n",
                a.log, S, M, p->sensors, p->motors);
        brain_destroy(&b);
        inlog_reader_close(&r);
        return 2;
    }
    series s = {.motors = M};
    float *m = calloc(M, sizeof *m);
    uint64_t stepped = 0, faults = 0, differ = 0, first_cycle = 0, last_cycle = 0, prev = 0;
    uint64_t div_cycle = 0;
    uint32_t div_motor = 0;
    float div_rec = 0, div_rep = 0;
    double max_d = 0, sum_d = 0;
    int64_t t_first = 0, t_last = 0;
    double t0 = now_s();
    status = 0;
    for (uint32_t g = seg; g < nseg && status == 0; g++) {
        if (inlog_reader_seek(r, g, err, sizeof err) < 0) {
            fprintf(stderr, "fieldbrain replay: %s\n", err);
            status = 2;
            break;
        }
        if (g > seg) {
            /* Cycles missing between segments: only the next checkpoint
             * knows the state after the gap. */
            bool gap = inlog_reader_first_cycle(r, g) != prev + 1;
            if (gap)
                fprintf(stderr, "fieldbrain replay: loop cycles %llu to %llu are not in the log; "
                        "going on from %s\n", (unsigned long long)prev + 1,
                        (unsigned long long)inlog_reader_first_cycle(r, g) - 1, inlog_reader_start(r, g));
            if ((status = enter_segment(&a, r, g, b, gap)))
                break;
        }
        inlog_entry e = {0};
        int got;
        while ((got = inlog_reader_next(r, &e, err, sizeof err)) > 0) {
            if (e.cycle > a.until)
                break;
            prev = e.cycle;
            if (!first_cycle)
                first_cycle = e.cycle;
            last_cycle = e.cycle;
            if (e.flags & INLOG_FAULT) {
                faults++;
                brain_reset(b);
                continue;
            }
            if (e.flags & INLOG_RESET)
                brain_reset(b); /* asked for before this cycle (control reset) */
            if (!(e.flags & INLOG_STEPPED))
                continue;
            brain_stats st;
            int rc = brain_step(b, e.sensors, S, m, &st);
            if (rc) {
                fprintf(stderr, "fieldbrain replay: loop cycle %llu: the brain failed: %s\n",
                        (unsigned long long)e.cycle, brain_strerror(rc));
                status = 1;
                break;
            }
            if (!stepped)
                t_first = e.time_ns;
            t_last = e.time_ns;
            stepped++;
            /* While the link is lost the brain steps on with zero sensors
             * but publishes zeros (io/PROTOCOL.md): the published zeros are
             * what the log holds, and what the replay compares with. */
            if (e.flags & INLOG_LINK_LOST)
                memset(m, 0, M * sizeof *m);
            bool cycle_differs = false;
            for (uint32_t j = 0; j < M; j++) {
                double d = fabs((double)m[j] - (double)e.motors[j]);
                bool off = same ? memcmp(&m[j], &e.motors[j], sizeof(float)) != 0 : d > CROSS_BACKEND_TOLERANCE;
                if (d > max_d)
                    max_d = d;
                sum_d += d;
                if (off && !cycle_differs && !div_cycle) {
                    div_cycle = e.cycle;
                    div_motor = j;
                    div_rec = e.motors[j];
                    div_rep = m[j];
                }
                cycle_differs |= off;
            }
            differ += cycle_differs;
            if (a.out && series_add(&s, e.cycle, e.motors, m, e.energy, st.energy) != 0) {
                fprintf(stderr, "fieldbrain replay: out of memory for --out\n");
                status = 2;
                break;
            }
        }
        if (got < 0) {
            fprintf(stderr, "fieldbrain replay: %s\n", err);
            status = 2;
        } else if (got == 0 && inlog_reader_cut_bytes(r)) {
            fprintf(stderr, "fieldbrain replay: %s ends %zu bytes into a record (cut off, as a kill "
                    "leaves a log): read up to its last whole record\n", inlog_reader_path(r, g),
                    inlog_reader_cut_bytes(r));
        }
        if (e.cycle > a.until)
            break;
    }
    double wall = now_s() - t0;
    double span = (double)(t_last - t_first) / 1e9;
    if (status == 0 && !first_cycle) {
        /* nothing compared is no agreement */
        char upto[32] = " on";
        if (a.until != UINT64_MAX)
            snprintf(upto, sizeof upto, " to %llu", (unsigned long long)a.until);
        fprintf(stderr, "fieldbrain replay: %s holds no loop cycle from %llu%s: nothing to check\n",
                a.log, (unsigned long long)a.from, upto);
        status = 2;
    }
    if (status != 2) {
        fprintf(stdout, "replay: %llu cycles stepped (loop cycles %llu to %llu, %llu faults reset) in %.3f s: "
                "%.0f cycles/s", (unsigned long long)stepped, (unsigned long long)first_cycle,
                (unsigned long long)last_cycle, (unsigned long long)faults, wall,
                wall > 0 ? (double)stepped / wall : 0.0);
        if (span > 0 && wall > 0)
            fprintf(stdout, ", %.1f x real time", span / wall);
        fputc('\n', stdout);
        if (what_if) {
            fprintf(stdout, "what-if:");
            for (int i = 0; i < a.n_sets; i++)
                fprintf(stdout, " %s", a.sets[i]);
            fprintf(stdout, ": the motors moved from the recording by mean |d| %.6g, max |d| %.6g; "
                    "%llu of %llu cycles differ (first at loop cycle %llu)\n",
                    stepped ? sum_d / ((double)stepped * M) : 0.0, max_d, (unsigned long long)differ,
                    (unsigned long long)stepped, (unsigned long long)div_cycle);
        } else if (differ == 0 && status == 0) {
            fprintf(stdout, "motors: %s the recording (max |d| %.3g)\n",
                    same ? "bit-identical to" : "within the cross-backend tolerance of", max_d);
        } else {
            fprintf(stdout, "motors: diverge from the recording: first at loop cycle %llu, motor %u: "
                    "recorded %.9g, replayed %.9g; %llu of %llu cycles differ (max |d| %.3g, %s)\n",
                    (unsigned long long)div_cycle, div_motor, (double)div_rec, (double)div_rep,
                    (unsigned long long)differ, (unsigned long long)stepped, max_d,
                    same ? "bit for bit" : "tolerance 1e-4");
            status = 1;
        }
        if (a.out && write_out(a.out, &s, what_if) != 0)
            status = 2;
    }
    free(m);
    series_free(&s);
    brain_destroy(&b);
    inlog_reader_close(&r);
    return what_if && status == 1 ? 0 : status;
}
