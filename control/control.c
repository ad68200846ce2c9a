/* control.c: the control socket (control.h, io/CONTROL.md). One thread owns
 * the ZeroMQ context, the ROUTER and, with an allow-list, the ZAP handler;
 * it parses, checks against a copy of the running config (and, for a brain
 * key, against each targeted robot's own brain values), and hands changes
 * to the loop, which applies them between two cycles.
 */
#include "control.h"
#include "curve.h"
#include "fail.h"
#include "json.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define MAX_REQUEST 4096
/* What the socket takes at all: a longer request than MAX_REQUEST still gets
 * its refusal up to here; above it ZeroMQ drops the connection (the peer's
 * memory is not ours to spend). io/CONTROL.md says both. */
#define MAX_WIRE_REQUEST (64 * 1024)
#define CONTROL_ID_MAX 127       /* the bytes of a string id, echoed whole */
#define MAX_REPLY 4096           /* with one robot; each robot of a fleet adds ROBOT_REPLY */
#define ROBOT_REPLY 512          /* a robot's entry of status or save, with room to spare */
#define COMMAND_TIMEOUT_MS 5000
#define POLL_MS 100

#define CONTROL_NODES 64
#define CONTROL_PATH (CONFIG_STR + 16)  /* a path with "-ID" */

struct control {
    config cur;                  /* the running config: get reads it, set changes it (its brain
                                    is robot 0's) */
    config next;                 /* a set's candidate, checked before it becomes cur */
    json_node nodes[CONTROL_NODES];  /* the request being answered */
    char req[MAX_REQUEST + 1];
    char *rep;                   /* rep_cap bytes: room for every robot's part */
    size_t rep_cap;
    brain *b;                    /* robot 0's: backend, device, the snapshot's shape */
    loop *lp;
    uint32_t n;                  /* robots in the fleet */
    brain_params *params;        /* n: each robot's brain as cur.brain with its own seed and
                                    live values (refreshed after each change) */
    config_fleet_robot *robots;  /* n (room for CONFIG_MAX_ROBOTS): ids and checkpoint paths */
    char (*olds)[LOOP_TEXT];     /* n: a set's old values, by robot */
    char (*paths)[CONTROL_PATH]; /* n: a save's paths, by robot */
    uint64_t *saved, *saved_brain; /* n: a save's cycles, by robot */
    telemetry *tel;              /* the publisher, or NULL when telemetry is off */
    telemetry_rates rates;       /* a set's new rates, read by the loop's call (apply_rates) */
    uint32_t slice_robot;        /* a set's slice robot, read by the loop's call (apply_slice_robot) */
    brain_snapshot *snap;        /* made at create (pages untouched until a save) */
    int64_t start_ns;
    void *ctx, *sock;
    curve_zap *zap;              /* the allow-list's handler (curve/), when there is one */
    char endpoint[CONFIG_STR];
    pthread_t thread;
    bool running;
    atomic_bool stop;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- what may change while running, and why the rest may not ---- */

static const char *const live_keys[] = {
    "brain.sensor_gain", "brain.decay", "brain.diffusion_every", "brain.diffusion_rate",
    "brain.noise_every", "brain.noise_fraction", "brain.noise_std", "brain.momentum_keep",
    "brain.momentum_gain", "brain.activity_every", "brain.activity_threshold",
    "brain.energy_fraction", "brain.energy_std", "brain.motor_gain", "brain.clamp_limit",
    "brain.init_std", "loop.rate_hz", "telemetry.every", "telemetry.slice_every",
    "telemetry.slice_axis", "telemetry.slice_index", "telemetry.slice_channel",
    "telemetry.slice_robot",
};

/* The reason a key is fixed while the brain runs: by key, then by section. */
static const char *fixed_reason(const char *key)
{
    static const struct { const char *prefix, *why; } reasons[] = {
        {"brain.size", "it sets the size of the field and its buffers"},
        {"brain.channels", "it sets the size of the field and its buffers"},
        {"brain.sensors", "it sets the length of the wire messages and the spots drawn at start"},
        {"brain.motors", "it sets the length of the wire messages and the spots drawn at start"},
        {"brain.seed", "every random draw and the spots follow from it"},
        {"brain.backend", "the field lives on the device chosen at start"},
        {"brain.device", "the field lives on the device chosen at start"},
        {"brain.precision", "the field is stored in it"},
        {"brain.threads", "the CPU backend starts its workers once"},
        {"brain.validation", "the Vulkan layers load at start"},
        {"loop.", "the loop's thread, clock and timing windows are set up at start"},
        {"link.", "the link's sockets, keys and checks are set up at start"},
        {"telemetry.", "the publisher binds its socket and sets up its keys and slots at start"},
        {"checkpoint.", "the loop's autosave is set up at start (save takes a path)"},
        {"record.", "the input log is opened at start"},
        {"sim.", "it is fieldbrain-sim's setting, not the brain's"},
        {"control.", "this socket is bound at start"},
    };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (strncmp(key, reasons[i].prefix, strlen(reasons[i].prefix)) == 0)
            return reasons[i].why;
    return "it is read once at start";
}

static bool is_live(const char *key)
{
    for (size_t i = 0; i < sizeof live_keys / sizeof live_keys[0]; i++)
        if (strcmp(key, live_keys[i]) == 0)
            return true;
    return false;
}

/* ---- replies ---- */

typedef struct {
    json_writer w;
    const json_node *n;
    int id;          /* the request's id node, or -1 */
} reply;

static void reply_begin(reply *r, char *buf, size_t cap, const json_node *n, int id)
{
    jw_init(&r->w, buf, cap);
    r->n = n;
    r->id = id;
    jw_obj_begin(&r->w);
    jw_key(&r->w, "v");
    jw_u64(&r->w, CONTROL_VERSION);
    jw_key(&r->w, "id");
    if (id < 0 || n[id].type == JSON_NULL) {
        jw_null(&r->w);
    } else if (n[id].type == JSON_NUM) {
        jw_f64(&r->w, n[id].num);
    } else if (n[id].type == JSON_STR) {
        char s[CONTROL_ID_MAX + 1];
        json_str(n, 0, "id", s, sizeof s);
        jw_str(&r->w, s);
    } else {
        jw_null(&r->w);
    }
}

static void reply_ok(reply *r)
{
    jw_key(&r->w, "ok");
    jw_bool(&r->w, true);
}

static void reply_end(reply *r)
{
    jw_obj_end(&r->w);
}

static void reply_error(char *buf, size_t cap, const json_node *n, int id, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void reply_error(char *buf, size_t cap, const json_node *n, int id, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply r;
    reply_begin(&r, buf, cap, n, id);
    jw_key(&r.w, "ok");
    jw_bool(&r.w, false);
    jw_key(&r.w, "error");
    jw_str(&r.w, msg);
    reply_end(&r);
}

/* ---- requests ---- */

/* Hands cmd to the loop and waits for it to be applied; *taken (may be
 * NULL) says whether the loop did (its result is in res, failed or not). */
static int run_command(control *c, const loop_command *cmd, loop_command_result *res, bool *taken)
{
    if (taken)
        *taken = false;
    loop_command_result stale;
    loop_command_poll(c->lp, &stale); /* a result no one waited for any more */
    if (loop_command_submit(c->lp, cmd) != LOOP_OK)
        return fb_fail(res->err, sizeof res->err, LOOP_ERR_BUSY, "the loop is busy with another command");
    /* The loop takes a command between two cycles: give a slow rate two of
     * its periods. */
    int64_t wait_ns = COMMAND_TIMEOUT_MS * 1000000LL;
    if (c->cur.loop.mode == LOOP_FIXED_RATE && c->cur.loop.rate_hz > 0) {
        const int64_t two = (int64_t)(2e9 / c->cur.loop.rate_hz) + 100000000LL;
        wait_ns = two > wait_ns ? two : wait_ns;
    }
    const int64_t until = mono_ns() + wait_ns;
    for (;;) {
        int rc = loop_command_poll(c->lp, res);
        if (rc == 1) {
            if (taken)
                *taken = true;
            return res->rc;
        }
        if ((mono_ns() > until || atomic_load(&c->stop)) && loop_command_withdraw(c->lp))
            /* taken back before the loop saw it: it is never applied */
            return fb_fail(res->err, sizeof res->err, LOOP_ERR_BUSY,
                           "the loop did not take the command within %lld ms (is it running?); "
                           "nothing changed", (long long)(wait_ns / 1000000));
        /* not yet, or the loop has it now: its result comes at once */
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* The loop's call for a change of telemetry's rates: on the loop's thread,
 * between two cycles, so the cycle the reply names is the first whose stats
 * and slice are judged by the new rates. No allocation, no wait. */
static int apply_rates(void *user, char *err, size_t err_len)
{
    control *c = user;
    return telemetry_set_rates(c->tel, &c->rates, err, err_len);
}

/* The same for telemetry.slice_robot. */
static int apply_slice_robot(void *user, char *err, size_t err_len)
{
    control *c = user;
    return telemetry_set_slice_robot(c->tel, c->slice_robot, err, err_len);
}

static bool is_telemetry_key(const char *key)
{
    return strncmp(key, "telemetry.", 10) == 0;
}

static void put_cycles(reply *r, const loop_command_result *res)
{
    jw_key(&r->w, "cycle");
    jw_u64(&r->w, res->cycle);
    jw_key(&r->w, "brain_cycle");
    jw_u64(&r->w, res->brain_cycle);
}

/* ---- the fleet ---- */

/* The robots a request is for: places first .. last of the fleet; all when
 * it named none (then every robot). */
typedef struct {
    uint32_t first, last;
    bool all;
} targets;

static bool is_brain_key(const char *key)
{
    return strncmp(key, "brain.", 6) == 0;
}

/* Whether set may change key in this brain now: a live key, and not a
 * telemetry key with telemetry off nor the rate of a loop in lockstep (get's
 * "live" says the same as set does). */
static bool live_here(const control *c, const char *key)
{
    if (!is_live(key))
        return false;
    if (is_telemetry_key(key) && !c->tel)
        return false;
    return !(strcmp(key, "loop.rate_hz") == 0 && c->cur.loop.mode == LOOP_LOCKSTEP);
}

/* The entry of brain_param_table for "brain.KEY", or NULL. */
static const brain_param_info *param_info(const char *key)
{
    size_t count;
    const brain_param_info *t = brain_param_table(&count);
    for (size_t k = 0; is_brain_key(key) && k < count; k++)
        if (strcmp(key + 6, t[k].key) == 0)
            return &t[k];
    return NULL;
}

/* Robot i's brain values as its brain holds them: cur.brain's fixed
 * settings (the fleet's: shape, backend, threads) with the brain's own seed
 * and live values, which --resume-fleet or an earlier set may have made its
 * own. Read on this thread while no command is pending: the loop changes a
 * brain's values only in a command. */
static void refresh_params(control *c, uint32_t i)
{
    const brain_params *now = brain_get_params(loop_robot_brain(c->lp, i));
    brain_params *p = &c->params[i];
    *p = c->cur.brain;
    size_t count;
    const brain_param_info *t = brain_param_table(&count);
    for (size_t k = 0; k < count; k++) {
        char key[64];
        snprintf(key, sizeof key, "brain.%s", t[k].key);
        if (is_live(key) || strcmp(t[k].key, "seed") == 0)
            memcpy((char *)p + t[k].offset, (const char *)now + t[k].offset,
                   t[k].type == BRAIN_PARAM_U64 ? sizeof(uint64_t) : sizeof(uint32_t));
    }
}

/* The fleet's ids, "1, 2, 3", cut with "..." when they do not fit. */
static void list_ids(const control *c, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < c->n; i++) {
        char one[16];
        snprintf(one, sizeof one, "%s%u", i ? ", " : "", c->robots[i].id);
        if (len + strlen(one) + 5 >= cap) {
            snprintf(out + len, cap - len, ", ...");
            return;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s", one);
    }
}

/* The request's "robot" (an id) as its place in the fleet, or every robot
 * when it names none. false when the fleet has no such robot (replied). */
static bool parse_robot(control *c, const json_node *n, int id, targets *t, char *out, size_t cap)
{
    *t = (targets){.first = 0, .last = c->n - 1, .all = true};
    int ri = json_get(n, 0, "robot");
    if (ri < 0)
        return true;
    double v = n[ri].type == JSON_NUM ? n[ri].num : -1;
    int place = v >= 0 && v <= UINT32_MAX && v == floor(v) ? loop_robot_index(c->lp, (uint32_t)v) : -1;
    if (place < 0) {
        if (c->n == 1) {
            reply_error(out, cap, n, id, "robot: this brain drives robot %u only", c->robots[0].id);
        } else {
            char ids[256], what[32];
            list_ids(c, ids, sizeof ids);
            if (n[ri].type == JSON_NUM)
                snprintf(what, sizeof what, "%.17g", n[ri].num);
            else
                snprintf(what, sizeof what, "that");
            reply_error(out, cap, n, id, "robot: %s is not a robot of this brain (its robots: %s)",
                        what, ids);
        }
        return false;
    }
    *t = (targets){.first = (uint32_t)place, .last = (uint32_t)place, .all = false};
    return true;
}

/* checkpoint PATH of robot `robot_id` when one save writes every robot's:
 * "-ID" before a ".json" ending, else at the end (as config_fleet names the
 * robots' checkpoints). false when it does not fit. */
static bool robot_path(char *out, size_t cap, const char *path, uint32_t robot_id)
{
    size_t len = strlen(path);
    int w;
    if (len >= 5 && strcmp(path + len - 5, ".json") == 0)
        w = snprintf(out, cap, "%.*s-%u.json", (int)(len - 5), path, robot_id);
    else
        w = snprintf(out, cap, "%s-%u", path, robot_id);
    return w >= 0 && (size_t)w < cap;
}

/* The running value of key for robot i: a brain key from its own values,
 * any other from cur. c->next is scratch. */
static int robot_value(control *c, uint32_t i, const char *key, char *out, size_t len, char *err,
                       size_t err_len)
{
    if (!is_brain_key(key))
        return config_get(&c->cur, key, out, len, err, err_len);
    c->next.brain = c->params[i];
    return config_get(&c->next, key, out, len, err, err_len);
}

/* ---- requests ---- */

static void put_status_counters(reply *r, const loop_status *s, bool overruns)
{
    jw_key(&r->w, "counters");
    jw_obj_begin(&r->w);
    jw_key(&r->w, "received"); jw_u64(&r->w, s->received);
    jw_key(&r->w, "published"); jw_u64(&r->w, s->published);
    jw_key(&r->w, "bad_input"); jw_u64(&r->w, s->bad_total);
    if (overruns) {
        jw_key(&r->w, "overruns"); jw_u64(&r->w, s->overruns);
    }
    jw_key(&r->w, "brain_faults"); jw_u64(&r->w, s->brain_faults);
    jw_obj_end(&r->w);
}

/* The first targeted robot's state where a one-robot brain always had it;
 * every targeted robot's in by_robot. */
static void do_status(control *c, const json_node *n, int id, const targets *t, char *out, size_t cap)
{
    loop_status s;
    loop_get_status(c->lp, t->first, &s);
    reply r;
    reply_begin(&r, out, cap, n, id);
    reply_ok(&r);
    jw_key(&r.w, "cycle"); jw_u64(&r.w, s.cycle);
    jw_key(&r.w, "brain_cycle"); jw_u64(&r.w, s.brain_cycle);
    jw_key(&r.w, "mode"); jw_str(&r.w, c->cur.loop.mode == LOOP_LOCKSTEP ? "lockstep" : "fixed_rate");
    jw_key(&r.w, "rate_hz"); jw_f64(&r.w, s.rate_hz);
    jw_key(&r.w, "paused"); jw_bool(&r.w, s.paused);
    jw_key(&r.w, "link_lost"); jw_bool(&r.w, s.link_lost);
    jw_key(&r.w, "backend"); jw_str(&r.w, brain_backend_name(brain_get_backend(c->b)));
    jw_key(&r.w, "device"); jw_str(&r.w, brain_device_name(c->b));
    jw_key(&r.w, "robots");
    jw_arr_begin(&r.w);
    for (uint32_t i = 0; i < c->n; i++)
        jw_u64(&r.w, c->robots[i].id);
    jw_arr_end(&r.w);
    jw_key(&r.w, "uptime_s"); jw_f64(&r.w, (double)(mono_ns() - c->start_ns) / 1e9);
    put_status_counters(&r, &s, true);
    jw_key(&r.w, "by_robot");
    jw_arr_begin(&r.w);
    for (uint32_t i = t->first; i <= t->last; i++) {
        loop_status rs;
        loop_get_status(c->lp, i, &rs);
        jw_obj_begin(&r.w);
        jw_key(&r.w, "robot"); jw_u64(&r.w, rs.robot_id);
        jw_key(&r.w, "cycle"); jw_u64(&r.w, rs.cycle);
        jw_key(&r.w, "brain_cycle"); jw_u64(&r.w, rs.brain_cycle);
        jw_key(&r.w, "paused"); jw_bool(&r.w, rs.paused);
        jw_key(&r.w, "link_lost"); jw_bool(&r.w, rs.link_lost);
        put_status_counters(&r, &rs, false);
        jw_obj_end(&r.w);
    }
    jw_arr_end(&r.w);
    reply_end(&r);
}

/* A brain key of several robots without "robot": their common value, or a
 * refusal naming each robot's when they differ (a value that holds for one
 * robot only would mislead a script that sets it back). */
static void do_get(control *c, const json_node *n, int id, const targets *t, const char *key,
                   char *out, size_t cap)
{
    char value[CONFIG_STR + 32], other[CONFIG_STR + 32], err[512];
    if (config_get(&c->cur, key, value, sizeof value, err, sizeof err) < 0) {
        reply_error(out, cap, n, id, "%s", err);
        return;
    }
    if (is_brain_key(key)) {
        c->next = c->cur;
        robot_value(c, t->first, key, value, sizeof value, err, sizeof err);
        bool differ = false;
        for (uint32_t i = t->first + 1; i <= t->last && !differ; i++) {
            robot_value(c, i, key, other, sizeof other, err, sizeof err);
            differ = strcmp(other, value) != 0;
        }
        if (differ) {
            char list[400];
            size_t len = 0;
            list[0] = '\0';
            for (uint32_t i = t->first; i <= t->last && len + 64 < sizeof list; i++) {
                robot_value(c, i, key, other, sizeof other, err, sizeof err);
                len += (size_t)snprintf(list + len, sizeof list - len, "%srobot %u: %.24s",
                                        i ? ", " : "", c->robots[i].id, other);
            }
            if (len + 64 >= sizeof list)
                snprintf(list + len, sizeof list - len, ", ...");
            reply_error(out, cap, n, id, "%s: the robots' values differ (%s): ask for one robot's",
                        key, list);
            return;
        }
    }
    reply r;
    reply_begin(&r, out, cap, n, id);
    reply_ok(&r);
    jw_key(&r.w, "key"); jw_str(&r.w, key);
    jw_key(&r.w, "value"); jw_str(&r.w, value);
    jw_key(&r.w, "live"); jw_bool(&r.w, live_here(c, key));
    reply_end(&r);
}

/* config_check's sentence without the file's places, which mean nothing
 * here: "control[:line:col]: what [key set on the command line]" becomes
 * "what". */
static const char *check_sentence(char *err)
{
    const char *what = strstr(err, ": ");
    what = what ? what + 2 : err;
    char *tail = strstr(err, " [");
    if (tail && strstr(tail, "set on the command line]"))
        *tail = '\0';
    return what;
}

/* c->next = cur (with brain values b, when not NULL) and key set to text,
 * checked as the config file is; *old gets the value before (LOOP_TEXT or
 * more bytes) and warn, when empty, a warning the change brings. 0, or -1
 * with the sentence in err. */
static int candidate(control *c, const brain_params *b, const char *key, const char *text,
                     char *old, size_t old_len, char *warn, size_t warn_len, char *err,
                     size_t err_len)
{
    char before[1024] = "", after[1024] = "";
    c->next = c->cur;
    if (b)
        c->next.brain = *b;
    config_get(&c->next, key, old, old_len, err, err_len);
    config_warnings(&c->next, before, sizeof before);
    if (config_set(&c->next, key, text, err, err_len) < 0)
        return -1;
    if (config_check(&c->next, "control", err, err_len) < 0) {
        const char *what = check_sentence(err);
        memmove(err, what, strlen(what) + 1);
        return -1;
    }
    config_warnings(&c->next, after, sizeof after);
    if (!warn[0] && strcmp(after, before) != 0)
        snprintf(warn, warn_len, "%s", after);
    return 0;
}

/* The value of a brain key as the candidate holds it, for LOOP_CMD_PARAM. */
static double param_value(const brain_params *p, const brain_param_info *k)
{
    const char *field = (const char *)p + k->offset;
    switch (k->type) {
    case BRAIN_PARAM_U32: return *(const uint32_t *)(const void *)field;
    case BRAIN_PARAM_U64: return (double)*(const uint64_t *)(const void *)field;
    case BRAIN_PARAM_FLOAT: return *(const float *)(const void *)field;
    }
    return 0;
}

static void do_set(control *c, const json_node *n, int id, const targets *t, const char *key,
                   const char *text, char *out, size_t cap)
{
    config *next = &c->next;
    char old[CONFIG_STR + 32], now[CONFIG_STR + 32], err[1024];
    if (config_get(&c->cur, key, old, sizeof old, err, sizeof err) < 0) {
        reply_error(out, cap, n, id, "%s", err);
        return;
    }
    if (!is_live(key)) {
        reply_error(out, cap, n, id, "%s: cannot change while the brain runs (%s); restart with it",
                    key, fixed_reason(key));
        return;
    }
    if (is_telemetry_key(key) && !c->tel) {
        reply_error(out, cap, n, id, "%s: telemetry is off (telemetry.enabled is false); restart "
                    "with it on", key);
        return;
    }
    bool brain_key = is_brain_key(key);
    if (!brain_key && !t->all && c->n > 1) {
        reply_error(out, cap, n, id, "%s: is the whole fleet's setting, not one robot's: set it "
                    "without a robot", key);
        return;
    }
    /* A brain key is checked against each targeted robot's own values (an
     * earlier change or its checkpoint may have made them its own): the
     * first robot's sentence is the one a one-robot brain gives, a later
     * one's names its robot. The first is checked again last, so that
     * c->next is its candidate. */
    char warn[1024] = "";
    const brain_params *own = brain_key ? &c->params[t->first] : NULL;
    if (candidate(c, own, key, text, old, sizeof old, warn, sizeof warn, err, sizeof err) < 0) {
        reply_error(out, cap, n, id, "%s", err);
        return;
    }
    for (uint32_t i = t->first + 1; brain_key && i <= t->last; i++) {
        if (candidate(c, &c->params[i], key, text, c->olds[i], LOOP_TEXT, warn, sizeof warn, err,
                      sizeof err) < 0) {
            reply_error(out, cap, n, id, "robot %u: %s", c->robots[i].id, err);
            return;
        }
    }
    if (brain_key && t->last > t->first)
        candidate(c, own, key, text, old, sizeof old, warn, sizeof warn, err, sizeof err);
    snprintf(c->olds[t->first], LOOP_TEXT, "%.*s", LOOP_TEXT - 1, old);
    config_get(next, key, now, sizeof now, err, sizeof err);
    bool several = brain_key && t->first != t->last;
    loop_command cmd = {.kind = strcmp(key, "loop.rate_hz") == 0 ? LOOP_CMD_RATE : LOOP_CMD_PARAMS,
                        .robot = t->first, .params = next->brain, .rate_hz = next->loop.rate_hz};
    if (several) {
        /* Every robot: the one key in each brain's own values, its seed and
         * the rest kept. */
        cmd.kind = LOOP_CMD_PARAM;
        cmd.robot = LOOP_ALL_ROBOTS;
        cmd.param = param_info(key);
        if (!cmd.param) {
            reply_error(out, cap, n, id, "%s: cannot be set for every robot at once", key);
            return;
        }
        cmd.value = param_value(&next->brain, cmd.param);
    }
    if (is_telemetry_key(key)) {
        /* The loop reads c->rates when it takes the call, so they may be
         * written only while no command is pending: one left by a timed-out
         * request would otherwise apply these. Only this thread submits, so
         * an idle slot stays idle until the submit below. */
        loop_command_result stale;
        if (loop_command_poll(c->lp, &stale) == 0) {
            reply_error(out, cap, n, id, "the loop is busy with another command");
            return;
        }
        c->rates = (telemetry_rates){.every = next->telemetry.every,
                                     .slice_every = next->telemetry.slice_every,
                                     .slice_axis = next->telemetry.slice_axis,
                                     .slice_index = next->telemetry.slice_index,
                                     .slice_channel = next->telemetry.slice_channel};
        cmd.kind = LOOP_CMD_CALL;
        cmd.call = apply_rates;
        cmd.call_user = c;
        if (strcmp(key, "telemetry.slice_robot") == 0) {
            /* -1: the fleet's first robot, as at start. */
            int64_t want = next->telemetry.slice_robot;
            c->slice_robot = want < 0 ? loop_robot_id(c->lp, 0) : (uint32_t)want;
            cmd.call = apply_slice_robot;
        }
    }
    snprintf(cmd.key, sizeof cmd.key, "%.*s", LOOP_TEXT - 1, key);
    /* One event text for every robot: an old value only when it was each one's. */
    bool same = true;
    for (uint32_t i = t->first + 1; several && i <= t->last; i++)
        same = same && strcmp(c->olds[i], c->olds[t->first]) == 0;
    snprintf(cmd.old_value, sizeof cmd.old_value, "%.*s", LOOP_TEXT - 1,
             same ? old : "each robot's own");
    snprintf(cmd.new_value, sizeof cmd.new_value, "%.*s", LOOP_TEXT - 1, now);
    loop_command_result res = {0};
    bool taken = false;
    int rc = run_command(c, &cmd, &res, &taken);
    if (brain_key && taken) {
        /* What the brains hold now, even when a later robot refused it. */
        for (uint32_t i = t->first; i <= t->last; i++)
            refresh_params(c, i);
        c->cur.brain = c->params[0];
    }
    if (rc != 0) {
        reply_error(out, cap, n, id, "%s", res.err);
        return;
    }
    if (!brain_key || t->first == 0)
        c->cur = *next;  /* robot 0's candidate: cur.brain is robot 0's */
    reply r;
    reply_begin(&r, out, cap, n, id);
    reply_ok(&r);
    jw_key(&r.w, "key"); jw_str(&r.w, key);
    jw_key(&r.w, "old"); jw_str(&r.w, old);
    jw_key(&r.w, "value"); jw_str(&r.w, now);
    put_cycles(&r, &res);
    if (warn[0]) {
        warn[strcspn(warn, "\n")] = '\0';
        jw_key(&r.w, "warning"); jw_str(&r.w, warn);
    }
    if (several) {
        jw_key(&r.w, "by_robot");
        jw_arr_begin(&r.w);
        for (uint32_t i = t->first; i <= t->last; i++) {
            jw_obj_begin(&r.w);
            jw_key(&r.w, "robot"); jw_u64(&r.w, c->robots[i].id);
            jw_key(&r.w, "old"); jw_str(&r.w, c->olds[i]);
            jw_obj_end(&r.w);
        }
        jw_arr_end(&r.w);
    }
    reply_end(&r);
}

/* One robot's checkpoint: the path given, or its own (config_fleet's); a
 * save of every robot of a fleet writes each to the path given with "-ID",
 * or to its own. Every path is known before the first snapshot is taken, so
 * a missing one saves nothing. The robots are saved one after another, each
 * at its own cycle. */
static void do_save(control *c, const json_node *n, int id, const targets *t, const char *path,
                    char *out, size_t cap)
{
    bool several = t->first != t->last;
    for (uint32_t i = t->first; i <= t->last; i++) {
        char *to = c->paths[i];
        if (path[0] && !several) {
            snprintf(to, CONTROL_PATH, "%s", path);
        } else if (path[0] && !robot_path(to, CONTROL_PATH, path, c->robots[i].id)) {
            reply_error(out, cap, n, id, "save: %s with \"-%u\" for robot %u is too long", path,
                        c->robots[i].id, c->robots[i].id);
            return;
        } else if (!path[0]) {
            snprintf(to, CONTROL_PATH, "%s", c->robots[i].checkpoint);
        }
        if (!to[0]) {
            if (c->n == 1)
                reply_error(out, cap, n, id, "save: no path: give one, or set checkpoint.path");
            else
                reply_error(out, cap, n, id, "save: robot %u has no checkpoint path: give one, or "
                            "set checkpoint.path or the robot's checkpoint", c->robots[i].id);
            return;
        }
    }
    if (!c->snap) {
        reply_error(out, cap, n, id, "save: no memory for a copy of the field");
        return;
    }
    loop_command_result first = {0};
    for (uint32_t i = t->first; i <= t->last; i++) {
        loop_command cmd = {.kind = LOOP_CMD_SNAPSHOT, .robot = i, .snapshot = c->snap};
        loop_command_result res = {0};
        char err[512];
        const char *robot = "";
        char who[32];
        if (c->n > 1) {
            snprintf(who, sizeof who, "robot %u: ", c->robots[i].id);
            robot = who;
        }
        if (run_command(c, &cmd, &res, NULL) != 0) {
            reply_error(out, cap, n, id, "%s%s", robot, res.err);
            return;
        }
        const bool saved = brain_snapshot_save(c->snap, c->paths[i], err, sizeof err) == 0;
        /* The outcome as an event, as an autosave's (the reply says it too) */
        loop_command note = {.kind = LOOP_CMD_SAVED, .robot = i, .saved_ok = saved,
                             .saved_cycle = res.brain_cycle};
        loop_command_result ignored;
        run_command(c, &note, &ignored, NULL);
        if (!saved) {
            reply_error(out, cap, n, id, "%ssave: %s", robot, err);
            return;
        }
        c->saved[i] = res.cycle;
        c->saved_brain[i] = res.brain_cycle;
        if (i == t->first)
            first = res;
    }
    reply r;
    reply_begin(&r, out, cap, n, id);
    reply_ok(&r);
    jw_key(&r.w, "path"); jw_str(&r.w, c->paths[t->first]);
    put_cycles(&r, &first);
    if (several) {
        jw_key(&r.w, "by_robot");
        jw_arr_begin(&r.w);
        for (uint32_t i = t->first; i <= t->last; i++) {
            jw_obj_begin(&r.w);
            jw_key(&r.w, "robot"); jw_u64(&r.w, c->robots[i].id);
            jw_key(&r.w, "path"); jw_str(&r.w, c->paths[i]);
            jw_key(&r.w, "cycle"); jw_u64(&r.w, c->saved[i]);
            jw_key(&r.w, "brain_cycle"); jw_u64(&r.w, c->saved_brain[i]);
            jw_obj_end(&r.w);
        }
        jw_arr_end(&r.w);
    }
    reply_end(&r);
}

static void do_simple(control *c, const json_node *n, int id, const targets *t,
                      loop_command_kind kind, char *out, size_t cap)
{
    loop_command cmd = {.kind = kind, .robot = t->all ? LOOP_ALL_ROBOTS : t->first};
    loop_command_result res = {0};
    if (run_command(c, &cmd, &res, NULL) != 0) {
        reply_error(out, cap, n, id, "%s", res.err);
        return;
    }
    reply r;
    reply_begin(&r, out, cap, n, id);
    reply_ok(&r);
    put_cycles(&r, &res);
    reply_end(&r);
}

/* The string field of the request into out (cap bytes, "" when absent or
 * not a string): false when it does not fit, holds a NUL, which would cut
 * it (a path cut short is another path), or is not UTF-8. */
/* Whether s is well-formed UTF-8 (what a reply echoes must be, or the
 * client's JSON reader fails on the reply). */
static bool utf8_ok(const unsigned char *s)
{
    while (*s) {
        int n = *s < 0x80 ? 0 : (*s & 0xE0) == 0xC0 && *s >= 0xC2 ? 1 : (*s & 0xF0) == 0xE0 ? 2
              : (*s & 0xF8) == 0xF0 && *s <= 0xF4 ? 3 : -1;
        if (n < 0)
            return false;
        for (int i = 1; i <= n; i++)
            if ((s[i] & 0xC0) != 0x80)
                return false;
        s += n + 1;
    }
    return true;
}

static bool string_fits(const json_node *n, const char *field, char *out, size_t cap)
{
    const size_t len = json_str(n, 0, field, out, cap);
    return len < cap && len == strlen(out) && utf8_ok((const unsigned char *)out);
}

void control_handle(control *c, const char *request, size_t len, char *out, size_t cap)
{
    json_node *n = c->nodes;
    if (len > MAX_REQUEST) {
        reply_error(out, cap, NULL, -1, "request: %zu bytes is too long (allowed up to %d)", len,
                    MAX_REQUEST);
        return;
    }
    if (json_parse(request, len, n, CONTROL_NODES) <= 0 || n[0].type != JSON_OBJ) {
        reply_error(out, cap, NULL, -1, "request: not a JSON object (io/CONTROL.md)");
        return;
    }
    int id = json_get(n, 0, "id");
    char text[CONFIG_STR];
    if (id >= 0 && n[id].type != JSON_STR && n[id].type != JSON_NUM && n[id].type != JSON_NULL) {
        reply_error(out, cap, NULL, -1, "id: must be a string, a number or null");
        return;
    }
    if (id >= 0 && n[id].type == JSON_STR && !string_fits(n, "id", text, CONTROL_ID_MAX + 1)) {
        reply_error(out, cap, NULL, -1, "id: a UTF-8 string of at most %d bytes without NUL", CONTROL_ID_MAX);
        return;
    }
    int v = json_get(n, 0, "v");
    if (v < 0 || n[v].type != JSON_NUM || n[v].num != CONTROL_VERSION) {
        reply_error(out, cap, n, id, "v: this brain speaks control protocol version %d",
                    CONTROL_VERSION);
        return;
    }
    /* the optional fields' types, before any is read */
    static const struct { const char *field, *types; json_type a, b, c; } typed[] = {
        {"robot", "a number (a robot's id)", JSON_NUM, JSON_NUM, JSON_NUM},
        {"request", "a string", JSON_STR, JSON_STR, JSON_STR},
        {"key", "a string (section.key)", JSON_STR, JSON_STR, JSON_STR},
        {"path", "a string", JSON_STR, JSON_STR, JSON_STR},
        {"value", "a string, a number or a boolean", JSON_STR, JSON_NUM, JSON_BOOL},
    };
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++) {
        int at = json_get(n, 0, typed[i].field);
        if (at >= 0 && n[at].type != typed[i].a && n[at].type != typed[i].b && n[at].type != typed[i].c) {
            reply_error(out, cap, n, id, "%s: must be %s", typed[i].field, typed[i].types);
            return;
        }
    }
    targets t;
    if (!parse_robot(c, n, id, &t, out, cap))
        return;
    char what[32], key[128], value[CONFIG_STR], path[CONFIG_STR];
    static const char *const strings[] = {"request", "key", "path", "value"};
    char *const into[] = {what, key, path, value};
    const size_t room[] = {sizeof what, sizeof key, sizeof path, sizeof value};
    for (size_t i = 0; i < 4; i++) {
        if (!string_fits(n, strings[i], into[i], room[i])) {
            reply_error(out, cap, n, id, "%s: a UTF-8 string of at most %zu bytes without NUL", strings[i],
                        room[i] - 1);
            return;
        }
    }
    int vi = json_get(n, 0, "value");
    if (vi >= 0 && n[vi].type == JSON_NUM)
        snprintf(value, sizeof value, "%.17g", n[vi].num);
    else if (vi >= 0 && n[vi].type == JSON_BOOL)
        snprintf(value, sizeof value, "%s", n[vi].num != 0 ? "true" : "false");

    if (strcmp(what, "status") == 0) {
        do_status(c, n, id, &t, out, cap);
    } else if (strcmp(what, "get") == 0 || strcmp(what, "set") == 0) {
        if (!key[0])
            reply_error(out, cap, n, id, "%s: needs a key (section.key, e.g. brain.motor_gain)", what);
        else if (what[0] == 'g')
            do_get(c, n, id, &t, key, out, cap);
        else if (vi < 0)
            reply_error(out, cap, n, id, "set: needs a value for %s", key);
        else
            do_set(c, n, id, &t, key, value, out, cap);
    } else if (strcmp(what, "save") == 0) {
        do_save(c, n, id, &t, path, out, cap);
    } else if (strcmp(what, "pause") == 0) {
        do_simple(c, n, id, &t, LOOP_CMD_PAUSE, out, cap);
    } else if (strcmp(what, "resume") == 0) {
        do_simple(c, n, id, &t, LOOP_CMD_RESUME, out, cap);
    } else if (strcmp(what, "reset") == 0) {
        do_simple(c, n, id, &t, LOOP_CMD_RESET, out, cap);
    } else {
        reply_error(out, cap, n, id,
                    "request: unknown '%s' (one of status, get, set, save, pause, resume, reset)", what);
    }
}

/* ---- the socket thread ---- */

/* One request: [identity][empty][payload] from REQ, [identity][payload]
 * from DEALER; the reply goes back with the same envelope. */
static void serve_one(control *c, char *req, char *rep)
{
    zmq_msg_t id;
    zmq_msg_init(&id);
    if (zmq_msg_recv(&id, c->sock, 0) < 0) {
        zmq_msg_close(&id);
        return;
    }
    bool delimited = false, first = true, too_long = false;
    size_t len = 0, frames = 0;
    int more = zmq_msg_more(&id);
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->sock, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        size_t sz = zmq_msg_size(&m);
        if (first && sz == 0) {
            delimited = true;
        } else if (++frames > 1) {
            /* a second frame: refused below, whatever its size */
        } else if (sz > MAX_REQUEST) {
            too_long = true;
            len = sz;
        } else {
            memcpy(req, zmq_msg_data(&m), sz);
            len = sz;
        }
        first = false;
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    if (frames > 1)
        reply_error(rep, c->rep_cap, NULL, -1, "request: %zu frames (a request is one frame)", frames);
    else if (too_long)
        reply_error(rep, c->rep_cap, NULL, -1, "request: %zu bytes is too long (allowed up to %d)",
                    len, MAX_REQUEST);
    else
        control_handle(c, req, len, rep, c->rep_cap);
    zmq_msg_send(&id, c->sock, ZMQ_SNDMORE);
    if (delimited)
        zmq_send(c->sock, "", 0, ZMQ_SNDMORE);
    zmq_send(c->sock, rep, strlen(rep), 0);
    zmq_msg_close(&id);
}

static void *control_main(void *arg)
{
    control *c = arg;
    char *req = c->req, *rep = c->rep;  /* rep: c->rep_cap bytes */
    while (!atomic_load(&c->stop)) {
        zmq_pollitem_t item = {.socket = c->sock, .events = ZMQ_POLLIN};
        int rc = zmq_poll(&item, 1, POLL_MS);
        if (rc < 0 && zmq_errno() != EINTR)
            break;
        if (rc > 0 && (item.revents & ZMQ_POLLIN))
            serve_one(c, req, rep);
    }
    return NULL;
}

int control_create(const config *cfg, brain_fleet *f, loop *lp, telemetry *tel, control **out,
                   char *err, size_t err_len)
{
    *out = NULL;
    control *c = calloc(1, sizeof *c);
    if (!c)
        return fb_fail(err, err_len, CONTROL_ERR_NOMEM, "control: out of memory");
    c->cur = *cfg;
    c->b = brain_fleet_brain(f, 0);
    c->lp = lp;
    c->tel = tel;
    c->n = brain_fleet_size(f);
    c->start_ns = mono_ns();
    atomic_init(&c->stop, false);
    int rc = CONTROL_OK, zero = 0;
    const link_options *lo = &cfg->link;
    bool curve = lo->curve_secret_key[0] != '\0';
    c->robots = calloc(CONFIG_MAX_ROBOTS, sizeof *c->robots);
    c->params = calloc(c->n, sizeof *c->params);
    c->olds = calloc(c->n, sizeof *c->olds);
    c->paths = calloc(c->n, sizeof *c->paths);
    c->saved = calloc(c->n, sizeof *c->saved);
    c->saved_brain = calloc(c->n, sizeof *c->saved_brain);
    c->rep_cap = MAX_REPLY + (size_t)c->n * ROBOT_REPLY;
    c->rep = malloc(c->rep_cap);
    if (!c->robots || !c->params || !c->olds || !c->paths || !c->saved || !c->saved_brain || !c->rep) {
        rc = fb_fail(err, err_len, CONTROL_ERR_NOMEM, "control: out of memory");
        goto fail;
    }
    if (config_fleet(cfg, c->robots) != c->n || loop_robot_count(lp) != c->n) {
        rc = fb_fail(err, err_len, CONTROL_ERR_PARAM, "control: the config, the fleet and the loop "
                     "disagree on the number of robots (%u, %u, %u)", config_fleet(cfg, c->robots),
                     c->n, loop_robot_count(lp));
        goto fail;
    }
    for (uint32_t i = 0; i < c->n; i++)
        refresh_params(c, i);
    if (brain_snapshot_create(c->b, &c->snap) < 0)
        c->snap = NULL; /* save says so when asked */
    c->ctx = zmq_ctx_new();
    if (!c->ctx) {
        rc = fb_fail(err, err_len, CONTROL_ERR_SOCKET, "control: cannot make a ZeroMQ context");
        goto fail;
    }
    /* The link's allow-list, enforced on this context before the bind. */
    if (curve && lo->curve_client_keys[0] &&
        curve_zap_start_file(c->ctx, lo->curve_client_keys, "link.curve_client_keys", NULL, "control",
                             &c->zap, err, err_len) < 0) {
        rc = CONTROL_ERR_PARAM;
        goto fail;
    }
    c->sock = zmq_socket(c->ctx, ZMQ_ROUTER);
    int64_t maxsize = MAX_WIRE_REQUEST;
    if (!c->sock || zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize)) {
        rc = fb_fail(err, err_len, CONTROL_ERR_PARAM, "control: cannot set up the socket: %s",
                     zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (curve && curve_server_setup(c->sock, lo->curve_secret_key, "link.curve_secret_key", err,
                                    err_len) < 0) {
        rc = CONTROL_ERR_PARAM;
        goto fail;
    }
    if (zmq_bind(c->sock, cfg->control.endpoint) != 0) {
        rc = fb_fail(err, err_len, CONTROL_ERR_SOCKET, "control.endpoint: cannot bind %s: %s",
                     cfg->control.endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    size_t len = sizeof c->endpoint;
    if (zmq_getsockopt(c->sock, ZMQ_LAST_ENDPOINT, c->endpoint, &len) != 0)
        snprintf(c->endpoint, sizeof c->endpoint, "%s", cfg->control.endpoint);
    if (pthread_create(&c->thread, NULL, control_main, c) != 0) {
        rc = fb_fail(err, err_len, CONTROL_ERR_THREAD, "control: cannot start its thread");
        goto fail;
    }
    c->running = true;
    *out = c;
    return CONTROL_OK;
fail:
    control_destroy(&c);
    return rc;
}

void control_destroy(control **cp)
{
    if (!cp || !*cp)
        return;
    control *c = *cp;
    if (c->running) {
        atomic_store(&c->stop, true);
        pthread_join(c->thread, NULL);
    }
    if (c->sock)
        zmq_close(c->sock);
    curve_zap_stop(&c->zap);  /* after the sockets, before the context */
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    brain_snapshot_destroy(&c->snap);
    free(c->rep);
    free(c->saved_brain);
    free(c->saved);
    free(c->paths);
    free(c->olds);
    free(c->params);
    free(c->robots);
    free(c);
    *cp = NULL;
}

const char *control_endpoint(const control *c) { return c->endpoint; }
