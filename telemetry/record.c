/* record.c: fieldbrain-record, writes a brain's telemetry to a folder for
 * later study: stats.jsonl, events.jsonl, slices.jsonl (headers) and one PNG
 * per slice. Bounded in size (older data rotated or deleted) and stopped
 * cleanly by SIGINT or SIGTERM. A fleet's robots share the files: each line
 * says whose it is (robot_id), and slice files carry the robot's id.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"

#include "json.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fieldbrain-record ENDPOINT DIR [--max-mb N] [--duration SECONDS] [--keys FILE]\n"
            "\n"
            "Records a brain's telemetry (telemetry.endpoint) into DIR:\n"
            "  stats.jsonl    one stats message a line (stats.1.jsonl: the part before)\n"
            "  events.jsonl   one event a line (events.1.jsonl: the part before)\n"
            "  slices.jsonl   one slice header a line, with the PNG's \"file\" name\n"
            "  slice-CYCLE.png (a fleet's: slice-ID-CYCLE.png, ID the robot's)\n"
            "A brain serving a fleet: every robot's messages in the same files, each\n"
            "line with its robot_id (fieldbrain-plot draws each robot apart).\n"
            "Bounded: at most N MiB (default 256) in all; the oldest stats, events and\n"
            "slice headers are rotated away, and the oldest slices deleted with them.\n"
            "DIR must not hold a recording already. SIGINT, SIGTERM or SIGHUP stops it\n"
            "cleanly; --duration stops it after that many seconds.\n"
            "  --keys FILE   connect with CURVE, for a brain whose telemetry is encrypted\n"
            "                (link.curve_secret_key or telemetry.curve_secret_key set).\n"
            "                FILE holds three lines, '#' lines are comments:\n"
            "                  server-key Z85   the brain's public key\n"
            "                  public-key Z85   this subscriber's, on the brain's allow-list\n"
            "                  secret-key Z85   this subscriber's (keep FILE private)\n"
            "                Without the right keys the handshake fails and nothing arrives.\n");
}

typedef struct {
    char path[4096], old[4096];
    FILE *f;
    uint64_t bytes, cap;   /* this file; rotated at cap */
    uint64_t lines;
    uint64_t gen;          /* rotations so far: the current file's generation */
} jsonl;

/* Whether topic is of family fam: fam itself (one robot) or fam/ID/ (a
 * fleet, README.md "Fleets"). */
static bool of_family(const char *topic, const char *fam)
{
    size_t fl = strlen(fam);
    return strncmp(topic, fam, fl) == 0 && (topic[fl] == '\0' || topic[fl] == '/');
}

static int jsonl_open(jsonl *j, const char *dir, const char *name, uint64_t cap)
{
    snprintf(j->path, sizeof j->path, "%s/%s.jsonl", dir, name);
    snprintf(j->old, sizeof j->old, "%s/%s.1.jsonl", dir, name);
    j->cap = cap;
    j->f = fopen(j->path, "w");
    return j->f ? 0 : -1;
}

static int jsonl_write(jsonl *j, const char *text, size_t len)
{
    if (j->bytes + len + 1 > j->cap && j->bytes > 0) {
        /* keep the newest: this file becomes .1 (the older .1 goes) */
        fclose(j->f);
        rename(j->path, j->old);
        j->f = fopen(j->path, "w");
        j->bytes = 0;
        j->gen++;
        if (!j->f)
            return -1;
    }
    if (fwrite(text, 1, len, j->f) != len || fputc('\n', j->f) == EOF)
        return -1;
    j->bytes += len + 1;
    j->lines++;
    return 0;
}

typedef struct {
    char name[80];
    uint64_t bytes;
    uint64_t gen;   /* the generation of slices.jsonl that holds its header */
} slice_file;

/* The slices on disk, oldest first: a ring of their names and sizes. */
typedef struct {
    slice_file *at;
    size_t cap, head, n;
    uint64_t bytes, deleted;
} slice_ring;

/* Deletes the oldest slice from dir and the ring (n > 0). */
static void drop_oldest(slice_ring *r, const char *dir)
{
    const slice_file *old = &r->at[r->head];
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, old->name);
    unlink(path);
    r->bytes -= old->bytes;
    r->head = (r->head + 1) % r->cap;
    r->n--;
    r->deleted++;
}

/* Whether dir holds a recording already (what this program writes there):
 * two recordings in one directory would read as one. The first file found
 * goes to found (cap bytes). */
static bool recording_in(const char *dir, char *found, size_t cap)
{
    static const char *const names[] = {"stats.jsonl", "stats.1.jsonl", "events.jsonl", "events.1.jsonl",
                                        "slices.jsonl", "slices.1.jsonl"};
    char path[4200];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (access(path, F_OK) == 0) {
            snprintf(found, cap, "%s", names[i]);
            return true;
        }
    }
    DIR *d = opendir(dir);
    bool hit = false;
    for (struct dirent *e; d && !hit && (e = readdir(d));)
        if (strncmp(e->d_name, "slice-", 6) == 0 && strstr(e->d_name, ".png")) {
            snprintf(found, cap, "%.63s", e->d_name);
            hit = true;
        }
    if (d)
        closedir(d);
    return hit;
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *dir = NULL;
    const char *keys_path = NULL;
    double max_mb = 256, duration = 0;
    for (int i = 1; i < argc; i++) {
        const bool takes = strcmp(argv[i], "--max-mb") == 0 || strcmp(argv[i], "--duration") == 0 ||
                           strcmp(argv[i], "--keys") == 0;
        if (takes && i + 1 == argc) {
            fprintf(stderr, "fieldbrain-record: %s needs a value\n", argv[i]);
            return 2;
        }
        if ((strcmp(argv[i], "--max-mb") == 0 || strcmp(argv[i], "--duration") == 0) && i + 1 < argc) {
            char *end;
            double v = strtod(argv[i + 1], &end);
            if (*end || !(v > 0)) {
                fprintf(stderr, "fieldbrain-record: %s: '%s' is not a positive number\n", argv[i], argv[i + 1]);
                return 2;
            }
            if (argv[i][2] == 'm')
                max_mb = v;
            else
                duration = v;
            i++;
        } else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc) {
            keys_path = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "fieldbrain-record: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!endpoint) {
            endpoint = argv[i];
        } else if (!dir) {
            dir = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!endpoint || !dir) {
        usage(stderr);
        return 2;
    }
    curve_client keys;
    char kerr[512];
    if (keys_path && curve_client_read(keys_path, &keys, kerr, sizeof kerr) < 0) {
        fprintf(stderr, "fieldbrain-record: %s\n", kerr);
        return 2;
    }
    if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
        fprintf(stderr, "fieldbrain-record: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char already[64];
    if (recording_in(dir, already, sizeof already)) {
        fprintf(stderr, "fieldbrain-record: %s holds a recording already (%s): give a new or empty "
                "directory (two recordings in one would read as one)\n", dir, already);
        return 2;
    }
    uint64_t budget = (uint64_t)(max_mb * 1024 * 1024);
    /* Shares of the budget: each JSONL stream may hold two files of its cap. */
    uint64_t stats_cap = budget * 20 / 100, events_cap = budget * 4 / 100;
    uint64_t headers_cap = budget / 200 + 4096; /* slices.jsonl, two files of it too */
    uint64_t fixed = 2 * stats_cap + 2 * events_cap + 2 * headers_cap + budget / 100;
    uint64_t slices_cap = budget > fixed ? budget - fixed : 0;
    jsonl stats = {0}, events = {0}, slices = {0};
    if (jsonl_open(&stats, dir, "stats", stats_cap) < 0 || jsonl_open(&events, dir, "events", events_cap) < 0 ||
        jsonl_open(&slices, dir, "slices", headers_cap)) {
        fprintf(stderr, "fieldbrain-record: cannot write in %s: %s\n", dir, strerror(errno));
        return 1;
    }
    slice_ring kept = {.cap = 65536};
    kept.at = calloc(kept.cap, sizeof *kept.at);
    static char frame[1 << 20];
    static char line[1 << 20];
    static unsigned char png[1 << 24];
    static json_node nodes[512];
    if (!kept.at) {
        fprintf(stderr, "fieldbrain-record: out of memory\n");
        return 1;
    }
    uint64_t n_png = 0, n_bad = 0;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int zero = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    if (keys_path && curve_client_setup(sub, &keys, kerr, sizeof kerr) < 0) {
        fprintf(stderr, "fieldbrain-record: %s\n", kerr);
        return 2;
    }
    if (zmq_connect(sub, endpoint) < 0) {
        fprintf(stderr, "fieldbrain-record: cannot connect to %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        return 2;
    }
    fprintf(stderr, "fieldbrain-record: recording %s into %s (at most %g MiB)\n", endpoint, dir, max_mb);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double start = ts.tv_sec + ts.tv_nsec * 1e-9, last_msg = start, last_flush = start;
    bool said_nothing = false;
    int status = 0;
    while (!g_stop) {
        zmq_pollitem_t it = {sub, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, 200);
        if (rc < 0 && zmq_errno() != EINTR)
            break;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double now = ts.tv_sec + ts.tv_nsec * 1e-9;
        if (duration > 0 && now - start >= duration)
            break;
        if (now - last_msg > 5 && !said_nothing) {
            fprintf(stderr, "fieldbrain-record: nothing received from %s for 5 s: is fieldbrain running with "
                            "telemetry.enabled and this telemetry.endpoint? (still waiting)\n", endpoint);
            said_nothing = true;
        }
        if (now - last_flush > 1) {
            fflush(stats.f);
            fflush(events.f);
            fflush(slices.f);
            last_flush = now;
        }
        while (rc > 0) {
            char topic[32];
            int tn = zmq_recv(sub, topic, sizeof topic - 1, ZMQ_DONTWAIT);
            if (tn < 0)
                break;
            topic[tn < (int)sizeof topic - 1 ? tn : (int)sizeof topic - 1] = '\0';
            int more = 0, fn = 0, pn = -1;
            size_t ml = sizeof more;
            zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &ml);
            if (more) {
                fn = zmq_recv(sub, frame, sizeof frame - 1, 0);
                zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &ml);
            }
            if (more) {
                pn = zmq_recv(sub, png, sizeof png, 0);
                zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &ml);
            }
            while (more) { /* not ours: skip */
                char skip[1];
                zmq_recv(sub, skip, sizeof skip, 0);
                zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &ml);
            }
            last_msg = now;
            said_nothing = false;
            if (fn <= 0 || fn >= (int)sizeof frame - 1 || json_parse(frame, (size_t)fn, nodes, 512) <= 0) {
                n_bad++;
                continue;
            }
            frame[fn] = '\0';
            int werr = 0;
            if (of_family(topic, "stats")) {
                werr = jsonl_write(&stats, frame, (size_t)fn);
            } else if (of_family(topic, "event")) {
                werr = jsonl_write(&events, frame, (size_t)fn);
            } else if (of_family(topic, "slice") && pn > 0 && pn <= (int)sizeof png) {
                slice_file sf;
                /* A fleet's robots have cycle numbers of their own: the
                 * robot's id keeps two robots' slices of one cycle apart. */
                if (strcmp(topic, "slice") == 0)
                    snprintf(sf.name, sizeof sf.name, "slice-%09.0f.png", json_num(nodes, 0, "cycle", 0));
                else
                    snprintf(sf.name, sizeof sf.name, "slice-%.0f-%09.0f.png",
                             json_num(nodes, 0, "robot_id", 0), json_num(nodes, 0, "cycle", 0));
                sf.bytes = (uint64_t)pn;
                char path[4200];
                /* a brain that restarted numbers its cycles again: its
                 * slice of a cycle seen before gets a name of its own */
                snprintf(path, sizeof path, "%s/%s", dir, sf.name);
                char base[80];
                snprintf(base, sizeof base, "%.*s", (int)(strlen(sf.name) - 4), sf.name);
                for (unsigned k = 1; access(path, F_OK) == 0 && k < 1000; k++) {
                    snprintf(sf.name, sizeof sf.name, "%.70s.%u.png", base, k);
                    snprintf(path, sizeof path, "%s/%s", dir, sf.name);
                }
                /* make room first: the oldest slices go */
                while (kept.n > 0 && (kept.bytes + sf.bytes > slices_cap || kept.n == kept.cap))
                    drop_oldest(&kept, dir);
                snprintf(path, sizeof path, "%s/%s", dir, sf.name);
                FILE *f = fopen(path, "wb");
                if (!f || fwrite(png, 1, (size_t)pn, f) != (size_t)pn || fclose(f) != 0) {
                    werr = -1;
                } else {
                    kept.at[(kept.head + kept.n++) % kept.cap] = sf;
                    kept.bytes += sf.bytes;
                    n_png++;
                    /* the header with the file name added as its first key */
                    int ln = snprintf(line, sizeof line, "{\"file\":\"%s\",%s", sf.name, frame + 1);
                    if (ln > 0 && ln < (int)sizeof line)
                        werr = jsonl_write(&slices, line, (size_t)ln);
                    kept.at[(kept.head + kept.n - 1) % kept.cap].gen = slices.gen;
                    /* a rotation dropped the headers of the generation
                     * before last: their slices go with them */
                    while (kept.n > 0 && kept.at[kept.head].gen + 1 < slices.gen)
                        drop_oldest(&kept, dir);
                }
            } else {
                n_bad++;
            }
            if (werr < 0) {
                fprintf(stderr, "fieldbrain-record: cannot write in %s: %s\n", dir, strerror(errno));
                status = 1;
                g_stop = 1;
                break;
            }
        }
    }
    fclose(stats.f);
    fclose(events.f);
    fclose(slices.f);
    if (stats.lines + events.lines + n_png + n_bad == 0)
        fprintf(stderr, "fieldbrain-record: warning: nothing came from %s (is the brain running there, "
                "with telemetry on? under CURVE, is this key on its allow-list?)\n", endpoint);
    fprintf(stderr,
            "fieldbrain-record: stopped; %llu stats, %llu events, %llu slices recorded in %s "
            "(%llu old slices deleted to stay within %g MiB, %llu unreadable messages)\n",
            (unsigned long long)stats.lines, (unsigned long long)events.lines, (unsigned long long)n_png, dir,
            (unsigned long long)kept.deleted, max_mb, (unsigned long long)n_bad);
    free(kept.at);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return status;
}
