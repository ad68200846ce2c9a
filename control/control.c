/* control.c: the control socket (control.h, io/CONTROL.md). One thread owns
 * the ZeroMQ context, the ROUTER and, with an allow-list, the ZAP handler;
 * it parses, checks against a copy of the running config, and hands changes
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
#define MAX_REPLY 4096
#define COMMAND_TIMEOUT_MS 5000
#define POLL_MS 100

#define CONTROL_NODES 64

struct control {
    config cur;                  /* the running config: get reads it, set changes it */
    config next;                 /* a set's candidate, checked before it becomes cur */
    json_node nodes[CONTROL_NODES];  /* the request being answered */
    char req[MAX_REQUEST + 1], rep[MAX_REPLY];
    brain *b;
    loop *lp;
    telemetry *tel;              /* the publisher, or NULL when telemetry is off */
    telemetry_rates rates;       /* a set's new rates, read by the loop's call (apply_rates) */
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
        char s[128];
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

/* Hands cmd to the loop and waits for it to be applied. */
static int run_command(control *c, const loop_command *cmd, loop_command_result *res)
{
    loop_command_result stale;
    loop_command_poll(c->lp, &stale); /* a result no one waited for any more */
    if (loop_command_submit(c->lp, cmd) != LOOP_OK)
        return fb_fail(res->err, sizeof res->err, LOOP_ERR_BUSY, "the loop is busy with another command");
    int64_t until = mono_ns() + COMMAND_TIMEOUT_MS * 1000000LL;
    for (;;) {
        int rc = loop_command_poll(c->lp, res);
        if (rc == 1)
            return res->rc;
        if (mono_ns() > until || atomic_load(&c->stop)) {
            /* Leave it to the loop; the next submit says busy until it is taken. */
            return fb_fail(res->err, sizeof res->err, LOOP_ERR_BUSY,
                           "the loop did not take the command within %d ms (is it running?)",
                           COMMAND_TIMEOUT_MS);
        }
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

static void do_status(control *c, const json_node *n, int id, char *out, size_t cap)
{
    loop_status s;
    loop_get_status(c->lp, 0, &s);
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
    jw_u64(&r.w, s.robot_id);
    jw_arr_end(&r.w);
    jw_key(&r.w, "uptime_s"); jw_f64(&r.w, (double)(mono_ns() - c->start_ns) / 1e9);
    jw_key(&r.w, "counters");
    jw_obj_begin(&r.w);
    jw_key(&r.w, "received"); jw_u64(&r.w, s.received);
    jw_key(&r.w, "published"); jw_u64(&r.w, s.published);
    jw_key(&r.w, "bad_input"); jw_u64(&r.w, s.bad_total);
    jw_key(&r.w, "overruns"); jw_u64(&r.w, s.overruns);
    jw_key(&r.w, "brain_faults"); jw_u64(&r.w, s.brain_faults);
    jw_obj_end(&r.w);
    reply_end(&r);
}

static void do_get(control *c, const json_node *n, int id, const char *key, char *out, size_t cap)
{
    char value[CONFIG_STR + 32], err[512];
    if (config_get(&c->cur, key, value, sizeof value, err, sizeof err) < 0) {
        reply_error(out, cap, n, id, "%s", err);
        return;
    }
    reply r;
    reply_begin(&r, out, cap, n, id);
    reply_ok(&r);
    jw_key(&r.w, "key"); jw_str(&r.w, key);
    jw_key(&r.w, "value"); jw_str(&r.w, value);
    jw_key(&r.w, "live"); jw_bool(&r.w, is_live(key));
    reply_end(&r);
}

static void do_set(control *c, const json_node *n, int id, const char *key, const char *text,
                   char *out, size_t cap)
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
    *next = c->cur;
    if (config_set(next, key, text, err, sizeof err) < 0) {
        reply_error(out, cap, n, id, "%s", err);
        return;
    }
    if (config_check(next, "control", err, sizeof err) < 0) {
        /* The file's places mean nothing here: "control[:line:col]: what
         * [key set on the command line]" becomes "what". */
        const char *what = strstr(err, ": ");
        what = what ? what + 2 : err;
        char *tail = strstr(err, " [");
        if (tail && strstr(tail, "set on the command line]"))
            *tail = '\0';
        reply_error(out, cap, n, id, "%s", what);
        return;
    }
    config_get(next, key, now, sizeof now, err, sizeof err);
    loop_command cmd = {.kind = strcmp(key, "loop.rate_hz") == 0 ? LOOP_CMD_RATE : LOOP_CMD_PARAMS,
                        .params = next->brain, .rate_hz = next->loop.rate_hz};
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
    }
    snprintf(cmd.key, sizeof cmd.key, "%.*s", LOOP_TEXT - 1, key);
    snprintf(cmd.old_value, sizeof cmd.old_value, "%.*s", LOOP_TEXT - 1, old);
    snprintf(cmd.new_value, sizeof cmd.new_value, "%.*s", LOOP_TEXT - 1, now);
    loop_command_result res = {0};
    if (run_command(c, &cmd, &res) != 0) {
        reply_error(out, cap, n, id, "%s", res.err);
        return;
    }
    /* A warning the change brings (the stability rule), not one that was there. */
    char warn[1024] = "", before[1024] = "";
    config_warnings(&c->cur, before, sizeof before);
    config_warnings(next, warn, sizeof warn);
    if (strcmp(warn, before) == 0)
        warn[0] = '\0';
    c->cur = *next;
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
    reply_end(&r);
}

static void do_save(control *c, const json_node *n, int id, const char *path, char *out, size_t cap)
{
    const char *to = path[0] ? path : c->cur.checkpoint.path;
    if (!to[0]) {
        reply_error(out, cap, n, id, "save: no path: give one, or set checkpoint.path");
        return;
    }
    loop_command cmd = {.kind = LOOP_CMD_SNAPSHOT, .snapshot = c->snap};
    loop_command_result res = {0};
    if (!c->snap) {
        reply_error(out, cap, n, id, "save: no memory for a copy of the field");
        return;
    }
    if (run_command(c, &cmd, &res) != 0) {
        reply_error(out, cap, n, id, "%s", res.err);
        return;
    }
    char err[512];
    if (brain_snapshot_save(c->snap, to, err, sizeof err) < 0) {
        reply_error(out, cap, n, id, "save: %s", err);
        return;
    }
    reply r;
    reply_begin(&r, out, cap, n, id);
    reply_ok(&r);
    jw_key(&r.w, "path"); jw_str(&r.w, to);
    put_cycles(&r, &res);
    reply_end(&r);
}

static void do_simple(control *c, const json_node *n, int id, loop_command_kind kind, char *out,
                      size_t cap)
{
    loop_command cmd = {.kind = kind};
    loop_command_result res = {0};
    if (run_command(c, &cmd, &res) != 0) {
        reply_error(out, cap, n, id, "%s", res.err);
        return;
    }
    reply r;
    reply_begin(&r, out, cap, n, id);
    reply_ok(&r);
    put_cycles(&r, &res);
    reply_end(&r);
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
    int v = json_get(n, 0, "v");
    if (v < 0 || n[v].type != JSON_NUM || n[v].num != CONTROL_VERSION) {
        reply_error(out, cap, n, id, "v: this brain speaks control protocol version %d",
                    CONTROL_VERSION);
        return;
    }
    int robot = json_get(n, 0, "robot");
    if (robot >= 0 && !(n[robot].type == JSON_NUM && n[robot].num == c->cur.link.robot_id)) {
        reply_error(out, cap, n, id, "robot: this brain drives robot %u only", c->cur.link.robot_id);
        return;
    }
    char what[32], key[128], value[CONFIG_STR], path[CONFIG_STR];
    json_str(n, 0, "request", what, sizeof what);
    json_str(n, 0, "key", key, sizeof key);
    json_str(n, 0, "path", path, sizeof path);
    int vi = json_get(n, 0, "value");
    value[0] = '\0';
    if (vi >= 0 && n[vi].type == JSON_NUM)
        snprintf(value, sizeof value, "%.17g", n[vi].num);
    else if (vi >= 0 && n[vi].type == JSON_BOOL)
        snprintf(value, sizeof value, "%s", n[vi].num != 0 ? "true" : "false");
    else
        json_str(n, 0, "value", value, sizeof value);

    if (strcmp(what, "status") == 0) {
        do_status(c, n, id, out, cap);
    } else if (strcmp(what, "get") == 0 || strcmp(what, "set") == 0) {
        if (!key[0])
            reply_error(out, cap, n, id, "%s: needs a key (section.key, e.g. brain.motor_gain)", what);
        else if (what[0] == 'g')
            do_get(c, n, id, key, out, cap);
        else if (vi < 0)
            reply_error(out, cap, n, id, "set: needs a value for %s", key);
        else
            do_set(c, n, id, key, value, out, cap);
    } else if (strcmp(what, "save") == 0) {
        do_save(c, n, id, path, out, cap);
    } else if (strcmp(what, "pause") == 0) {
        do_simple(c, n, id, LOOP_CMD_PAUSE, out, cap);
    } else if (strcmp(what, "resume") == 0) {
        do_simple(c, n, id, LOOP_CMD_RESUME, out, cap);
    } else if (strcmp(what, "reset") == 0) {
        do_simple(c, n, id, LOOP_CMD_RESET, out, cap);
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
    size_t len = 0;
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
    if (too_long)
        reply_error(rep, MAX_REPLY, NULL, -1, "request: %zu bytes is too long (allowed up to %d)", len,
                    MAX_REQUEST);
    else
        control_handle(c, req, len, rep, MAX_REPLY);
    zmq_msg_send(&id, c->sock, ZMQ_SNDMORE);
    if (delimited)
        zmq_send(c->sock, "", 0, ZMQ_SNDMORE);
    zmq_send(c->sock, rep, strlen(rep), 0);
    zmq_msg_close(&id);
}

static void *control_main(void *arg)
{
    control *c = arg;
    char *req = c->req, *rep = c->rep;
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

int control_create(const config *cfg, brain *b, loop *lp, telemetry *tel, control **out,
                   char *warning, char *err, size_t err_len)
{
    *out = NULL;
    if (warning)
        warning[0] = '\0';
    control *c = calloc(1, sizeof *c);
    if (!c)
        return fb_fail(err, err_len, CONTROL_ERR_NOMEM, "control: out of memory");
    c->cur = *cfg;
    c->b = b;
    c->lp = lp;
    c->tel = tel;
    c->start_ns = mono_ns();
    atomic_init(&c->stop, false);
    int rc = CONTROL_OK, zero = 0;
    const link_options *lo = &cfg->link;
    bool curve = lo->curve_secret_key[0] != '\0';
    if (brain_snapshot_create(b, &c->snap) < 0)
        c->snap = NULL; /* save says so when asked */
    c->ctx = zmq_ctx_new();
    if (!c->ctx) {
        rc = fb_fail(err, err_len, CONTROL_ERR_SOCKET, "control: cannot make a ZeroMQ context");
        goto fail;
    }
    if (curve && lo->curve_client_keys[0]) {
        /* The link's allow-list, enforced on this context before the bind. */
        curve_keys *allowed = malloc(sizeof *allowed);
        int crc = allowed ? curve_keys_read(lo->curve_client_keys, "link.curve_client_keys", allowed,
                                            err, err_len)
                          : fb_fail(err, err_len, CURVE_ERR_NOMEM, "control: out of memory");
        if (crc == CURVE_OK)
            crc = curve_zap_start(c->ctx, allowed, "control", &c->zap, err, err_len);
        free(allowed);
        if (crc < 0) {
            rc = CONTROL_ERR_PARAM;
            goto fail;
        }
    }
    c->sock = zmq_socket(c->ctx, ZMQ_ROUTER);
    int maxmsg = MAX_REQUEST + 64;
    int64_t maxsize = maxmsg;
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
    if (warning && !curve && !link_endpoint_is_local(cfg->control.endpoint))
        snprintf(warning, CONTROL_WARN_LEN,
                 "control.endpoint: %s is not on loopback and the link has no CURVE keys: anyone "
                 "who reaches it can change the brain", cfg->control.endpoint);
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
    free(c);
    *cp = NULL;
}

const char *control_endpoint(const control *c) { return c->endpoint; }
