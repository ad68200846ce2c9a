/* monitor.c: fieldbrain-monitor, a live terminal view of a running brain's
 * telemetry (rate, timing, overruns, energy trend, motors, links, bad input,
 * recent events). Redraws in place with plain ANSI (works in tmux); --once
 * prints one snapshot, --json passes the messages through for jq. A brain
 * serving a fleet gets a table, one line per robot; --robot ID shows one
 * robot in detail.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"

#include "json.h"

#define DEFAULT_ENDPOINT "tcp://127.0.0.1:5557"
#define TREND 48
#define MAX_SHOWN_MOTORS 16
#define MAX_EVENTS 5
#define MAX_CHANGES 5
#define MAX_NODES 4096
#define MAX_ROBOTS 1024          /* lines of the fleet table (TELEMETRY_MAX_ROBOTS) */
#define TABLE_MOTORS 4           /* motors shown per robot in the table */

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* One robot's line of the fleet table. */
typedef struct {
    uint32_t id;
    bool link_up;
    double cycle, rate_hz, energy;   /* rate, energy: NAN unknown */
    float motors[TABLE_MOTORS];
    int n_motors;                    /* all of them; TABLE_MOTORS at most shown */
    double seen_s;                   /* monotonic seconds of its last stats */
} robot_line;

typedef struct {
    bool have_stats;
    char stats[16384];      /* the latest stats JSON */
    size_t stats_len;
    float trend[TREND];     /* energy, oldest first */
    double energy;          /* the last measured energy */
    int trend_n;
    char events[MAX_EVENTS][160];
    int n_events;
    char changes[MAX_CHANGES][160];  /* the last param_changed events (fieldbrain-ctl set) */
    int n_changes;
    uint64_t messages;
    double last_msg_s;      /* monotonic seconds */
    /* The fleet: one line per robot seen, by id; the fleet's size as the
     * stats say (n_robots; 1 from a brain without fleets). */
    robot_line robots[MAX_ROBOTS];
    int n_robots_seen;
    uint32_t fleet_size;
    bool fleet_events;      /* the events list shows whose each is */
} view;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fieldbrain-monitor [ENDPOINT] [--once] [--json] [--timeout SECONDS]\n"
            "                          [--robot ID] [--keys FILE]\n"
            "\n"
            "Shows what a running fieldbrain is doing, from its telemetry socket\n"
            "(telemetry.endpoint, default " DEFAULT_ENDPOINT ").\n"
            "A brain with one robot: that robot in detail. A brain serving a fleet:\n"
            "one line per robot (id, link, cycle, cycles per second, energy, the\n"
            "first motors) and the fleet's latest events.\n"
            "  --robot ID    only robot ID, in detail (its stats, its events and the\n"
            "                fleet's); with --json, only its messages\n"
            "  --once        print one snapshot and exit (1 if nothing arrives in time);\n"
            "                the fleet table once every robot has been heard from, or\n"
            "                at --timeout with those that were\n"
            "  --json        print each message as one JSON line (stats, event, slice\n"
            "                headers) for jq; with --once, the first stats only\n"
            "  --timeout S   --once: how long to wait (default 5); live: after how long\n"
            "                without messages to say so (default 2)\n"
            "  --keys FILE   connect with CURVE, for a brain whose telemetry is encrypted\n"
            "                (link.curve_secret_key or telemetry.curve_secret_key set).\n"
            "                FILE holds three lines, '#' lines are comments:\n"
            "                  server-key Z85   the brain's public key\n"
            "                  public-key Z85   this subscriber's, on the brain's allow-list\n"
            "                  secret-key Z85   this subscriber's (keep FILE private)\n"
            "                Without the right keys the handshake fails and nothing arrives.\n");
}

/* Human-readable duration from nanoseconds. */
static void fmt_ns(char *out, size_t n, double ns)
{
    if (ns < 0)
        snprintf(out, n, "-");
    else if (ns < 1e3)
        snprintf(out, n, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(out, n, "%.1f us", ns / 1e3);
    else if (ns < 1e9)
        snprintf(out, n, "%.2f ms", ns / 1e6);
    else
        snprintf(out, n, "%.2f s", ns / 1e9);
}

static bool utf8_terminal(void)
{
    const char *vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return strstr(v, "UTF-8") || strstr(v, "utf8") || strstr(v, "UTF8") || strstr(v, "utf-8");
    }
    return false;
}

typedef struct {
    char *buf;
    size_t cap, len;
    bool ansi;
} screen;

static void line(screen *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(screen *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        s->len += (size_t)n < s->cap - s->len ? (size_t)n : s->cap - s->len - 1;
    const char *end = s->ansi ? "\x1b[K\n" : "\n";
    int m = snprintf(s->buf + s->len, s->cap - s->len, "%s", end);
    if (m > 0)
        s->len += (size_t)m < s->cap - s->len ? (size_t)m : s->cap - s->len - 1;
}

static void render_events(const view *v, screen *s)
{
    if (v->n_changes) {
        line(s, "changes:");
        for (int i = 0; i < v->n_changes; i++)
            line(s, "  %s", v->changes[i]);
    }
    line(s, "events%s", v->n_events ? ":" : "     (none yet)");
    for (int i = 0; i < v->n_events; i++)
        line(s, "  %s", v->events[i]);
}

/* The fleet at a glance: the fleet's timing from the latest stats (the
 * same for every robot of a tick), then one line per robot. */
static void render_fleet(const view *v, const char *endpoint, double timeout_s, screen *s, bool utf8)
{
    static json_node nodes[MAX_NODES];
    double now = now_s(), idle = now - v->last_msg_s;
    if (json_parse(v->stats, v->stats_len, nodes, MAX_NODES) <= 0) {
        line(s, "fieldbrain-monitor: the last stats message was not JSON");
        return;
    }
    const json_node *n = nodes;
    char dev[128], backend[32], a[32], b[32];
    json_str(n, 0, "device", dev, sizeof dev);
    json_str(n, 0, "backend", backend, sizeof backend);
    line(s, "fieldbrain-monitor  %s  fleet of %u robots (%d heard from)  %s (%s)", endpoint,
         v->fleet_size, v->n_robots_seen, dev, backend);
    if (idle > timeout_s)
        line(s, "!! nothing received for %.0f s: the brain may have stopped or its telemetry is blocked", idle);
    else
        line(s, "%s", "");
    double target = json_num(n, 0, "rate_hz_target", 0);
    fmt_ns(a, sizeof a, json_num(n, 0, "work.p99_ns", -1));
    fmt_ns(b, sizeof b, json_num(n, 0, "lateness.p99_ns", -1));
    char tgt[48];
    snprintf(tgt, sizeof tgt, target > 0 ? "%g Hz configured" : "lockstep", target);
    line(s, "fleet      %s  work p99 %s  lateness p99 %s  overruns %.0f", tgt, a, b,
         json_num(n, 0, "overruns", 0));
    line(s, "%s", "");
    line(s, "%10s  %-5s %12s %10s %-11s %s", "robot", "link", "cycle", "cycles/s", "energy", "motors");
    for (int i = 0; i < v->n_robots_seen; i++) {
        const robot_line *r = &v->robots[i];
        char rate[24] = "-", energy[24] = "-", motors[96] = "";
        if (!isnan(r->rate_hz))
            snprintf(rate, sizeof rate, "%.1f", r->rate_hz);
        if (!isnan(r->energy))
            snprintf(energy, sizeof energy, "%.5g", r->energy);
        size_t used = 0;
        for (int k = 0; k < r->n_motors && k < TABLE_MOTORS; k++)
            used += (size_t)snprintf(motors + used, sizeof motors - used, "%s%+.2f", k ? " " : "",
                                     r->motors[k]);
        if (r->n_motors > TABLE_MOTORS)
            snprintf(motors + used, sizeof motors - used, " %s(%d)", utf8 ? "\xe2\x80\xa6" : "...",
                     r->n_motors);
        /* A robot whose stats stopped while others' go on. */
        const char *link = now - r->seen_s > timeout_s ? "quiet" : r->link_up ? "up" : "lost";
        line(s, "%10u  %-5s %12.0f %10s %-11s %s", r->id, link, r->cycle, rate, energy, motors);
    }
    line(s, "%s", "");
    render_events(v, s);
}

static uint32_t message_robot(const json_node *n, bool *fleet);

/* One robot in detail; one_of (--robot) names it in the header even when
 * the brain serves it alone. */
static void render(const view *v, const char *endpoint, double timeout_s, screen *s, bool utf8, bool one_of)
{
    static json_node nodes[MAX_NODES];
    double idle = now_s() - v->last_msg_s;
    if (!v->have_stats) {
        line(s, "fieldbrain-monitor: %s", endpoint);
        line(s, "%s", "");
        line(s, "nothing received yet from %s: is fieldbrain running with telemetry.enabled", endpoint);
        line(s, "and this telemetry.endpoint? (waiting; Ctrl-C to quit)");
        return;
    }
    if (json_parse(v->stats, v->stats_len, nodes, MAX_NODES) <= 0) {
        line(s, "fieldbrain-monitor: the last stats message was not JSON");
        return;
    }
    const json_node *n = nodes;
    char dev[128], backend[32], a[32], b[32], c[32], d[32];
    json_str(n, 0, "device", dev, sizeof dev);
    json_str(n, 0, "backend", backend, sizeof backend);
    char who[48] = "";
    if (v->fleet_size > 1 || one_of) {
        bool fleet;
        snprintf(who, sizeof who, "  robot %u of %u", message_robot(n, &fleet), v->fleet_size);
    }
    line(s, "fieldbrain-monitor  %s%s  cycle %.0f  %s (%s)", endpoint, who, json_num(n, 0, "cycle", 0),
         dev, backend);
    if (idle > timeout_s)
        line(s, "!! nothing received for %.0f s: the brain may have stopped or its telemetry is blocked", idle);
    else
        line(s, "%s", "");
    double target = json_num(n, 0, "rate_hz_target", 0), rate = json_num(n, 0, "rate_hz", -1);
    if (target > 0)
        line(s, "rate       %8.1f Hz of %g Hz configured (%.1f%%)", rate, target, rate >= 0 ? 100 * rate / target : 0);
    else
        line(s, "rate       %8.1f Hz (lockstep: one cycle per sensor message)", rate);
    fmt_ns(a, sizeof a, json_num(n, 0, "lateness.p50_ns", -1));
    fmt_ns(b, sizeof b, json_num(n, 0, "lateness.p99_ns", -1));
    fmt_ns(c, sizeof c, json_num(n, 0, "lateness.max_ns", -1));
    fmt_ns(d, sizeof d, json_num(n, 0, "lateness_ns", -1));
    line(s, "lateness   p50 %-10s p99 %-10s max %-10s now %s", a, b, c, d);
    fmt_ns(a, sizeof a, json_num(n, 0, "work.p50_ns", -1));
    fmt_ns(b, sizeof b, json_num(n, 0, "work.p99_ns", -1));
    fmt_ns(c, sizeof c, json_num(n, 0, "work.max_ns", -1));
    fmt_ns(d, sizeof d, json_num(n, 0, "work_ns", -1));
    double gpu = json_num(n, 0, "gpu_ms", -1);
    char g[32] = "-";
    if (gpu >= 0)
        fmt_ns(g, sizeof g, gpu * 1e6);
    line(s, "work       p50 %-10s p99 %-10s max %-10s now %-10s gpu %s", a, b, c, d, g);
    line(s, "overruns   %.0f   skipped ticks %.0f", json_num(n, 0, "overruns", 0), json_num(n, 0, "skipped_ticks", 0));

    /* energy trend, scaled to its own range */
    char spark[TREND * 4 + 1] = "";
    float lo = 1e30f, hi = -1e30f;
    for (int i = 0; i < v->trend_n; i++) {
        lo = v->trend[i] < lo ? v->trend[i] : lo;
        hi = v->trend[i] > hi ? v->trend[i] : hi;
    }
    static const char *blocks[] = {"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
                                   "\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88"};
    static const char ascii[] = "_.-:=+*#";
    for (int i = 0; i < v->trend_n; i++) {
        int k = hi > lo ? (int)((v->trend[i] - lo) / (hi - lo) * 7.0f + 0.5f) : 0;
        if (utf8)
            strcat(spark, blocks[k]);
        else
            strncat(spark, &ascii[k], 1);
    }
    line(s, "energy     %-10.5g saturated %.3g%%  %s", v->energy,
         100 * json_num(n, 0, "saturated", 0), spark);
    char steps[64] = "";
    if (json_num(n, 0, "steps.diffusion", 0)) strcat(steps, " diffusion");
    if (json_num(n, 0, "steps.noise", 0)) strcat(steps, " noise");
    if (json_num(n, 0, "steps.energy", 0)) strcat(steps, " energy");
    line(s, "steps run %s", steps[0] ? steps : " (none this cycle)");

    int m = json_get(n, 0, "motors");
    int k = 0;
    for (int i = m >= 0 ? n[m].child : -1; i >= 0 && k < MAX_SHOWN_MOTORS; i = n[i].next, k++) {
        double val = n[i].type == JSON_NUM ? n[i].num : 0;
        char bar[48];
        int half = 15, pos = (int)(val * half + (val >= 0 ? 0.5 : -0.5));
        pos = pos < -half ? -half : pos > half ? half : pos;
        int o = 0;
        bar[o++] = '[';
        for (int j = -half; j <= half; j++)
            bar[o++] = j == 0 ? '|' : ((pos < 0 && j >= pos && j < 0) || (pos > 0 && j <= pos && j > 0)) ? '#' : ' ';
        bar[o++] = ']';
        bar[o] = '\0';
        line(s, "motor %-3d  %s %+.3f", k, bar, val);
    }
    if (json_count(n, m) > MAX_SHOWN_MOTORS)
        line(s, "           (%d more motors)", json_count(n, m) - MAX_SHOWN_MOTORS);
    int links = json_get(n, 0, "links");
    for (int i = links >= 0 ? n[links].child : -1; i >= 0; i = n[i].next) {
        char state[16];
        json_str(n, i, "state", state, sizeof state);
        fmt_ns(a, sizeof a, json_num(n, i, "sensor_age_ns", -1));
        line(s, "robot %-4.0f link %-5s sensor age %-10s answering seq %.0f", json_num(n, i, "robot_id", 0),
             state, a, json_num(n, i, "answer_seq", 0));
    }
    char bad[512] = "";
    int bi = json_path(n, 0, "input.bad");
    for (int i = bi >= 0 ? n[bi].child : -1; i >= 0; i = n[i].next) {
        char item[64];
        snprintf(item, sizeof item, " %.*s %.0f", (int)n[i].key_len, n[i].key, n[i].num);
        if (strlen(bad) + strlen(item) < sizeof bad)
            strcat(bad, item);
    }
    line(s, "input      received %.0f  skipped %.0f  bad %.0f:%s", json_num(n, 0, "input.received", 0),
         json_num(n, 0, "input.skipped", 0), json_num(n, 0, "input.bad_total", 0), bad);
    line(s, "telemetry  dropped stats %.0f events %.0f slices %.0f (plane read failed %.0f)",
         json_num(n, 0, "telemetry.dropped_stats", 0), json_num(n, 0, "telemetry.dropped_events", 0),
         json_num(n, 0, "telemetry.dropped_slices", 0), json_num(n, 0, "telemetry.slice_read_failed", 0));
    render_events(v, s);
}

/* The robot a message is about: its robot_id (null: the whole fleet's,
 * *fleet set), else for stats of a brain before fleets its first link's. */
static uint32_t message_robot(const json_node *n, bool *fleet)
{
    *fleet = false;
    int at = json_get(n, 0, "robot_id");
    if (at >= 0 && n[at].type == JSON_NULL) {
        *fleet = true;
        return 0;
    }
    if (at >= 0 && n[at].type == JSON_NUM)
        return (uint32_t)n[at].num;
    int links = json_get(n, 0, "links");
    return links >= 0 && n[links].child >= 0 ? (uint32_t)json_num(n, n[links].child, "robot_id", 0) : 0;
}

/* Whether a message passes --robot: that robot's, or (events) the fleet's. */
static bool robot_wanted(const char *json, size_t len, bool has_filter, uint32_t want)
{
    static json_node nodes[MAX_NODES];
    if (!has_filter)
        return true;
    if (json_parse(json, len, nodes, MAX_NODES) <= 0)
        return false;
    bool fleet;
    uint32_t id = message_robot(nodes, &fleet);
    return fleet || id == want;
}

/* The robot's line of the table, made (in id order) when it is new; NULL
 * when the table is full. */
static robot_line *robot_line_of(view *v, uint32_t id)
{
    int i = 0;
    while (i < v->n_robots_seen && v->robots[i].id < id)
        i++;
    if (i < v->n_robots_seen && v->robots[i].id == id)
        return &v->robots[i];
    if (v->n_robots_seen == MAX_ROBOTS)
        return NULL;
    memmove(&v->robots[i + 1], &v->robots[i], sizeof v->robots[0] * (size_t)(v->n_robots_seen - i));
    v->n_robots_seen++;
    memset(&v->robots[i], 0, sizeof v->robots[i]);
    v->robots[i].id = id;
    return &v->robots[i];
}

static void take_robot_line(view *v, const json_node *n)
{
    bool fleet;
    robot_line *r = robot_line_of(v, message_robot(n, &fleet));
    double size = json_num(n, 0, "n_robots", 1);
    v->fleet_size = size >= 1 ? (uint32_t)size : 1;
    if (!r)
        return;
    int links = json_get(n, 0, "links");
    char state[16] = "";
    if (links >= 0 && n[links].child >= 0)
        json_str(n, n[links].child, "state", state, sizeof state);
    r->link_up = strcmp(state, "up") == 0;
    r->cycle = json_num(n, 0, "cycle", 0);
    r->rate_hz = json_num(n, 0, "rate_hz", NAN);
    double energy = json_num(n, 0, "energy", NAN);
    r->energy = isnan(energy) ? r->energy : energy; /* keep the last measured */
    if (r->seen_s == 0 && isnan(energy))
        r->energy = NAN;
    int m = json_get(n, 0, "motors");
    r->n_motors = m >= 0 ? json_count(n, m) : 0;
    int k = 0;
    for (int i = m >= 0 ? n[m].child : -1; i >= 0 && k < TABLE_MOTORS; i = n[i].next, k++)
        r->motors[k] = n[i].type == JSON_NUM ? (float)n[i].num : 0;
    r->seen_s = now_s();
}

static void take_event(view *v, const char *json, size_t len)
{
    static json_node nodes[64];
    if (json_parse(json, len, nodes, 64) <= 0)
        return;
    char kind[32], reason[32], detail[128];
    json_str(nodes, 0, "kind", kind, sizeof kind);
    json_str(nodes, 0, "reason", reason, sizeof reason);
    if (strcmp(kind, "param_changed") == 0) {
        /* kept apart, so the bursts of other events never push them out */
        json_str(nodes, 0, "detail", detail, sizeof detail);
        if (v->n_changes == MAX_CHANGES) {
            memmove(v->changes[0], v->changes[1], sizeof v->changes[0] * (MAX_CHANGES - 1));
            v->n_changes--;
        }
        snprintf(v->changes[v->n_changes++], sizeof v->changes[0], "cycle %-8.0f %s",
                 json_num(nodes, 0, "cycle", 0), detail);
        return;
    }
    if (v->n_events == MAX_EVENTS) {
        memmove(v->events[0], v->events[1], sizeof v->events[0] * (MAX_EVENTS - 1));
        v->n_events--;
    }
    bool fleet;
    uint32_t id = message_robot(nodes, &fleet);
    char who[24];
    if (fleet)
        snprintf(who, sizeof who, "fleet");
    else
        snprintf(who, sizeof who, "robot %u", id);
    snprintf(v->events[v->n_events++], sizeof v->events[0], "cycle %-8.0f %-18s %s%s%s count %.0f",
             json_num(nodes, 0, "cycle", 0), kind, who, reason[0] ? " " : "",
             reason, json_num(nodes, 0, "count", 0));
}

static void take_stats(view *v, const char *json, size_t len)
{
    static json_node nodes[MAX_NODES];
    if (len >= sizeof v->stats || json_parse(json, len, nodes, MAX_NODES) <= 0)
        return;
    memcpy(v->stats, json, len);
    v->stats_len = len;
    v->have_stats = true;
    take_robot_line(v, nodes);
    /* energy is null on cycles that did not measure it (the Vulkan
     * backend's lazy cycles): the trend and the display keep the last
     * measured value rather than dipping to zero. */
    double energy = json_num(nodes, 0, "energy", NAN);
    if (isnan(energy))
        return;
    v->energy = energy;
    if (v->trend_n == TREND) {
        memmove(v->trend, v->trend + 1, sizeof(float) * (TREND - 1));
        v->trend_n--;
    }
    v->trend[v->trend_n++] = (float)energy;
}

/* Whether topic is of family fam: fam itself (one robot) or fam/ID/ (a
 * fleet, README.md "Fleets"). */
static bool of_family(const char *topic, const char *fam)
{
    size_t fl = strlen(fam);
    return strncmp(topic, fam, fl) == 0 && (topic[fl] == '\0' || topic[fl] == '/');
}

/* The fleet table once the stats say the brain serves more than one robot
 * (or more than one was heard from); one robot in detail otherwise, and
 * always with --robot. */
static bool fleet_view(const view *v, bool has_filter)
{
    return !has_filter && (v->fleet_size > 1 || v->n_robots_seen > 1);
}

static void render_view(const view *v, const char *endpoint, double timeout_s, screen *s, bool utf8,
                        bool has_filter)
{
    if (v->have_stats && fleet_view(v, has_filter))
        render_fleet(v, endpoint, timeout_s, s, utf8);
    else
        render(v, endpoint, timeout_s, s, utf8, has_filter);
}

int main(int argc, char **argv)
{
    const char *endpoint = DEFAULT_ENDPOINT;
    const char *keys_path = NULL;
    bool once = false, as_json = false, has_filter = false;
    uint32_t want_robot = 0;
    double timeout_s = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--robot") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            unsigned long long id = strtoull(argv[++i], &end, 10);
            if (*end || end == argv[i] || argv[i][0] == '-' || errno || id > UINT32_MAX) {
                fprintf(stderr, "fieldbrain-monitor: --robot: '%s' is not a robot id (0 to %u)\n",
                        argv[i], UINT32_MAX);
                return 2;
            }
            want_robot = (uint32_t)id;
            has_filter = true;
        } else if (strcmp(argv[i], "--once") == 0) {
            once = true;
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            timeout_s = strtod(argv[++i], &end);
            if (*end || !(timeout_s > 0)) {
                fprintf(stderr, "fieldbrain-monitor: --timeout: '%s' is not a positive number of seconds\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc) {
            keys_path = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] != '-') {
            endpoint = argv[i];
        } else {
            fprintf(stderr, "fieldbrain-monitor: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    curve_client keys;
    char kerr[512];
    if (keys_path && curve_client_read(keys_path, &keys, kerr, sizeof kerr) < 0) {
        fprintf(stderr, "fieldbrain-monitor: %s\n", kerr);
        return 2;
    }
    if (timeout_s < 0)
        timeout_s = once ? 5 : 2;
    setlocale(LC_ALL, "");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int zero = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof zero);
    if (keys_path && curve_client_setup(sub, &keys, kerr, sizeof kerr) < 0) {
        fprintf(stderr, "fieldbrain-monitor: %s\n", kerr);
        zmq_close(sub);
        zmq_ctx_term(ctx);
        return 2;
    }
    if (as_json && !once) {
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    } else {
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "stats", 5);
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "event", 5);
    }
    if (zmq_connect(sub, endpoint) < 0) {
        fprintf(stderr, "fieldbrain-monitor: cannot connect to %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        zmq_close(sub);
        zmq_ctx_term(ctx);
        return 2;
    }

    static view v;
    static char frame[1 << 20];
    static char out[1 << 18];  /* room for a table of MAX_ROBOTS lines */
    bool tty = isatty(STDOUT_FILENO) && !once;
    bool utf8 = utf8_terminal();
    double start = now_s(), last_draw = 0;
    v.last_msg_s = start;
    int status = 0;
    if (tty && !as_json)
        fputs("\x1b[?25l\x1b[2J", stdout); /* hide the cursor, clear once */
    while (!g_stop) {
        zmq_pollitem_t it = {sub, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, 250);
        if (rc < 0 && zmq_errno() != EINTR)
            break;
        while (rc > 0) {
            char topic[32];
            int tn = zmq_recv(sub, topic, sizeof topic - 1, ZMQ_DONTWAIT);
            if (tn < 0)
                break;
            topic[tn < (int)sizeof topic - 1 ? tn : (int)sizeof topic - 1] = '\0';
            int more = 0;
            size_t ml = sizeof more;
            zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &ml);
            int fn = more ? zmq_recv(sub, frame, sizeof frame - 1, 0) : 0;
            fn = fn < 0 ? 0 : fn > (int)sizeof frame - 1 ? (int)sizeof frame - 1 : fn;
            frame[fn] = '\0';
            /* drop any further frames (the slice PNG) */
            zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &ml);
            while (more) {
                char skip[1];
                zmq_recv(sub, skip, sizeof skip, 0);
                zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &ml);
            }
            v.messages++;
            v.last_msg_s = now_s();
            if (!robot_wanted(frame, (size_t)fn, has_filter, want_robot))
                continue;
            if (as_json) {
                if (!once || of_family(topic, "stats")) {
                    fwrite(frame, 1, (size_t)fn, stdout);
                    fputc('\n', stdout);
                    fflush(stdout);
                    if (once)
                        goto done;
                }
                continue;
            }
            if (of_family(topic, "stats"))
                take_stats(&v, frame, (size_t)fn);
            else if (of_family(topic, "event"))
                take_event(&v, frame, (size_t)fn);
            /* One robot: at its first stats. A fleet: once every robot has
             * been heard from (or at the timeout, below). */
            if (once && v.have_stats &&
                (!fleet_view(&v, has_filter) || (uint32_t)v.n_robots_seen >= v.fleet_size)) {
                screen s = {out, sizeof out, 0, false};
                render_view(&v, endpoint, timeout_s, &s, utf8, has_filter);
                fwrite(out, 1, s.len, stdout);
                goto done;
            }
        }
        double t = now_s();
        if (once && t - start > timeout_s && v.have_stats && !as_json) {
            /* A fleet some of whose robots never spoke: what there is. */
            screen s = {out, sizeof out, 0, false};
            render_view(&v, endpoint, timeout_s, &s, utf8, has_filter);
            fwrite(out, 1, s.len, stdout);
            break;
        }
        if (once && t - start > timeout_s && has_filter && v.messages > 0) {
            fprintf(stderr, "fieldbrain-monitor: nothing from robot %u in %g s (other robots' "
                            "messages came: is it a robot of this brain's fleet?)\n",
                    want_robot, timeout_s);
            status = 1;
            break;
        }
        if (once && t - start > timeout_s) {
            fprintf(stderr, "fieldbrain-monitor: nothing received from %s in %g s: is fieldbrain running "
                            "with telemetry.enabled and this telemetry.endpoint?%s\n", endpoint, timeout_s,
                    keys_path ? " Is this subscriber's public-key on the brain's allow-list?"
                              : " If its telemetry uses CURVE: --keys FILE.");
            status = 1;
            break;
        }
        if (!as_json && !once && t - last_draw >= (tty ? 0.25 : 1.0)) {
            screen s = {out, sizeof out, 0, tty};
            render_view(&v, endpoint, timeout_s, &s, utf8, has_filter);
            if (tty)
                fputs("\x1b[H", stdout); /* home, then overwrite line by line */
            fwrite(out, 1, s.len, stdout);
            fputs(tty ? "\x1b[J" : "\n", stdout);
            fflush(stdout);
            last_draw = t;
        }
    }
done:
    if (tty && !as_json)
        fputs("\x1b[?25h", stdout);
    fflush(stdout);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return status;
}
