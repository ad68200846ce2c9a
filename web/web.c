/* web.c: fieldbrain-web's server. One thread: libwebsockets' service loop,
 * with a 10 ms timer that drains the telemetry SUB socket, decimates it and
 * fans the messages out to each viewer's own bounded queue. A viewer that
 * reads slowly loses its oldest messages; one that sends garbage is closed;
 * neither touches the brain or the other viewers.
 */
#include "web.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>
#include <zmq.h>

#include "curve.h"
#include "fail.h"
#include "json.h"
#include "web_page.h"

#define WEB_SUBPROTOCOL "foxglove.websocket.v1"
#define WEB_MAX_CLIENTS 32
#define WEB_QUEUE 64                 /* data messages queued per viewer */
#define WEB_QUEUE_BYTES (4u << 20)   /* and their bytes */
#define WEB_CTRL_QUEUE 32            /* control messages (advertise, status) */
#define WEB_RX_MAX 16384             /* the largest client message accepted */
#define WEB_MAX_SUBS 64
#define WEB_MAX_ROBOTS 32
#define WEB_MAX_CHANNELS (CH_FIXED + 2 * WEB_MAX_ROBOTS)
#define WEB_MAX_PNG (8u << 20)
#define WEB_TICK_US 10000
#define WEB_DRAIN_PER_TICK 4000      /* telemetry messages read per tick at most */
#define WEB_EVENTS_PER_S 20.0        /* events forwarded per second after a burst of as many */
#define WEB_CLIENT_MSGS_PER_S 20.0   /* client messages per second, burst 50 */
#define WEB_CLIENT_BURST 50.0
#define WEB_STATS_MAX 65536
#define WEB_NODES 4096

/* Fixed channel ids; robots' channels follow. */
enum { CH_STATS = 1, CH_EVENTS, CH_SLICE, CH_SLICE_INFO, CH_SOURCE, CH_FIXED };

typedef struct web_msg {
    int refs;
    bool binary;          /* a MESSAGE_DATA frame; else a text control message */
    uint32_t channel;
    size_t len;           /* bytes after LWS_PRE */
    unsigned char buf[];  /* LWS_PRE bytes for libwebsockets, then the frame */
} web_msg;

typedef struct {
    uint32_t id;
    char topic[64];
    const char *schema_name;
    const char *schema;
    web_msg *last;        /* the latest message: a new subscriber gets it at once */
} web_channel;

typedef struct {
    double robot_id;
    uint32_t motors_ch, link_ch;
} web_robot;

/* The newest stats of one robot, waiting for its turn under --max-hz (a
 * fleet's robots each have one: their stats come on topics of their own,
 * telemetry/README.md; robot_id -1 stands for a brain's whose stats name no
 * robot). */
typedef struct {
    double robot_id;
    double last_cycle;
    bool have_cycle;
    bool pending;
    uint64_t since_sent;         /* brain stats taken since the last forwarded */
    double sent_s;
    char json[WEB_STATS_MAX];
    size_t len;
    uint64_t time_ns;
} web_stats;

typedef struct web_app web_app;

typedef struct {
    struct lws *wsi;
    web_app *app;
    web_msg *ctrl[WEB_CTRL_QUEUE];
    int ctrl_head, ctrl_n;
    web_msg *data[WEB_QUEUE];
    int data_head, data_n;
    size_t data_bytes;
    struct { uint32_t id, channel; } subs[WEB_MAX_SUBS];
    int n_subs;
    unsigned char rx[WEB_RX_MAX];
    size_t rx_len;
    double bucket, bucket_s;     /* client messages allowed, refilled over time */
    int close_status;            /* nonzero: close with this at the next write */
    const char *close_reason;
    bool registered;
} web_client;

typedef struct {
    const web_asset *asset;
    size_t sent;
} web_http;

/* A string builder over a caller's buffer: an overflow is remembered, never
 * written past. */
typedef struct {
    char *p;
    size_t cap, len;
    bool overflow;
} sbuf;

struct web_app {
    const web_config *cfg;
    struct lws_context *lws;
    lws_sorted_usec_list_t tick;
    void *zctx, *sub;
    web_channel channels[WEB_MAX_CHANNELS];
    int n_channels;
    web_robot robots[WEB_MAX_ROBOTS];
    int n_robots;
    web_client *clients[WEB_MAX_CLIENTS];
    int n_clients;
    char session[32];

    /* telemetry state */
    bool reachable, ever_reached;
    double last_msg_s, last_source_s;
    uint64_t n_msgs, n_stats, n_events, n_slices, events_dropped, refused_clients;
    uint64_t viewer_drops;       /* data messages slow viewers lost, all together */
    web_stats stats[WEB_MAX_ROBOTS];
    int n_stats_slots;
    double slice_sent_s, event_bucket, event_bucket_s;
    bool slice_pending;
    char slice_head[4096];
    size_t slice_head_len;
    unsigned char *slice_png;
    size_t slice_png_len, slice_png_cap;
    uint64_t slice_time_ns;

    json_node nodes[WEB_NODES];
    json_node rx_nodes[512];     /* a viewer's message */
    char ctrl_text[16384];       /* advertise messages for new robots */
    char scratch[WEB_STATS_MAX + 8192];
};

/* --- small helpers -------------------------------------------------------- */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Message timestamps are wall-clock time at receipt, what Foxglove expects;
 * the brain's own monotonic times stay in the payloads. */
static uint64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sb_put(sbuf *s, const char *text, size_t n)
{
    if (s->len + n >= s->cap) {
        s->overflow = true;
        return;
    }
    memcpy(s->p + s->len, text, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void sb_cat(sbuf *s, const char *text) { sb_put(s, text, strlen(text)); }

static void sb_fmt(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sbuf *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= s->cap - s->len) {
        s->overflow = true;
        if (s->cap > s->len)
            s->p[s->len] = '\0';
        return;
    }
    s->len += (size_t)n;
}

/* A JSON string from plain text (the schemas, topics, the endpoint). */
static void sb_jstr(sbuf *s, const char *text)
{
    sb_put(s, "\"", 1);
    for (const char *c = text; *c; c++) {
        if (*c == '"' || *c == '\\') {
            char e[2] = {'\\', *c};
            sb_put(s, e, 2);
        } else if ((unsigned char)*c < 0x20) {
            sb_fmt(s, "\\u%04x", (unsigned char)*c);
        } else {
            sb_put(s, c, 1);
        }
    }
    sb_put(s, "\"", 1);
}

static void sb_num(sbuf *s, double v)
{
    if (!isfinite(v))
        sb_cat(s, "null");
    else if (v == floor(v) && fabs(v) < 1e15)
        sb_fmt(s, "%.0f", v);
    else
        sb_fmt(s, "%.9g", v);
}

/* Writes node i of a parsed message back out as JSON. Strings and keys go
 * out as they came (their escapes intact): the brain wrote valid JSON. */
static void sb_node(sbuf *s, const json_node *n, int i)
{
    switch (n[i].type) {
    case JSON_NULL: sb_cat(s, "null"); break;
    case JSON_BOOL: sb_cat(s, n[i].num ? "true" : "false"); break;
    case JSON_NUM: sb_num(s, n[i].num); break;
    case JSON_STR:
        sb_put(s, "\"", 1);
        sb_put(s, n[i].str, n[i].str_len);
        sb_put(s, "\"", 1);
        break;
    case JSON_ARR:
    case JSON_OBJ: {
        bool obj = n[i].type == JSON_OBJ;
        sb_put(s, obj ? "{" : "[", 1);
        for (int c = n[i].child; c >= 0; c = n[c].next) {
            if (c != n[i].child)
                sb_put(s, ",", 1);
            if (obj) {
                sb_put(s, "\"", 1);
                sb_put(s, n[c].key, n[c].key_len);
                sb_put(s, "\":", 2);
            }
            sb_node(s, n, c);
        }
        sb_put(s, obj ? "}" : "]", 1);
        break;
    }
    }
}

static bool key_is(const json_node *n, int i, const char *key)
{
    size_t k = strlen(key);
    return n[i].key_len == k && memcmp(n[i].key, key, k) == 0;
}

/* --- messages -------------------------------------------------------------- */

static web_msg *msg_new(size_t len)
{
    web_msg *m = malloc(sizeof *m + LWS_PRE + len);
    if (!m)
        return NULL;
    m->refs = 1;
    m->binary = false;
    m->channel = 0;
    m->len = len;
    return m;
}

static void msg_unref(web_msg *m)
{
    if (m && --m->refs == 0)
        free(m);
}

static unsigned char *msg_body(web_msg *m) { return m->buf + LWS_PRE; }

static web_msg *msg_text(const char *text, size_t len)
{
    web_msg *m = msg_new(len);
    if (m)
        memcpy(msg_body(m), text, len);
    return m;
}

/* A MESSAGE_DATA frame: opcode 1, subscription id (filled in per viewer
 * when it is written), timestamp, payload. */
static web_msg *msg_data(uint32_t channel, uint64_t time_ns, const char *payload, size_t len)
{
    web_msg *m = msg_new(13 + len);
    if (!m)
        return NULL;
    m->binary = true;
    m->channel = channel;
    unsigned char *b = msg_body(m);
    b[0] = 1;
    memset(b + 1, 0, 4);
    for (int k = 0; k < 8; k++)
        b[5 + k] = (unsigned char)(time_ns >> (8 * k));
    if (len)
        memcpy(b + 13, payload, len);
    return m;
}

/* --- viewers ---------------------------------------------------------------- */

static void client_close(web_client *c, int status, const char *reason)
{
    if (!c->close_status) {
        c->close_status = status;
        c->close_reason = reason;
    }
    lws_callback_on_writable(c->wsi);
}

/* Control messages are never dropped: a viewer that lets them pile up is
 * closed instead. */
static void client_ctrl(web_client *c, web_msg *m)
{
    if (!m)
        return;
    if (c->ctrl_n == WEB_CTRL_QUEUE) {
        client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "not reading");
        return;
    }
    m->refs++;
    c->ctrl[(c->ctrl_head + c->ctrl_n++) % WEB_CTRL_QUEUE] = m;
    lws_callback_on_writable(c->wsi);
}

static void client_ctrl_text(web_client *c, const char *text, size_t len)
{
    web_msg *m = msg_text(text, len);
    client_ctrl(c, m);
    msg_unref(m);
}

static web_msg *data_pop(web_client *c)
{
    web_msg *m = c->data[c->data_head];
    c->data_head = (c->data_head + 1) % WEB_QUEUE;
    c->data_n--;
    c->data_bytes -= m->len;
    return m;
}

/* Data messages: the oldest go when the queue is full, counted. */
static void client_data(web_client *c, web_msg *m)
{
    while (c->data_n > 0 && (c->data_n == WEB_QUEUE || c->data_bytes + m->len > WEB_QUEUE_BYTES)) {
        msg_unref(data_pop(c));
        c->app->viewer_drops++;
    }
    if (m->len > WEB_QUEUE_BYTES) {
        c->app->viewer_drops++;
        return;
    }
    m->refs++;
    c->data[(c->data_head + c->data_n++) % WEB_QUEUE] = m;
    c->data_bytes += m->len;
    lws_callback_on_writable(c->wsi);
}

static int client_sub_of(const web_client *c, uint32_t channel)
{
    for (int i = 0; i < c->n_subs; i++)
        if (c->subs[i].channel == channel)
            return i;
    return -1;
}

static void client_release(web_client *c)
{
    while (c->ctrl_n > 0) {
        msg_unref(c->ctrl[c->ctrl_head]);
        c->ctrl_head = (c->ctrl_head + 1) % WEB_CTRL_QUEUE;
        c->ctrl_n--;
    }
    while (c->data_n > 0)
        msg_unref(data_pop(c));
}

/* Hands m to every viewer subscribed to its channel and keeps it as the
 * channel's latest. Takes over the caller's reference. */
static void publish(web_app *app, web_msg *m)
{
    if (!m)
        return;
    for (int i = 0; i < app->n_clients; i++)
        if (client_sub_of(app->clients[i], m->channel) >= 0)
            client_data(app->clients[i], m);
    for (int i = 0; i < app->n_channels; i++) {
        if (app->channels[i].id == m->channel && m->channel != CH_EVENTS) {
            msg_unref(app->channels[i].last);
            app->channels[i].last = m;
            return;
        }
    }
    msg_unref(m);
}

static void publish_json(web_app *app, uint32_t channel, uint64_t time_ns, const sbuf *s)
{
    if (!s->overflow)
        publish(app, msg_data(channel, time_ns, s->p, s->len));
}

static void broadcast_ctrl(web_app *app, const char *text, size_t len)
{
    web_msg *m = msg_text(text, len);
    if (!m)
        return;
    for (int i = 0; i < app->n_clients; i++)
        client_ctrl(app->clients[i], m);
    msg_unref(m);
}

/* --- channels ---------------------------------------------------------------- */

static const char SCHEMA_STATS[] =
    "{\"type\":\"object\",\"title\":\"fieldbrain.Stats\",\"description\":\"A brain's cycle stats "
    "(telemetry/README.md, stats), without motors and links (their own channels); decimated: the "
    "brain stats this one stands for\",\"properties\":{"
    "\"robot_id\":{\"type\":\"integer\"},\"n_robots\":{\"type\":\"integer\"},"
    "\"cycle\":{\"type\":\"integer\"},\"time_ns\":{\"type\":\"integer\"},\"every\":{\"type\":\"integer\"},"
    "\"rate_hz\":{\"type\":[\"number\",\"null\"]},\"rate_hz_target\":{\"type\":\"number\"},"
    "\"lateness_ns\":{\"type\":\"number\"},\"work_ns\":{\"type\":\"number\"},\"gpu_ms\":{\"type\":[\"number\",\"null\"]},"
    "\"lateness\":{\"$ref\":\"#/$defs/window\"},\"work\":{\"$ref\":\"#/$defs/window\"},"
    "\"overruns\":{\"type\":\"integer\"},\"skipped_ticks\":{\"type\":\"integer\"},\"stepped\":{\"type\":\"boolean\"},"
    "\"fault\":{\"type\":\"boolean\"},\"brain_faults\":{\"type\":\"integer\"},"
    "\"brain_cycle\":{\"type\":\"integer\"},\"energy\":{\"type\":[\"number\",\"null\"]},"
    "\"saturated\":{\"type\":[\"number\",\"null\"]},\"activity\":{\"type\":[\"number\",\"null\"]},"
    "\"steps\":{\"type\":\"object\",\"properties\":{\"diffusion\":{\"type\":\"boolean\"},"
    "\"noise\":{\"type\":\"boolean\"},\"energy\":{\"type\":\"boolean\"}}},"
    "\"sensor_age_ns\":{\"type\":\"number\"},\"input\":{\"type\":\"object\"},"
    "\"device\":{\"type\":\"string\"},\"backend\":{\"type\":\"string\"},\"telemetry\":{\"type\":\"object\"},"
    "\"decimated\":{\"type\":\"integer\"}},"
    "\"$defs\":{\"window\":{\"type\":\"object\",\"properties\":{\"min_ns\":{\"type\":\"number\"},"
    "\"p50_ns\":{\"type\":\"number\"},\"p99_ns\":{\"type\":\"number\"},\"max_ns\":{\"type\":\"number\"}}}}}";

static const char SCHEMA_EVENT[] =
    "{\"type\":\"object\",\"title\":\"fieldbrain.Event\",\"description\":\"telemetry/README.md, event\","
    "\"properties\":{\"type\":{\"type\":\"string\"},\"v\":{\"type\":\"integer\"},\"kind\":{\"type\":\"string\","
    "\"enum\":[\"start\",\"shutdown\",\"link_lost\",\"link_restored\",\"overrun_burst\",\"bad_input_burst\","
    "\"brain_fault\",\"checkpoint_written\",\"checkpoint_failed\",\"param_changed\",\"paused\",\"resumed\","
    "\"reset\",\"peers_cut\"]},\"cycle\":{\"type\":\"integer\"},\"time_ns\":{\"type\":\"integer\"},"
    "\"robot_id\":{\"type\":[\"integer\",\"null\"]},\"reason\":{\"type\":\"string\"},\"count\":{\"type\":\"integer\"},"
    "\"detail\":{\"type\":\"string\"}}}";

/* foxglove.CompressedImage in its JSON form: bytes as base64. */
static const char SCHEMA_IMAGE[] =
    "{\"type\":\"object\",\"title\":\"foxglove.CompressedImage\",\"properties\":{"
    "\"timestamp\":{\"type\":\"object\",\"properties\":{\"sec\":{\"type\":\"integer\",\"minimum\":0},"
    "\"nsec\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":999999999}}},"
    "\"frame_id\":{\"type\":\"string\"},\"data\":{\"type\":\"string\",\"contentEncoding\":\"base64\"},"
    "\"format\":{\"type\":\"string\"}}}";

static const char SCHEMA_SLICE_INFO[] =
    "{\"type\":\"object\",\"title\":\"fieldbrain.SliceInfo\",\"description\":\"the header of the slice "
    "on /fieldbrain/slice (telemetry/README.md, slice)\",\"properties\":{\"cycle\":{\"type\":\"integer\"},"
    "\"axis\":{\"type\":\"string\"},\"index\":{\"type\":\"integer\"},\"channel\":{},\"width\":{\"type\":\"integer\"},"
    "\"height\":{\"type\":\"integer\"},\"horizontal\":{\"type\":\"string\"},\"vertical\":{\"type\":\"string\"},"
    "\"min\":{\"type\":[\"number\",\"null\"]},\"max\":{\"type\":[\"number\",\"null\"]},\"colormap\":{\"type\":\"string\"},"
    "\"format\":{\"type\":\"string\"}}}";

static const char SCHEMA_SOURCE[] =
    "{\"type\":\"object\",\"title\":\"fieldbrain.Source\",\"description\":\"whether fieldbrain-web hears "
    "the brain\",\"properties\":{\"endpoint\":{\"type\":\"string\"},\"reachable\":{\"type\":\"boolean\"},"
    "\"silent_ms\":{\"type\":[\"number\",\"null\"]},\"messages\":{\"type\":\"integer\"},\"viewers\":{\"type\":\"integer\"},"
    "\"max_hz\":{\"type\":\"number\"},\"events_dropped\":{\"type\":\"integer\"},"
    "\"viewer_drops\":{\"type\":\"integer\"},\"viewers_refused\":{\"type\":\"integer\"}}}";

static const char SCHEMA_MOTORS[] =
    "{\"type\":\"object\",\"title\":\"fieldbrain.Motors\",\"properties\":{\"cycle\":{\"type\":\"integer\"},"
    "\"time_ns\":{\"type\":\"integer\"},\"robot_id\":{\"type\":\"integer\"},"
    "\"motors\":{\"type\":\"array\",\"items\":{\"type\":[\"number\",\"null\"],\"minimum\":-1,\"maximum\":1}}}}";

static const char SCHEMA_LINK[] =
    "{\"type\":\"object\",\"title\":\"fieldbrain.Link\",\"properties\":{\"cycle\":{\"type\":\"integer\"},"
    "\"time_ns\":{\"type\":\"integer\"},\"robot_id\":{\"type\":\"integer\"},"
    "\"state\":{\"type\":\"string\",\"enum\":[\"up\",\"lost\"]},\"answer_seq\":{\"type\":\"integer\"},"
    "\"sensor_age_ns\":{\"type\":\"number\"}}}";

static void channel_add(web_app *app, uint32_t id, const char *topic, const char *name, const char *schema)
{
    web_channel *ch = &app->channels[app->n_channels++];
    ch->id = id;
    snprintf(ch->topic, sizeof ch->topic, "%s", topic);
    ch->schema_name = name;
    ch->schema = schema;
    ch->last = NULL;
}

static web_channel *channel_find(web_app *app, uint32_t id)
{
    for (int i = 0; i < app->n_channels; i++)
        if (app->channels[i].id == id)
            return &app->channels[i];
    return NULL;
}

/* An advertise message for channels [from, n_channels). */
static void advertise_text(web_app *app, int from, sbuf *s)
{
    sb_cat(s, "{\"op\":\"advertise\",\"channels\":[");
    for (int i = from; i < app->n_channels; i++) {
        const web_channel *ch = &app->channels[i];
        sb_fmt(s, "%s{\"id\":%u,\"topic\":", i > from ? "," : "", ch->id);
        sb_jstr(s, ch->topic);
        sb_cat(s, ",\"encoding\":\"json\",\"schemaName\":");
        sb_jstr(s, ch->schema_name);
        sb_cat(s, ",\"schemaEncoding\":\"jsonschema\",\"schema\":");
        sb_jstr(s, ch->schema);
        sb_cat(s, "}");
    }
    sb_cat(s, "]}");
}

/* The robot's pair of channels, advertised to every viewer the first time
 * the robot shows up; NULL once WEB_MAX_ROBOTS are known. */
/* A brain that (re)starts counts its cycles from 1 again. */
static void stats_restart(web_app *app)
{
    for (int i = 0; i < app->n_stats_slots; i++)
        app->stats[i].have_cycle = false;
}

static web_robot *robot_get(web_app *app, double robot_id)
{
    for (int i = 0; i < app->n_robots; i++)
        if (app->robots[i].robot_id == robot_id)
            return &app->robots[i];
    if (app->n_robots == WEB_MAX_ROBOTS || !(robot_id >= 0 && robot_id < 4294967296.0))
        return NULL;
    web_robot *r = &app->robots[app->n_robots++];
    r->robot_id = robot_id;
    r->motors_ch = (uint32_t)(CH_FIXED + 2 * (app->n_robots - 1));
    r->link_ch = r->motors_ch + 1;
    int from = app->n_channels;
    char topic[64];
    snprintf(topic, sizeof topic, "/fieldbrain/robot/%.0f/motors", robot_id);
    channel_add(app, r->motors_ch, topic, "fieldbrain.Motors", SCHEMA_MOTORS);
    snprintf(topic, sizeof topic, "/fieldbrain/robot/%.0f/link", robot_id);
    channel_add(app, r->link_ch, topic, "fieldbrain.Link", SCHEMA_LINK);
    sbuf s = {app->ctrl_text, sizeof app->ctrl_text, 0, false};
    advertise_text(app, from, &s);
    if (!s.overflow)
        broadcast_ctrl(app, s.p, s.len);
    return r;
}

/* --- telemetry in -------------------------------------------------------------- */

static void send_source(web_app *app, double now)
{
    sbuf s = {app->scratch, sizeof app->scratch, 0, false};
    sb_cat(&s, "{\"endpoint\":");
    sb_jstr(&s, app->cfg->endpoint);
    sb_fmt(&s, ",\"reachable\":%s,\"silent_ms\":", app->reachable ? "true" : "false");
    if (app->ever_reached)
        sb_fmt(&s, "%.0f", (now - app->last_msg_s) * 1e3);
    else
        sb_cat(&s, "null");
    sb_fmt(&s, ",\"messages\":%llu,\"viewers\":%d,\"max_hz\":%g,\"events_dropped\":%llu,"
               "\"viewer_drops\":%llu,\"viewers_refused\":%llu}",
           (unsigned long long)app->n_msgs, app->n_clients, app->cfg->max_hz,
           (unsigned long long)app->events_dropped, (unsigned long long)app->viewer_drops,
           (unsigned long long)app->refused_clients);
    publish_json(app, CH_SOURCE, real_ns(), &s);
    app->last_source_s = now;
}

static void set_reachable(web_app *app, bool up, double now)
{
    if (up == app->reachable)
        return;
    app->reachable = up;
    if (up) {
        static const char rm[] = "{\"op\":\"removeStatus\",\"statusIds\":[\"telemetry\"]}";
        broadcast_ctrl(app, rm, sizeof rm - 1);
    } else {
        char text[512];
        sbuf s = {text, sizeof text, 0, false};
        sb_fmt(&s, "{\"op\":\"status\",\"level\":1,\"id\":\"telemetry\",\"message\":");
        char m[300];
        snprintf(m, sizeof m, "no telemetry from %s for %g s: is fieldbrain running with telemetry.enabled?",
                 app->cfg->endpoint, app->cfg->timeout_s);
        sb_jstr(&s, m);
        sb_cat(&s, "}");
        if (!s.overflow)
            broadcast_ctrl(app, s.p, s.len);
        /* A brain that comes back may have restarted: its cycles start over. */
        stats_restart(app);
    }
    send_source(app, now);
}

/* Turns a robot's latest brain stats into the stats, motors and link
 * channels. */
static void forward_stats(web_app *app, web_stats *st)
{
    json_node *n = app->nodes;
    if (json_parse(st->json, st->len, n, WEB_NODES) <= 0 || n[0].type != JSON_OBJ)
        return;
    uint64_t t = st->time_ns;
    double cycle = json_num(n, 0, "cycle", 0), time_ns = json_num(n, 0, "time_ns", 0);

    sbuf s = {app->scratch, sizeof app->scratch, 0, false};
    sb_put(&s, "{", 1);
    bool first = true;
    for (int c = n[0].child; c >= 0; c = n[c].next) {
        if (key_is(n, c, "motors") || key_is(n, c, "links") || key_is(n, c, "lateness_hist_log2") ||
            key_is(n, c, "type") || key_is(n, c, "v"))
            continue;
        if (!first)
            sb_put(&s, ",", 1);
        first = false;
        sb_put(&s, "\"", 1);
        sb_put(&s, n[c].key, n[c].key_len);
        sb_put(&s, "\":", 2);
        sb_node(&s, n, c);
    }
    sb_fmt(&s, "%s\"decimated\":%llu}", first ? "" : ",", (unsigned long long)st->since_sent);
    publish_json(app, CH_STATS, t, &s);

    /* One robot per brain for now: the top-level motors are that robot's. A
     * link entry that carries its own motors (a fleet) is used as it is. */
    int links = json_get(n, 0, "links"), motors = json_get(n, 0, "motors");
    int n_links = links >= 0 && n[links].type == JSON_ARR ? json_count(n, links) : 0;
    for (int l = n_links ? n[links].child : -1; l >= 0; l = n[l].next) {
        if (n[l].type != JSON_OBJ)
            continue;
        double id = json_num(n, l, "robot_id", -1);
        web_robot *r = robot_get(app, id);
        if (!r)
            continue;
        int own = json_get(n, l, "motors");
        int mv = own >= 0 ? own : n_links == 1 ? motors : -1;
        if (mv >= 0 && n[mv].type == JSON_ARR) {
            s = (sbuf){app->scratch, sizeof app->scratch, 0, false};
            sb_cat(&s, "{\"cycle\":");
            sb_num(&s, cycle);
            sb_cat(&s, ",\"time_ns\":");
            sb_num(&s, time_ns);
            sb_cat(&s, ",\"robot_id\":");
            sb_num(&s, id);
            sb_cat(&s, ",\"motors\":");
            sb_node(&s, n, mv);
            sb_cat(&s, "}");
            publish_json(app, r->motors_ch, t, &s);
        }
        s = (sbuf){app->scratch, sizeof app->scratch, 0, false};
        sb_cat(&s, "{\"cycle\":");
        sb_num(&s, cycle);
        sb_cat(&s, ",\"time_ns\":");
        sb_num(&s, time_ns);
        for (int c = n[l].child; c >= 0; c = n[c].next) {
            if (key_is(n, c, "motors"))
                continue;
            sb_put(&s, ",\"", 2);
            sb_put(&s, n[c].key, n[c].key_len);
            sb_put(&s, "\":", 2);
            sb_node(&s, n, c);
        }
        sb_cat(&s, "}");
        publish_json(app, r->link_ch, t, &s);
    }
    st->since_sent = 0;
}

static void take_stats(web_app *app, const char *json, size_t len)
{
    json_node *n = app->nodes;
    if (len >= WEB_STATS_MAX || json_parse(json, len, n, WEB_NODES) <= 0 || n[0].type != JSON_OBJ)
        return;
    double cycle = json_num(n, 0, "cycle", -1), id = json_num(n, 0, "robot_id", -1);
    web_stats *st = NULL;
    for (int i = 0; i < app->n_stats_slots && !st; i++)
        if (app->stats[i].robot_id == id)
            st = &app->stats[i];
    if (!st) {
        if (app->n_stats_slots == WEB_MAX_ROBOTS)
            return;  /* the robots past the first WEB_MAX_ROBOTS are not shown */
        st = &app->stats[app->n_stats_slots++];
        st->robot_id = id;
        st->have_cycle = false;
    }
    /* The last-value cache may repeat a stats already seen (telemetry/README.md). */
    if (st->have_cycle && cycle <= st->last_cycle && cycle > st->last_cycle / 2)
        return;
    st->last_cycle = cycle;
    st->have_cycle = true;
    app->n_stats++;
    st->since_sent++;
    memcpy(st->json, json, len);
    st->len = len;
    st->time_ns = real_ns();
    st->pending = true;
}

static void take_event(web_app *app, const char *json, size_t len, double now)
{
    json_node *n = app->nodes;
    if (json_parse(json, len, n, WEB_NODES) <= 0 || n[0].type != JSON_OBJ)
        return;
    char kind[32];
    json_str(n, 0, "kind", kind, sizeof kind);
    if (strcmp(kind, "start") == 0)
        stats_restart(app);  /* a new brain: cycles start over */
    app->event_bucket += (now - app->event_bucket_s) * WEB_EVENTS_PER_S;
    if (app->event_bucket > WEB_EVENTS_PER_S)
        app->event_bucket = WEB_EVENTS_PER_S;
    app->event_bucket_s = now;
    if (app->event_bucket < 1) {
        app->events_dropped++;
        return;
    }
    app->event_bucket -= 1;
    app->n_events++;
    sbuf s = {app->scratch, sizeof app->scratch, 0, false};
    sb_node(&s, n, 0);
    publish_json(app, CH_EVENTS, real_ns(), &s);
}

static void take_slice(web_app *app, const char *json, size_t len, const void *png, size_t png_len)
{
    if (len >= sizeof app->slice_head || png_len == 0 || png_len > WEB_MAX_PNG)
        return;
    if (png_len > app->slice_png_cap) {
        unsigned char *p = realloc(app->slice_png, png_len);
        if (!p)
            return;
        app->slice_png = p;
        app->slice_png_cap = png_len;
    }
    memcpy(app->slice_png, png, png_len);
    app->slice_png_len = png_len;
    memcpy(app->slice_head, json, len);
    app->slice_head_len = len;
    app->slice_time_ns = real_ns();
    app->slice_pending = true;
    app->n_slices++;
}

static void forward_slice(web_app *app)
{
    json_node *n = app->nodes;
    if (json_parse(app->slice_head, app->slice_head_len, n, WEB_NODES) <= 0 || n[0].type != JSON_OBJ)
        return;
    char axis[8];
    json_str(n, 0, "axis", axis, sizeof axis);
    uint64_t t = app->slice_time_ns;
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "{\"timestamp\":{\"sec\":%llu,\"nsec\":%llu},\"frame_id\":\"fieldbrain/slice/%s%.0f\","
                      "\"format\":\"png\",\"data\":\"",
                      (unsigned long long)(t / 1000000000u), (unsigned long long)(t % 1000000000u), axis,
                      json_num(n, 0, "index", 0));
    size_t b64 = 4 * ((app->slice_png_len + 2) / 3);
    size_t total = (size_t)hn + b64 + 2;
    web_msg *m = msg_data(CH_SLICE, t, NULL, 0);
    if (!m)
        return;
    /* lws_b64_encode_string wants room to spare past the text it writes. */
    web_msg *big = realloc(m, sizeof *m + LWS_PRE + 13 + total + 8);
    if (!big) {
        free(m);
        return;
    }
    m = big;
    m->len = 13 + total;
    char *p = (char *)msg_body(m) + 13;
    memcpy(p, head, (size_t)hn);
    int w = lws_b64_encode_string((const char *)app->slice_png, (int)app->slice_png_len, p + hn, (int)b64 + 6);
    if (w < 0 || (size_t)w != b64) {
        free(m);
        return;
    }
    memcpy(p + hn + b64, "\"}", 2);
    publish(app, m);

    sbuf s = {app->scratch, sizeof app->scratch, 0, false};
    sb_node(&s, n, 0);
    publish_json(app, CH_SLICE_INFO, t, &s);
}

static void drain_telemetry(web_app *app, double now)
{
    zmq_msg_t f[3];
    for (int k = 0; k < 3; k++)
        zmq_msg_init(&f[k]);
    for (int taken = 0; taken < WEB_DRAIN_PER_TICK; taken++) {
        if (zmq_msg_recv(&f[0], app->sub, ZMQ_DONTWAIT) < 0)
            break;
        int parts = 1;
        while (zmq_msg_more(&f[parts - 1])) {
            zmq_msg_t *dst = parts < 3 ? &f[parts] : &f[2];
            if (zmq_msg_recv(dst, app->sub, 0) < 0)
                break;
            if (parts < 3)
                parts++;
        }
        app->n_msgs++;
        app->last_msg_s = now;
        app->ever_reached = true;
        set_reachable(app, true, now);
        if (parts < 2)
            continue;
        const char *topic = zmq_msg_data(&f[0]);
        size_t tl = zmq_msg_size(&f[0]);
        const char *json = zmq_msg_data(&f[1]);
        size_t jl = zmq_msg_size(&f[1]);
        /* One robot: "stats"; a fleet: "stats/ID/" (telemetry/README.md);
         * the body says which robot either way. */
        bool kind5 = tl == 5 || (tl > 5 && topic[5] == '/');
        if (kind5 && memcmp(topic, "stats", 5) == 0)
            take_stats(app, json, jl);
        else if (kind5 && memcmp(topic, "event", 5) == 0)
            take_event(app, json, jl, now);
        else if (kind5 && memcmp(topic, "slice", 5) == 0 && parts == 3)
            take_slice(app, json, jl, zmq_msg_data(&f[2]), zmq_msg_size(&f[2]));
    }
    for (int k = 0; k < 3; k++)
        zmq_msg_close(&f[k]);
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    web_app *app = lws_container_of(sul, web_app, tick);
    double now = mono_s();
    drain_telemetry(app, now);
    for (int i = 0; i < app->n_stats_slots; i++) {
        web_stats *st = &app->stats[i];
        if (st->pending && now - st->sent_s >= 1.0 / app->cfg->max_hz) {
            forward_stats(app, st);
            st->pending = false;
            st->sent_s = now;
        }
    }
    if (app->slice_pending && now - app->slice_sent_s >= 1.0 / app->cfg->slice_hz) {
        forward_slice(app);
        app->slice_pending = false;
        app->slice_sent_s = now;
    }
    if (app->reachable && now - app->last_msg_s > app->cfg->timeout_s)
        set_reachable(app, false, now);
    if (now - app->last_source_s >= 1.0)
        send_source(app, now);
    lws_sul_schedule(app->lws, 0, &app->tick, on_tick, WEB_TICK_US);
}

/* --- the Foxglove protocol, client side in ---------------------------------------- */

static void client_status(web_client *c, int level, const char *message)
{
    char text[512];
    sbuf s = {text, sizeof text, 0, false};
    sb_fmt(&s, "{\"op\":\"status\",\"level\":%d,\"message\":", level);
    sb_jstr(&s, message);
    sb_cat(&s, "}");
    if (!s.overflow)
        client_ctrl_text(c, s.p, s.len);
}

static bool as_u32(const json_node *n, int i, uint32_t *out)
{
    if (i < 0 || n[i].type != JSON_NUM || !(n[i].num >= 0 && n[i].num <= 4294967295.0) ||
        n[i].num != floor(n[i].num))
        return false;
    *out = (uint32_t)n[i].num;
    return true;
}

/* One whole text message from a viewer. Returns false when it is malformed:
 * the viewer is closed and nothing else happens. */
static bool client_message(web_client *c)
{
    web_app *app = c->app;
    json_node *n = app->rx_nodes;
    if (json_parse((const char *)c->rx, c->rx_len, n, 512) <= 0 || n[0].type != JSON_OBJ)
        return false;
    int opi = json_get(n, 0, "op");
    if (opi < 0 || n[opi].type != JSON_STR)
        return false;
    char op[32];
    json_str(n, 0, "op", op, sizeof op);
    if (strcmp(op, "subscribe") == 0) {
        int arr = json_get(n, 0, "subscriptions");
        if (arr < 0 || n[arr].type != JSON_ARR)
            return false;
        for (int i = n[arr].child; i >= 0; i = n[i].next) {
            uint32_t id, ch;
            if (n[i].type != JSON_OBJ || !as_u32(n, json_get(n, i, "id"), &id) ||
                !as_u32(n, json_get(n, i, "channelId"), &ch))
                return false;
        }
        for (int i = n[arr].child; i >= 0; i = n[i].next) {
            uint32_t id, ch;
            as_u32(n, json_get(n, i, "id"), &id);
            as_u32(n, json_get(n, i, "channelId"), &ch);
            web_channel *wc = channel_find(app, ch);
            bool dup = false;
            for (int k = 0; k < c->n_subs; k++)
                dup = dup || c->subs[k].id == id;
            char why[96];
            if (!wc) {
                snprintf(why, sizeof why, "no channel %u", ch);
                client_status(c, 1, why);
            } else if (dup) {
                snprintf(why, sizeof why, "subscription id %u is in use", id);
                client_status(c, 2, why);
            } else if (client_sub_of(c, ch) >= 0) {
                snprintf(why, sizeof why, "channel %u is subscribed already", ch);
                client_status(c, 1, why);
            } else if (c->n_subs == WEB_MAX_SUBS) {
                client_status(c, 2, "too many subscriptions");
            } else {
                c->subs[c->n_subs].id = id;
                c->subs[c->n_subs++].channel = ch;
                if (wc->last)
                    client_data(c, wc->last);
            }
        }
        return true;
    }
    if (strcmp(op, "unsubscribe") == 0) {
        int arr = json_get(n, 0, "subscriptionIds");
        if (arr < 0 || n[arr].type != JSON_ARR)
            return false;
        for (int i = n[arr].child; i >= 0; i = n[i].next) {
            uint32_t id;
            if (!as_u32(n, i, &id))
                return false;
            int k = 0;
            while (k < c->n_subs && c->subs[k].id != id)
                k++;
            if (k == c->n_subs) {
                char why[96];
                snprintf(why, sizeof why, "no subscription %u", id);
                client_status(c, 1, why);
                continue;
            }
            c->subs[k] = c->subs[--c->n_subs];
        }
        return true;
    }
    /* A well-formed request this server does not offer (it advertises no
     * capabilities): said, not punished. */
    char why[96];
    snprintf(why, sizeof why, "fieldbrain-web does not support op '%s'", op);
    client_status(c, 2, why);
    return true;
}

static void client_hello(web_app *app, web_client *c)
{
    sbuf s = {app->scratch, sizeof app->scratch, 0, false};
    sb_fmt(&s, "{\"op\":\"serverInfo\",\"name\":\"fieldbrain-web\",\"capabilities\":[],"
               "\"supportedEncodings\":[],\"metadata\":{\"telemetry\":");
    sb_jstr(&s, app->cfg->endpoint);
    sb_fmt(&s, ",\"version\":\"%s\"},\"sessionId\":\"%s\"}", FB_VERSION, app->session);
    if (!s.overflow)
        client_ctrl_text(c, s.p, s.len);
    s = (sbuf){app->scratch, sizeof app->scratch, 0, false};
    advertise_text(app, 0, &s);
    if (!s.overflow)
        client_ctrl_text(c, s.p, s.len);
    if (!app->reachable) {
        char m[300];
        snprintf(m, sizeof m, "no telemetry from %s yet: is fieldbrain running with telemetry.enabled?",
                 app->cfg->endpoint);
        if (app->ever_reached)
            snprintf(m, sizeof m, "no telemetry from %s for %g s: is fieldbrain running with telemetry.enabled?",
                     app->cfg->endpoint, app->cfg->timeout_s);
        s = (sbuf){app->scratch, sizeof app->scratch, 0, false};
        sb_cat(&s, "{\"op\":\"status\",\"level\":1,\"id\":\"telemetry\",\"message\":");
        sb_jstr(&s, m);
        sb_cat(&s, "}");
        if (!s.overflow)
            client_ctrl_text(c, s.p, s.len);
    }
}

static int close_now(struct lws *wsi, int status, const char *reason)
{
    lws_close_reason(wsi, (enum lws_close_status)status, (unsigned char *)reason, strlen(reason));
    return -1;
}

static int on_foxglove(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    web_client *c = user;
    web_app *app = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        memset(c, 0, sizeof *c);
        c->wsi = wsi;
        c->app = app;
        if (app->n_clients == WEB_MAX_CLIENTS) {
            app->refused_clients++;
            return close_now(wsi, 1013 /* try again later */, "too many viewers");
        }
        app->clients[app->n_clients++] = c;
        c->registered = true;
        c->bucket = WEB_CLIENT_BURST;
        c->bucket_s = mono_s();
        client_hello(app, c);
        return 0;

    case LWS_CALLBACK_CLOSED:
        if (c->registered) {
            for (int i = 0; i < app->n_clients; i++) {
                if (app->clients[i] == c) {
                    app->clients[i] = app->clients[--app->n_clients];
                    break;
                }
            }
            c->registered = false;
        }
        client_release(c);
        return 0;

    case LWS_CALLBACK_RECEIVE: {
        if (c->close_status)
            return 0;
        if (lws_frame_is_binary(wsi))
            return close_now(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "no binary messages are accepted");
        if (lws_is_first_fragment(wsi))
            c->rx_len = 0;
        if (c->rx_len + len + lws_remaining_packet_payload(wsi) > WEB_RX_MAX)
            return close_now(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
            return 0;
        double now = mono_s();
        c->bucket += (now - c->bucket_s) * WEB_CLIENT_MSGS_PER_S;
        c->bucket = c->bucket > WEB_CLIENT_BURST ? WEB_CLIENT_BURST : c->bucket;
        c->bucket_s = now;
        if (c->bucket < 1)
            return close_now(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too many messages");
        c->bucket -= 1;
        bool ok = client_message(c);
        c->rx_len = 0;
        if (!ok)
            return close_now(wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD, "malformed message");
        return 0;
    }

    case LWS_CALLBACK_SERVER_WRITEABLE: {
        if (c->close_status)
            return close_now(wsi, c->close_status, c->close_reason);
        web_msg *m = NULL;
        if (c->ctrl_n > 0) {
            m = c->ctrl[c->ctrl_head];
            c->ctrl_head = (c->ctrl_head + 1) % WEB_CTRL_QUEUE;
            c->ctrl_n--;
        }
        while (!m && c->data_n > 0) {
            m = data_pop(c);
            int k = client_sub_of(c, m->channel);
            if (k < 0) {      /* unsubscribed since it was queued */
                msg_unref(m);
                m = NULL;
                continue;
            }
            uint32_t id = c->subs[k].id;
            for (int b = 0; b < 4; b++)
                msg_body(m)[1 + b] = (unsigned char)(id >> (8 * b));
        }
        if (!m)
            return 0;
        size_t n = m->len;
        int w = lws_write(wsi, msg_body(m), n, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
        msg_unref(m);
        /* A short write is kept and finished by libwebsockets itself. */
        if (w < 0)
            return -1;
        if (c->ctrl_n > 0 || c->data_n > 0)
            lws_callback_on_writable(wsi);
        return 0;
    }

    default:
        return 0;
    }
}

/* --- the page, over plain HTTP ----------------------------------------------------- */

static int on_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    web_http *h = user;
    (void)len;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* A WebSocket that does not ask for foxglove.websocket.v1 lands
         * here, on the first protocol: refused. */
        return 1;

    case LWS_CALLBACK_HTTP: {
        const char *uri = in;
        h->asset = NULL;
        h->sent = 0;
        if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0) {
            for (size_t i = 0; i < web_n_assets; i++)
                if (strcmp(uri, web_assets[i].path) == 0)
                    h->asset = &web_assets[i];
        }
        if (!h->asset) {
            if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
                return -1;
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
        if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, h->asset->mime, h->asset->len, &p, end) ||
            lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                        (const unsigned char *)"no-store", 8, &p, end) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
            return 1;
        lws_callback_on_writable(wsi);
        return 0;
    }

    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (!h || !h->asset)
            return 0;
        unsigned char buf[LWS_PRE + 8192];
        size_t left = h->asset->len - h->sent, n = left < 8192 ? left : 8192;
        memcpy(buf + LWS_PRE, h->asset->data + h->sent, n);
        bool last = n == left;
        if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
            return 1;
        h->sent += n;
        if (last) {
            h->asset = NULL;
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        lws_callback_on_writable(wsi);
        return 0;
    }

    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* --- running it -------------------------------------------------------------------- */

const char *web_strerror(int code)
{
    switch (code) {
    case WEB_OK: return "ok";
    case WEB_ERR_CONFIG: return "bad configuration";
    case WEB_ERR_ZMQ: return "telemetry socket error";
    case WEB_ERR_LISTEN: return "cannot listen";
    case WEB_ERR_NOMEM: return "out of memory";
    default: return "unknown error";
    }
}

void web_config_default(web_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->endpoint = WEB_DEFAULT_ENDPOINT;
    cfg->bind = WEB_DEFAULT_BIND;
    cfg->port = WEB_DEFAULT_PORT;
    cfg->max_hz = 20;
    cfg->slice_hz = 2;
    cfg->timeout_s = 2;
}

/* The CURVE client keys, from --keys FILE or the three key options. */
static int client_keys(const web_config *cfg, curve_client *keys, char *err, size_t err_len)
{
    int n_keys = !!cfg->server_key + !!cfg->public_key + !!cfg->secret_key;
    if (cfg->keys_file && n_keys)
        return fb_fail(err, err_len, WEB_ERR_CONFIG, "either --keys FILE or the three key options, not both");
    if (cfg->keys_file) {
        if (curve_client_read(cfg->keys_file, keys, err, err_len) < 0)
            return WEB_ERR_CONFIG;
        return 1;
    }
    if (n_keys == 0)
        return 0;
    if (n_keys != 3)
        return fb_fail(err, err_len, WEB_ERR_CONFIG,
                       "CURVE needs all three of --server-key, --public-key and --secret-key");
    const struct { const char *key, *name; char *out; } k[] = {
        {cfg->server_key, "--server-key", keys->server_key},
        {cfg->public_key, "--public-key", keys->public_key},
        {cfg->secret_key, "--secret-key", keys->secret_key},
    };
    for (int i = 0; i < 3; i++) {
        uint8_t bin[32];
        if (strlen(k[i].key) != CURVE_Z85_CHARS || !zmq_z85_decode(bin, k[i].key))
            return fb_fail(err, err_len, WEB_ERR_CONFIG, "%s: not a Z85 CURVE key (40 characters)", k[i].name);
        memcpy(k[i].out, k[i].key, CURVE_Z85_CHARS + 1);
    }
    char derived[CURVE_Z85_CHARS + 1];
    if (zmq_curve_public(derived, keys->secret_key) != 0 || strcmp(derived, keys->public_key) != 0)
        return fb_fail(err, err_len, WEB_ERR_CONFIG, "--public-key does not belong to --secret-key");
    return 1;
}

static int open_sub(web_app *app, char *err, size_t err_len)
{
    const web_config *cfg = app->cfg;
    curve_client keys;
    int curve = client_keys(cfg, &keys, err, err_len);
    if (curve < 0)
        return curve;
    app->zctx = zmq_ctx_new();
    if (!app->zctx)
        return fb_fail(err, err_len, WEB_ERR_ZMQ, "cannot make a ZeroMQ context: %s", zmq_strerror(zmq_errno()));
    app->sub = zmq_socket(app->zctx, ZMQ_SUB);
    if (!app->sub)
        return fb_fail(err, err_len, WEB_ERR_ZMQ, "cannot make a SUB socket: %s", zmq_strerror(zmq_errno()));
    int zero = 0;
    zmq_setsockopt(app->sub, ZMQ_LINGER, &zero, sizeof zero);
    if (curve && curve_client_setup(app->sub, &keys, err, err_len) < 0)
        return WEB_ERR_ZMQ;
    static const char *topics[] = {"stats", "event", "slice"};
    for (int i = 0; i < 3; i++)
        zmq_setsockopt(app->sub, ZMQ_SUBSCRIBE, topics[i], strlen(topics[i]));
    if (zmq_connect(app->sub, cfg->endpoint) != 0)
        return fb_fail(err, err_len, WEB_ERR_ZMQ, "cannot connect to telemetry at %s: %s", cfg->endpoint,
                       zmq_strerror(zmq_errno()));
    return 0;
}

int web_run(const web_config *cfg, volatile sig_atomic_t *stop, char *err, size_t err_len)
{
    if (!(cfg->max_hz > 0 && cfg->max_hz <= 1000) || !(cfg->slice_hz > 0 && cfg->slice_hz <= 100) ||
        !(cfg->timeout_s > 0 && cfg->timeout_s <= 3600) || cfg->port < 0 || cfg->port > 65535) {
        return fb_fail(err, err_len, WEB_ERR_CONFIG, "out of range: max rate 0 to 1000 Hz, slice rate 0 to "
                       "100 Hz, timeout 0 to 3600 s, port 0 to 65535");
    }
    web_app *app = calloc(1, sizeof *app);
    if (!app)
        return fb_fail(err, err_len, WEB_ERR_NOMEM, "out of memory");
    app->cfg = cfg;
    app->event_bucket = WEB_EVENTS_PER_S;
    app->event_bucket_s = mono_s();
    snprintf(app->session, sizeof app->session, "%llu", (unsigned long long)real_ns());
    channel_add(app, CH_STATS, "/fieldbrain/stats", "fieldbrain.Stats", SCHEMA_STATS);
    channel_add(app, CH_EVENTS, "/fieldbrain/events", "fieldbrain.Event", SCHEMA_EVENT);
    channel_add(app, CH_SLICE, "/fieldbrain/slice", "foxglove.CompressedImage", SCHEMA_IMAGE);
    channel_add(app, CH_SLICE_INFO, "/fieldbrain/slice_info", "fieldbrain.SliceInfo", SCHEMA_SLICE_INFO);
    channel_add(app, CH_SOURCE, "/fieldbrain/source", "fieldbrain.Source", SCHEMA_SOURCE);

    int rc = open_sub(app, err, err_len);
    if (rc)
        goto close_sub;

    static const struct lws_protocols protocols[] = {
        {"http", on_http, sizeof(web_http), 0, 0, NULL, 0},
        {WEB_SUBPROTOCOL, on_foxglove, sizeof(web_client), 4096, 0, NULL, 0},
        {NULL, NULL, 0, 0, 0, NULL, 0},
    };
    /* Ping a quiet viewer after 20 s, hang up after 60 s without an answer. */
    static const lws_retry_bo_t idle = {.secs_since_valid_ping = 20, .secs_since_valid_hangup = 60};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = cfg->port;
    info.iface = cfg->bind;
    info.protocols = protocols;
    info.user = app;
    info.gid = -1;
    info.uid = -1;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    info.timeout_secs = 10;
    info.max_http_header_data = 4096;
    info.fd_limit_per_thread = 1 + 8 + 4 * WEB_MAX_CLIENTS;
    info.retry_and_idle_policy = &idle;
    lws_set_log_level(LLL_ERR, NULL);
    app->lws = lws_create_context(&info);
    if (!app->lws) {
        rc = fb_fail(err, err_len, WEB_ERR_LISTEN, "cannot listen on %s port %d (in use?)", cfg->bind, cfg->port);
        goto close_sub;
    }
    struct lws_vhost *vh = lws_get_vhost_by_name(app->lws, "default");
    int port = vh ? lws_get_vhost_listen_port(vh) : cfg->port;
    printf("fieldbrain-web: http://%s:%d/ (Foxglove: ws://%s:%d), telemetry from %s\n", cfg->bind, port,
           cfg->bind, port, cfg->endpoint);
    fflush(stdout);

    lws_sul_schedule(app->lws, 0, &app->tick, on_tick, 1);
    while (!*stop)
        if (lws_service(app->lws, 0) < 0)
            break;

    lws_sul_cancel(&app->tick);
    lws_context_destroy(app->lws);
close_sub:
    for (int i = 0; i < app->n_channels; i++)
        msg_unref(app->channels[i].last);
    if (app->sub)
        zmq_close(app->sub);
    if (app->zctx)
        zmq_ctx_term(app->zctx);
    free(app->slice_png);
    free(app);
    return rc;
}
