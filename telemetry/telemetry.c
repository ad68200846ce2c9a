/* telemetry.c: the publisher (telemetry.h). The loop copies plain values
 * into bounded lock-free queues and a single slice slot; the telemetry
 * thread drains them, writes JSON and PNG, and owns the XPUB socket, whose
 * subscription messages it answers with the last stats (a last-value cache).
 */
#include "telemetry.h"
#include "fail.h"
#include "guard.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <stb_image_write.h>

#include "curve.h"
#include "json.h"

/* A draft option in libzmq 4.3 (present in the library, hidden by the
 * header unless built with drafts): like ZMQ_XPUB_MANUAL, and the first send
 * after a ZMQ_SUBSCRIBE goes to the newcomer alone, so a last-value cache
 * does not repeat itself to everybody else. */
#ifndef ZMQ_XPUB_MANUAL_LAST_VALUE
#define ZMQ_XPUB_MANUAL_LAST_VALUE 98
#endif

/* The topic families. With one robot a message's topic is the family's
 * name alone; in a fleet (more than one robot) it is NAME/ID/ for the
 * robot it is about, or event/fleet/ for an event of the whole fleet. The
 * closing slash keeps one robot's subscription (stats/7/) from matching
 * another's (stats/70/): ZeroMQ matches prefixes. */
static const char *const topics[] = {"stats", "event", "slice"};
#define N_TOPICS 3
#define FLEET_TOPIC "fleet/"
#define TOPIC_CAP 32
/* Matches no subscription we ever add (they are all topic names): sent after
 * subscriptions that got no cached value, so the next real message is not
 * targeted at one pipe. */
static const char sentinel[] = "-";

#define STATS_JSON_CAP 16384
#define POLL_MS 10   /* the longest a queued message waits for the thread */
/* Subscriptions are work a peer can make us do as fast as it can send. At
 * most SUB_BUDGET are handled between two drains of the slots, so a flood
 * never starves the stats; at most LV_PER_WINDOW last-value copies go out
 * in any LV_WINDOW_NS, so it cannot turn into a flood of copies either.
 * SUB_RCVHWM bounds what libzmq reads ahead from one peer: in manual mode
 * the XPUB moves every subscription it reads into an unbounded queue of its
 * own until we receive it, so only a short pipe (TCP pushing back on the
 * peer beyond it) keeps that queue, and our memory, bounded. Honest
 * subscribers send a handful of subscriptions each. */
#define SUB_BUDGET 256
#define SUB_RCVHWM 16
/* A subscription is a topic (at most TOPIC_CAP bytes that mean anything
 * here); nothing larger than a handshake's command frames is let in. */
#define SUB_MAXMSG 1024
#define LV_PER_WINDOW 20
#define LV_WINDOW_NS 100000000
#define SLICE_FREE 0
#define SLICE_FILLING 1
#define SLICE_READY 2
#define SLICE_WORKING 3

/* ---- bounded lock-free queue (Vyukov): a full queue is a refusal, never a
 * wait; one consumer. ---- */
typedef struct {
    _Atomic uint64_t *seq;
    unsigned char *data;
    size_t stride;
    uint64_t mask;
    _Atomic uint64_t head; /* producers */
    _Atomic uint64_t tail; /* the consumer */
} ring;

static int ring_init(ring *r, uint32_t slots, size_t stride)
{
    r->mask = slots - 1;
    r->stride = stride;
    r->seq = calloc(slots, sizeof *r->seq);
    r->data = calloc(slots, stride);
    if (!r->seq || !r->data)
        return -1;
    for (uint32_t i = 0; i < slots; i++)
        atomic_init(&r->seq[i], i);
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

static void ring_free(ring *r)
{
    free(r->seq);
    free(r->data);
}

/* Returns the slot to fill (then ring_publish) or NULL when full. */
static void *ring_claim(ring *r, uint64_t *pos_out)
{
    uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
    for (;;) {
        uint64_t seq = atomic_load_explicit(&r->seq[pos & r->mask], memory_order_acquire);
        int64_t diff = (int64_t)(seq - pos);
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                *pos_out = pos;
                return r->data + (pos & r->mask) * r->stride;
            }
        } else if (diff < 0) {
            return NULL;
        } else {
            pos = atomic_load_explicit(&r->head, memory_order_relaxed);
        }
    }
}

static void ring_publish(ring *r, uint64_t pos)
{
    atomic_store(&r->seq[pos & r->mask], pos + 1);
}

static void *ring_peek(ring *r, uint64_t *pos_out)
{
    uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t seq = atomic_load(&r->seq[pos & r->mask]);
    if (seq != pos + 1)
        return NULL;
    *pos_out = pos;
    return r->data + (pos & r->mask) * r->stride;
}

static void ring_release(ring *r, uint64_t pos)
{
    atomic_store_explicit(&r->seq[pos & r->mask], pos + r->mask + 1, memory_order_release);
    atomic_store_explicit(&r->tail, pos + 1, memory_order_relaxed);
}

/* ---- the publisher ---- */

typedef struct {
    telemetry_cycle c;             /* motors/lateness_hist pointers unused */
    uint32_t every;                /* the period it was due by */
    uint32_t place;                /* its robot's place in the fleet */
    bool has_hist;
    uint64_t hist[TELEMETRY_HIST_BINS];
    float motors[];                /* options.motors */
} cycle_slot;

struct telemetry {
    telemetry_options o;
    char bound[TELEMETRY_STR];
    void *ctx, *pub;
    curve_zap *zap;                /* the context's ZAP handler: allow-list, the guard's refusals */
    peer_guard *guard;             /* the subscribers' TCP connections held to a budget */
    bool lvc_targeted;             /* ZMQ_XPUB_MANUAL_LAST_VALUE works */
    int wake_fd;
    _Atomic bool wake_pending;
    _Atomic bool stop;
    pthread_t thread;
    bool thread_started;

    ring stats, events;
    /* What telemetry_set_rates changes, read by the loop's calls: atomics,
     * the slice's plane (axis, index, channel) packed into one so that the
     * loop never sees half of a change. */
    _Atomic uint32_t every, slice_every;
    _Atomic uint64_t plane_choice;
    _Atomic int slice_state;
    /* The slice in the slot: its plane is fixed by the loop at acquire and
     * read by the telemetry thread once committed (slice_state orders the
     * two), so a change meanwhile never mislabels a picture. */
    uint32_t slice_axis, slice_index, plane_w, plane_h;
    int slice_channel;
    uint64_t slice_cycle;
    bool slice_ok;
    float *slab;                   /* the slice's plane, all channels, filled by the loop */
    uint64_t slab_cap;             /* its floats: the largest plane of the field, all channels */
    float *plane;                  /* the picture's values, telemetry thread */
    uint8_t *rgb;
    uint8_t lut[768];

    /* The fleet, fixed at create: each robot's place in o.robot_ids found
     * by its id (by_id: id << 32 | place, sorted), and its "ID/" for
     * topics and subscriptions. */
    uint32_t n_places;             /* max(o.n_robots, 1) */
    bool fleet;                    /* more than one robot: per-robot topics */
    uint64_t *by_id;
    char (*id_topic)[16];
    _Atomic uint32_t slice_robot;  /* the robot the next slice shows */
    uint32_t slice_robot_id;       /* the robot of the slice in the slot */

    /* telemetry thread only */
    char *json;
    struct robot_state {
        size_t cached_len;         /* its last stats JSON (in cached), for newcomers; 0 none */
        uint64_t cached_order;     /* when it was cached (1, 2, ...), to find the newest */
        uint64_t prev_cycle;       /* its previous stats, for rate_hz */
        int64_t prev_time_ns;
    } *robots;                     /* n_places */
    char *cached;                  /* n_places x STATS_JSON_CAP */
    uint64_t cache_order;
    int64_t newest;                /* the place cached last; -1 none */
    unsigned char *png;
    size_t png_len, png_cap;
    bool read_failure_told;        /* the first failed plane read was logged */
    bool aimed;                    /* a subscription was received and not answered by a send */
    int64_t lv_window_start_ns;    /* the last-value rate bound's current window */
    uint32_t lv_in_window;         /* copies sent in it */

    _Atomic uint64_t n_pushed_stats, n_dropped_stats, n_pushed_events, n_dropped_events;
    _Atomic uint64_t n_pushed_slices, n_dropped_slices, n_slice_read_failed;
    _Atomic uint64_t n_sent_stats, n_sent_events, n_sent_slices, n_send_failed;
    _Atomic uint64_t n_done_stats, n_done_events;
    _Atomic uint64_t n_subscriptions, n_last_value;
    _Atomic uint64_t n_last_value_limited, n_subscriptions_deferred;
};

const char *telemetry_strerror(int err)
{
    switch (err) {
    case TELEMETRY_OK: return "ok";
    case TELEMETRY_ERR_PARAM: return "bad telemetry option";
    case TELEMETRY_ERR_NOMEM: return "out of memory";
    case TELEMETRY_ERR_ZMQ: return "ZeroMQ call failed";
    case TELEMETRY_ERR_THREAD: return "could not start the telemetry thread";
    default: return "unknown telemetry error";
    }
}

void telemetry_options_default(telemetry_options *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->endpoint, sizeof o->endpoint, "tcp://127.0.0.1:5557");
    o->every = 10;
    o->slice_every = 100;
    o->slice_axis = 2;
    o->slice_index = -1;
    o->slice_channel = -1;
}

/* ---- colour map: L* from 12 to 96 in equal steps, hue turning from blue
 * through teal and green to yellow, chroma highest mid-way. Computed, and
 * kept inside the sRGB gamut so the lightness steps stay even. ---- */

static double srgb_gamma(double v)
{
    return v <= 0.0031308 ? 12.92 * v : 1.055 * pow(v, 1.0 / 2.4) - 0.055;
}

static bool lab_to_srgb(double L, double a, double b, double rgb[3])
{
    /* D65 white */
    double fy = (L + 16.0) / 116.0, fx = fy + a / 500.0, fz = fy - b / 200.0;
    double e = 6.0 / 29.0;
    double fi[3] = {fx, fy, fz}, xyz[3];
    for (int i = 0; i < 3; i++)
        xyz[i] = fi[i] > e ? fi[i] * fi[i] * fi[i] : 3 * e * e * (fi[i] - 4.0 / 29.0);
    xyz[0] *= 0.95047;
    xyz[2] *= 1.08883;
    double lin[3] = {
        3.2404542 * xyz[0] - 1.5371385 * xyz[1] - 0.4985314 * xyz[2],
        -0.9692660 * xyz[0] + 1.8760108 * xyz[1] + 0.0415560 * xyz[2],
        0.0556434 * xyz[0] - 0.2040259 * xyz[1] + 1.0572252 * xyz[2],
    };
    bool inside = true;
    for (int i = 0; i < 3; i++) {
        if (lin[i] < -1e-9 || lin[i] > 1 + 1e-9)
            inside = false;
        double v = lin[i] < 0 ? 0 : lin[i] > 1 ? 1 : lin[i];
        rgb[i] = srgb_gamma(v);
    }
    return inside;
}

void telemetry_colormap(uint8_t out[768])
{
    const double pi = 3.14159265358979323846;
    for (int i = 0; i < 256; i++) {
        double t = i / 255.0;
        double L = 12.0 + 84.0 * t;
        double hue = (290.0 - 200.0 * t) * pi / 180.0; /* 290 blue-violet -> 90 yellow */
        double chroma = 20.0 + 45.0 * sin(pi * t) + 25.0 * t;
        double rgb[3];
        /* Lower the chroma until the colour fits, keeping L* (and so the
         * evenness of the ramp) exact. */
        while (!lab_to_srgb(L, chroma * cos(hue), chroma * sin(hue), rgb) && chroma > 0)
            chroma -= 0.5;
        if (chroma < 0)
            lab_to_srgb(L, 0, 0, rgb);
        for (int k = 0; k < 3; k++) {
            double v = rgb[k] * 255.0 + 0.5;
            out[3 * i + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

/* ---- sending ---- */

static void send_msg(telemetry *t, const char *topic, const void *a, size_t alen,
                     const void *b, size_t blen, _Atomic uint64_t *sent)
{
    int more = b ? ZMQ_SNDMORE : 0;
    if (zmq_send(t->pub, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(t->pub, a, alen, more | ZMQ_DONTWAIT) < 0 ||
        (b && zmq_send(t->pub, b, blen, ZMQ_DONTWAIT) < 0)) {
        atomic_fetch_add(&t->n_send_failed, 1);
        return;
    }
    if (sent)
        atomic_fetch_add(sent, 1);
}

static bool prefix_of(const char *p, size_t plen, const char *topic)
{
    return plen <= strlen(topic) && memcmp(p, topic, plen) == 0;
}

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether one more last-value copy fits the rate bound; counts a refusal. */
static bool last_value_allowed(telemetry *t)
{
    int64_t now = monotonic_ns();
    if (now - t->lv_window_start_ns >= LV_WINDOW_NS) {
        t->lv_window_start_ns = now;
        t->lv_in_window = 0;
    }
    if (t->lv_in_window >= LV_PER_WINDOW) {
        atomic_fetch_add(&t->n_last_value_limited, 1);
        return false;
    }
    t->lv_in_window++;
    return true;
}

/* The topic of place's messages in family fam (topics[fam]). */
static void topic_of(const telemetry *t, int fam, uint32_t place, char out[TOPIC_CAP])
{
    if (t->fleet)
        snprintf(out, TOPIC_CAP, "%s/%s", topics[fam], t->id_topic[place]);
    else
        snprintf(out, TOPIC_CAP, "%s", topics[fam]);
}

/* The newest cached stats among the robots whose "ID/" starts with q (all
 * when ql is 0): its place, or -1 when none of them has stats yet. *count
 * gets how many robots match, *exact whether q is one whole "ID/". */
static int64_t robots_matching(const telemetry *t, const char *q, size_t ql, uint32_t *count,
                               bool *exact)
{
    int64_t best = -1;
    *count = 0;
    *exact = false;
    if (ql == 0) {
        *count = t->n_places;
        return t->newest;
    }
    for (uint32_t p = 0; p < t->n_places; p++) {
        size_t il = strlen(t->id_topic[p]);
        if (ql > il || memcmp(q, t->id_topic[p], ql) != 0)
            continue;
        (*count)++;
        *exact = *exact || ql == il;
        if (t->robots[p].cached_len > 0 &&
            (best < 0 || t->robots[p].cached_order > t->robots[best].cached_order))
            best = p;
    }
    return best;
}

static void set_subscription(telemetry *t, bool subscribe, const char *topic, size_t len)
{
    zmq_setsockopt(t->pub, subscribe ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, topic, len);
}

/* A fleet subscription longer than a family's name: prefix is fam + "/" +
 * q. Subscribes (or unsubscribes) what matches the fleet's topics and
 * nothing else, so that a peer's entries stay bounded by the topics there
 * are: "fam/" itself for the whole family, one robot's whole topic, the
 * fleet's events, or a partial id as given when it starts some robot's.
 * Returns the place whose cached stats answer it (-1: none). */
static int64_t fleet_subscription(telemetry *t, bool subscribe, int fam, const char *prefix,
                                  size_t plen)
{
    size_t fl = strlen(topics[fam]);
    const char *q = prefix + fl + 1;
    size_t ql = plen - fl - 1;
    if (fam == 1 && ql <= strlen(FLEET_TOPIC) && memcmp(q, FLEET_TOPIC, ql) == 0 && ql > 0) {
        set_subscription(t, subscribe, prefix, plen); /* event/fleet/ or a start of it */
        return -1;
    }
    uint32_t count;
    bool exact;
    int64_t lv = robots_matching(t, q, ql, &count, &exact);
    if (count == 0)
        return -1;
    set_subscription(t, subscribe, prefix, plen);
    return fam == 0 ? lv : -1;
}

/* Sends place's cached stats, on its topic, as a last-value copy. */
static void send_last_value(telemetry *t, int64_t place)
{
    char topic[TOPIC_CAP];
    topic_of(t, 0, (uint32_t)place, topic);
    send_msg(t, topic, t->cached + (size_t)place * STATS_JSON_CAP, t->robots[place].cached_len,
             NULL, 0, NULL);
    atomic_fetch_add(&t->n_last_value, 1);
}

/* A (un)subscription from a subscriber. Targeted mode: we keep the
 * subscriptions ourselves, as whole topic names (libzmq keeps a set of
 * peers per topic, so a repeated subscription adds nothing), and the
 * cached stats go to the newcomer alone because libzmq aims the first send
 * after a receive at the pipe that asked. A subscription not answered with
 * a copy leaves that aim set (t->aimed); subscriptions_unaim clears it
 * before anything else is sent. Only one copy can be aimed: a subscription
 * that matches several robots' stats gets the newest of them. Returns
 * false when nothing was waiting. */
static bool handle_subscription(telemetry *t)
{
    char buf[256];
    int n = zmq_recv(t->pub, buf, sizeof buf, ZMQ_DONTWAIT);
    if (n < 0)
        return false;
    if (t->lvc_targeted)
        t->aimed = true;
    if (n == 0)
        return true;
    size_t len = (size_t)n > sizeof buf ? sizeof buf : (size_t)n;
    bool subscribe = buf[0] == 1;
    const char *prefix = buf + 1;
    size_t plen = len - 1;
    int64_t lv = -1;  /* the robot whose cached stats answer it */
    if (subscribe)
        atomic_fetch_add(&t->n_subscriptions, 1);
    for (int i = 0; i < N_TOPICS; i++) {
        size_t fl = strlen(topics[i]);
        if (prefix_of(prefix, plen, topics[i])) {
            if (t->lvc_targeted)
                set_subscription(t, subscribe, topics[i], fl);
            if (i == 0)
                lv = t->newest;
        } else if (t->fleet && plen > fl && memcmp(prefix, topics[i], fl) == 0 &&
                   prefix[fl] == '/') {
            if (t->lvc_targeted) {
                int64_t p = fleet_subscription(t, subscribe, i, prefix, plen);
                lv = p >= 0 ? p : lv;
            } else if (i == 0) {
                uint32_t count;
                bool exact;
                lv = robots_matching(t, prefix + fl + 1, plen - fl - 1, &count, &exact);
            }
        }
    }
    if (subscribe && lv >= 0 && last_value_allowed(t)) {
        /* Without targeting, everybody subscribed to its topic gets the
         * repeat: the cycle number tells them (README.md). */
        send_last_value(t, lv);
        t->aimed = false;
    }
    return true;
}

/* The sentinel matches nobody's subscription: sending it spends the aim a
 * received subscription left, so the next real message reaches everybody. */
static void subscriptions_unaim(telemetry *t)
{
    if (t->aimed) {
        zmq_send(t->pub, sentinel, 1, ZMQ_DONTWAIT);
        t->aimed = false;
    }
}

/* At most SUB_BUDGET subscriptions; true if more may be waiting (the
 * budget ran out: counted, and the caller drains before coming back). */
static bool handle_subscriptions(telemetry *t)
{
    int handled = 0;
    while (handled < SUB_BUDGET && handle_subscription(t))
        handled++;
    subscriptions_unaim(t);
    if (handled < SUB_BUDGET)
        return false;
    atomic_fetch_add(&t->n_subscriptions_deferred, 1);
    return true;
}

static void window_json(json_writer *w, const char *key, const telemetry_window *win)
{
    jw_key(w, key);
    jw_obj_begin(w);
    jw_key(w, "min_ns"); jw_i64(w, win->min_ns);
    jw_key(w, "p50_ns"); jw_i64(w, win->p50_ns);
    jw_key(w, "p99_ns"); jw_i64(w, win->p99_ns);
    jw_key(w, "max_ns"); jw_i64(w, win->max_ns);
    jw_obj_end(w);
}

static size_t stats_json(telemetry *t, const cycle_slot *s)
{
    const telemetry_cycle *c = &s->c;
    struct robot_state *rs = &t->robots[s->place];
    json_writer w;
    jw_init(&w, t->json, STATS_JSON_CAP);
    jw_obj_begin(&w);
    jw_key(&w, "type"); jw_str(&w, "stats");
    jw_key(&w, "v"); jw_u64(&w, 1);
    jw_key(&w, "robot_id"); jw_u64(&w, c->robot_id);
    jw_key(&w, "n_robots"); jw_u64(&w, t->n_places);
    jw_key(&w, "cycle"); jw_u64(&w, c->cycle);
    jw_key(&w, "time_ns"); jw_i64(&w, c->time_ns);
    jw_key(&w, "every"); jw_u64(&w, s->every);
    jw_key(&w, "rate_hz");
    /* This robot's cycles per second: from its own previous stats. */
    if (rs->prev_time_ns > 0 && c->time_ns > rs->prev_time_ns && c->cycle > rs->prev_cycle)
        jw_f64(&w, (double)(c->cycle - rs->prev_cycle) * 1e9 / (double)(c->time_ns - rs->prev_time_ns));
    else
        jw_null(&w);
    jw_key(&w, "rate_hz_target"); jw_f64(&w, t->o.rate_hz);
    jw_key(&w, "lateness_ns"); jw_i64(&w, c->lateness_ns);
    jw_key(&w, "work_ns"); jw_i64(&w, c->work_ns);
    jw_key(&w, "gpu_ms");
    if (c->gpu_ms >= 0) jw_f64(&w, c->gpu_ms); else jw_null(&w);
    window_json(&w, "lateness", &c->lateness);
    window_json(&w, "work", &c->work);
    jw_key(&w, "overruns"); jw_u64(&w, c->overruns);
    jw_key(&w, "skipped_ticks"); jw_u64(&w, c->skipped_ticks);
    jw_key(&w, "stepped"); jw_bool(&w, c->stepped);
    jw_key(&w, "fault"); jw_bool(&w, c->fault);
    jw_key(&w, "brain_faults"); jw_u64(&w, c->brain_faults);
    jw_key(&w, "brain_cycle"); jw_u64(&w, c->brain_cycle);
    jw_key(&w, "energy"); jw_f64(&w, c->energy);
    jw_key(&w, "saturated"); jw_f64(&w, c->saturated);
    jw_key(&w, "activity");
    if (c->activity >= 0) jw_f64(&w, c->activity); else jw_null(&w);
    jw_key(&w, "steps");
    jw_obj_begin(&w);
    jw_key(&w, "diffusion"); jw_bool(&w, c->diffused);
    jw_key(&w, "noise"); jw_bool(&w, c->noised);
    jw_key(&w, "energy"); jw_bool(&w, c->energized);
    jw_obj_end(&w);
    jw_key(&w, "motors");
    jw_arr_begin(&w);
    for (uint32_t i = 0; i < c->n_motors; i++)
        jw_f64(&w, s->motors[i]);
    jw_arr_end(&w);
    jw_key(&w, "sensor_age_ns"); jw_i64(&w, c->sensor_age_ns);
    jw_key(&w, "links");
    jw_arr_begin(&w);
    jw_obj_begin(&w);
    jw_key(&w, "robot_id"); jw_u64(&w, c->robot_id);
    jw_key(&w, "state"); jw_str(&w, c->link_lost ? "lost" : "up");
    jw_key(&w, "answer_seq"); jw_u64(&w, c->answer_seq);
    jw_key(&w, "sensor_age_ns"); jw_i64(&w, c->sensor_age_ns);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_key(&w, "input");
    jw_obj_begin(&w);
    jw_key(&w, "received"); jw_u64(&w, c->received);
    jw_key(&w, "skipped"); jw_u64(&w, c->skipped);
    jw_key(&w, "bad_total"); jw_u64(&w, c->bad_total);
    jw_key(&w, "bad");
    jw_obj_begin(&w);
    for (uint32_t i = 0; i < t->o.n_bad; i++) {
        jw_key(&w, t->o.bad_names[i]);
        jw_u64(&w, c->bad[i]);
    }
    jw_obj_end(&w);
    jw_key(&w, "published"); jw_u64(&w, c->published);
    jw_key(&w, "publish_failed"); jw_u64(&w, c->publish_failed);
    jw_key(&w, "peers_cut"); jw_u64(&w, c->peers_cut);
    jw_key(&w, "peers_refused"); jw_u64(&w, c->peers_refused);
    jw_obj_end(&w);
    if (s->has_hist) {
        jw_key(&w, "lateness_hist_log2");
        jw_arr_begin(&w);
        for (int i = 0; i < TELEMETRY_HIST_BINS; i++)
            jw_u64(&w, s->hist[i]);
        jw_arr_end(&w);
    }
    jw_key(&w, "device"); jw_str(&w, t->o.device);
    jw_key(&w, "backend"); jw_str(&w, t->o.backend);
    jw_key(&w, "telemetry");
    jw_obj_begin(&w);
    jw_key(&w, "dropped_stats"); jw_u64(&w, atomic_load(&t->n_dropped_stats));
    jw_key(&w, "dropped_events"); jw_u64(&w, atomic_load(&t->n_dropped_events));
    jw_key(&w, "dropped_slices"); jw_u64(&w, atomic_load(&t->n_dropped_slices));
    jw_key(&w, "slice_read_failed"); jw_u64(&w, atomic_load(&t->n_slice_read_failed));
    jw_key(&w, "send_failed"); jw_u64(&w, atomic_load(&t->n_send_failed));
    jw_key(&w, "subscriptions_deferred"); jw_u64(&w, atomic_load(&t->n_subscriptions_deferred));
    jw_key(&w, "last_value_limited"); jw_u64(&w, atomic_load(&t->n_last_value_limited));
    jw_key(&w, "peers_cut"); jw_u64(&w, peer_guard_cut(t->guard));
    jw_key(&w, "peers_refused"); jw_u64(&w, peer_guard_refused(t->guard));
    jw_obj_end(&w);
    jw_obj_end(&w);
    rs->prev_cycle = c->cycle;
    rs->prev_time_ns = c->time_ns;
    return w.overflow ? 0 : w.len;
}

static void send_event(telemetry *t, const telemetry_event *e)
{
    json_writer w;
    jw_init(&w, t->json, STATS_JSON_CAP);
    jw_obj_begin(&w);
    jw_key(&w, "type"); jw_str(&w, "event");
    jw_key(&w, "v"); jw_u64(&w, 1);
    jw_key(&w, "kind"); jw_str(&w, e->kind);
    jw_key(&w, "cycle"); jw_u64(&w, e->cycle);
    jw_key(&w, "time_ns"); jw_i64(&w, e->time_ns);
    /* In a fleet, an event of no one robot (an overrun burst, bad input
     * naming no robot of the fleet) has no id: null. With one robot every
     * id is that robot's, UINT32_MAX included. */
    bool whole_fleet = t->fleet && e->robot_id == TELEMETRY_FLEET_ROBOT;
    jw_key(&w, "robot_id");
    if (whole_fleet) jw_null(&w); else jw_u64(&w, e->robot_id);
    jw_key(&w, "reason"); jw_str(&w, e->reason);
    jw_key(&w, "count"); jw_u64(&w, e->count);
    jw_key(&w, "detail"); jw_str(&w, e->detail);
    jw_obj_end(&w);
    char topic[TOPIC_CAP];
    if (!t->fleet)
        snprintf(topic, sizeof topic, "event");
    else if (whole_fleet)
        snprintf(topic, sizeof topic, "event/" FLEET_TOPIC);
    else
        snprintf(topic, sizeof topic, "event/%u/", e->robot_id);
    send_msg(t, topic, t->json, w.len, NULL, 0, &t->n_sent_events);
}

static void png_write(void *ctx, void *data, int size)
{
    telemetry *t = ctx;
    if (size <= 0)
        return;
    if (t->png_len + (size_t)size > t->png_cap) {
        size_t cap = (t->png_len + (size_t)size) * 2;
        unsigned char *p = realloc(t->png, cap);
        if (!p) {
            t->png_cap = 0; /* marks failure */
            return;
        }
        t->png = p;
        t->png_cap = cap;
    }
    if (t->png_cap == 0)
        return;
    memcpy(t->png + t->png_len, data, (size_t)size);
    t->png_len += (size_t)size;
}

/* Makes the picture from the plane the loop read (brain_read_slab layout:
 * the two other axes in x, y, z order, then the channels, so the horizontal
 * axis u is the outer one and the vertical v the inner), colours it and
 * sends header + PNG. */
static void send_slice(telemetry *t)
{
    const telemetry_options *o = &t->o;
    uint64_t C = o->channels;
    uint64_t k = t->slice_index;
    uint32_t axis_n = t->slice_axis;
    int channel = t->slice_channel;
    uint32_t W = t->plane_w, H = t->plane_h;
    float lo = INFINITY, hi = -INFINITY;
    for (uint32_t v = 0; v < H; v++) {
        for (uint32_t u = 0; u < W; u++) {
            const float *p = t->slab + ((size_t)u * H + v) * C;
            float val;
            if (channel >= 0) {
                val = p[channel];
            } else {
                double sum = 0;
                for (uint64_t c = 0; c < C; c++)
                    sum += p[c];
                val = (float)(sum / (double)C);
            }
            t->plane[(size_t)v * W + u] = val;
            if (isfinite(val)) {
                lo = val < lo ? val : lo;
                hi = val > hi ? val : hi;
            }
        }
    }
    if (!(lo <= hi))
        lo = hi = 0;
    double span = hi > lo ? (double)hi - (double)lo : 1.0;
    for (size_t i = 0; i < (size_t)W * H; i++) {
        float val = t->plane[i];
        int idx = isfinite(val) ? (int)(((double)val - lo) / span * 255.0 + 0.5) : 0;
        idx = idx < 0 ? 0 : idx > 255 ? 255 : idx;
        memcpy(t->rgb + 3 * i, t->lut + 3 * idx, 3);
    }
    t->png_len = 0;
    if (t->png_cap == 0) {
        t->png_cap = (size_t)W * H * 3 + 4096;
        t->png = malloc(t->png_cap);
        if (!t->png) {
            t->png_cap = 0;
            atomic_fetch_add(&t->n_send_failed, 1);
            return;
        }
    }
    if (!stbi_write_png_to_func(png_write, t, (int)W, (int)H, 3, t->rgb, (int)W * 3) || t->png_cap == 0) {
        atomic_fetch_add(&t->n_send_failed, 1);
        return;
    }
    static const char axes[] = "xyz";
    char hname[2] = {axes[axis_n == 0 ? 1 : 0], 0};
    char vname[2] = {axes[axis_n == 2 ? 1 : 2], 0};
    char axis[2] = {axes[axis_n], 0};
    json_writer w;
    jw_init(&w, t->json, STATS_JSON_CAP);
    jw_obj_begin(&w);
    jw_key(&w, "type"); jw_str(&w, "slice");
    jw_key(&w, "v"); jw_u64(&w, 1);
    jw_key(&w, "robot_id"); jw_u64(&w, t->slice_robot_id);
    jw_key(&w, "cycle"); jw_u64(&w, t->slice_cycle);
    jw_key(&w, "axis"); jw_str(&w, axis);
    jw_key(&w, "index"); jw_u64(&w, k);
    jw_key(&w, "channel");
    if (channel >= 0) jw_i64(&w, channel); else jw_str(&w, "mean");
    jw_key(&w, "width"); jw_u64(&w, W);
    jw_key(&w, "height"); jw_u64(&w, H);
    jw_key(&w, "horizontal"); jw_str(&w, hname);
    jw_key(&w, "vertical"); jw_str(&w, vname);
    jw_key(&w, "min"); jw_f64(&w, lo);
    jw_key(&w, "max"); jw_f64(&w, hi);
    jw_key(&w, "colormap"); jw_str(&w, TELEMETRY_COLORMAP_NAME);
    jw_key(&w, "format"); jw_str(&w, "png");
    jw_obj_end(&w);
    char topic[TOPIC_CAP];
    if (t->fleet)
        snprintf(topic, sizeof topic, "slice/%u/", t->slice_robot_id);
    else
        snprintf(topic, sizeof topic, "slice");
    send_msg(t, topic, t->json, w.len, t->png, t->png_len, &t->n_sent_slices);
}

static int drain(telemetry *t)
{
    int did = 0;
    uint64_t pos;
    telemetry_event *e;
    while ((e = ring_peek(&t->events, &pos)) != NULL) {
        send_event(t, e);
        ring_release(&t->events, pos);
        atomic_fetch_add(&t->n_done_events, 1);
        did++;
    }
    cycle_slot *s;
    while ((s = ring_peek(&t->stats, &pos)) != NULL) {
        size_t len = stats_json(t, s);
        uint32_t place = s->place;
        ring_release(&t->stats, pos);
        if (len > 0) {
            /* The robot's last value, for newcomers. */
            char *cached = t->cached + (size_t)place * STATS_JSON_CAP;
            memcpy(cached, t->json, len);
            t->robots[place].cached_len = len;
            t->robots[place].cached_order = ++t->cache_order;
            t->newest = place;
            char topic[TOPIC_CAP];
            topic_of(t, 0, place, topic);
            send_msg(t, topic, cached, len, NULL, 0, &t->n_sent_stats);
        } else {
            atomic_fetch_add(&t->n_send_failed, 1);
        }
        atomic_fetch_add(&t->n_done_stats, 1);
        did++;
    }
    int expect = SLICE_READY;
    if (atomic_compare_exchange_strong(&t->slice_state, &expect, SLICE_WORKING)) {
        if (t->slice_ok) {
            send_slice(t);
        } else if (!t->read_failure_told) {
            /* Once, here on the telemetry thread, never on the loop's: the
             * count in every stats says how many followed. */
            fprintf(stderr, "telemetry: the brain could not read the slice plane (cycle %llu); "
                            "such slices are skipped and counted in telemetry.slice_read_failed\n",
                    (unsigned long long)t->slice_cycle);
            t->read_failure_told = true;
        }
        atomic_store(&t->slice_state, SLICE_FREE);
        did++;
    }
    return did;
}

static void *thread_main(void *arg)
{
    telemetry *t = arg;
    zmq_pollitem_t items[2] = {
        {t->pub, 0, ZMQ_POLLIN, 0},
        {NULL, t->wake_fd, ZMQ_POLLIN, 0},
    };
    bool backlog = false;          /* subscriptions left over: look again at once */
    for (;;) {
        int rc = zmq_poll(items, 2, backlog ? 0 : POLL_MS);
        if (rc < 0 && zmq_errno() != EINTR)
            break;
        if (items[1].revents & ZMQ_POLLIN) {
            uint64_t v;
            ssize_t r = read(t->wake_fd, &v, sizeof v);
            (void)r;
        }
        /* Cleared before draining: a push after this point wakes us again. */
        atomic_store(&t->wake_pending, false);
        backlog = rc > 0 && (items[0].revents & ZMQ_POLLIN) && handle_subscriptions(t);
        drain(t);
        if (atomic_load(&t->stop)) {
            drain(t);
            break;
        }
    }
    return NULL;
}

static void wake(telemetry *t);

/* The telemetry thread looks every POLL_MS anyway; the loop wakes it only
 * when a queue is half full, so an ordinary push makes no system call and
 * does not hand the core to the telemetry thread in the middle of a cycle. */
static void wake_if_filling(telemetry *t, ring *r)
{
    uint64_t depth = atomic_load_explicit(&r->head, memory_order_relaxed) -
                     atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (depth * 2 >= r->mask + 1)
        wake(t);
}

static void wake(telemetry *t)
{
    if (!atomic_exchange(&t->wake_pending, true)) {
        uint64_t one = 1;
        ssize_t r = write(t->wake_fd, &one, sizeof one); /* non-blocking */
        (void)r;
    }
}

/* ---- public ---- */

/* curve/'s codes in telemetry's own enum (the sentence is curve/'s). */
static int telemetry_err_of_curve(int rc)
{
    switch (rc) {
    case CURVE_OK: return TELEMETRY_OK;
    case CURVE_ERR_NOMEM: return TELEMETRY_ERR_NOMEM;
    case CURVE_ERR_THREAD: return TELEMETRY_ERR_THREAD;
    case CURVE_ERR_ZMQ: return TELEMETRY_ERR_ZMQ;
    default: return TELEMETRY_ERR_PARAM;   /* a bad key, an unreadable keys file */
    }
}

/* The plane across axis: width along the first other axis, height along
 * the second (x, y, z order), as brain_read_slab lays it out. */
static void plane_size(const telemetry_options *o, uint32_t axis, uint32_t *w, uint32_t *h)
{
    const uint32_t sizes[3] = {o->size_x, o->size_y, o->size_z};
    *w = sizes[axis == 0 ? 1 : 0];
    *h = sizes[axis == 2 ? 1 : 2];
}

static bool has_shape(const telemetry_options *o)
{
    return o->size_x && o->size_y && o->size_z && o->channels;
}

/* The checks of create and set_rates, against the field shape of o. The
 * slice's plane is checked whenever there is a shape, so that a later
 * slice_every > 0 alone can never make a bad plane live. */
static int rates_check(const telemetry_options *o, const telemetry_rates *r, char *err, size_t err_len)
{
    if (r->every < 1)
        return fb_fail(err, err_len, TELEMETRY_ERR_PARAM, "telemetry.every: must be at least 1");
    if (!has_shape(o)) {
        if (r->slice_every > 0)
            return fb_fail(err, err_len, TELEMETRY_ERR_PARAM,
                           "telemetry.slice_axis: must be 0, 1 or 2 with a field shape given");
        return TELEMETRY_OK;
    }
    const uint32_t sizes[3] = {o->size_x, o->size_y, o->size_z};
    if (r->slice_axis > 2)
        return fb_fail(err, err_len, TELEMETRY_ERR_PARAM,
                       "telemetry.slice_axis: %u is not an axis (allowed 0, 1 or 2)", r->slice_axis);
    if (r->slice_index < -1 || (r->slice_index >= 0 && (uint32_t)r->slice_index >= sizes[r->slice_axis]))
        return fb_fail(err, err_len, TELEMETRY_ERR_PARAM,
                       "telemetry.slice_index: %d is outside the field (allowed -1 to %u along %c)",
                       r->slice_index, sizes[r->slice_axis] - 1, "xyz"[r->slice_axis]);
    if (r->slice_channel < -1 || (r->slice_channel >= 0 && (uint32_t)r->slice_channel >= o->channels))
        return fb_fail(err, err_len, TELEMETRY_ERR_PARAM,
                       "telemetry.slice_channel: %d is outside the field (allowed -1 to %u)",
                       r->slice_channel, o->channels - 1);
    return TELEMETRY_OK;
}

/* Axis, index (-1 resolved) and channel in one word: index in bits 0-31,
 * the axis in 32-33, channel + 1 above (config bounds both far below). */
static uint64_t plane_pack(const telemetry_options *o, const telemetry_rates *r)
{
    const uint32_t sizes[3] = {o->size_x, o->size_y, o->size_z};
    uint32_t axis = r->slice_axis <= 2 ? r->slice_axis : 2;
    uint32_t index = r->slice_index >= 0 ? (uint32_t)r->slice_index : sizes[axis] / 2;
    return (uint64_t)index | (uint64_t)axis << 32 | (uint64_t)(uint32_t)(r->slice_channel + 1) << 34;
}

static void plane_unpack(uint64_t p, uint32_t *axis, uint32_t *index, int *channel)
{
    *index = (uint32_t)p;
    *axis = (uint32_t)(p >> 32) & 3;
    *channel = (int)(uint32_t)(p >> 34) - 1;
}

static void rates_store(telemetry *t, const telemetry_rates *r)
{
    atomic_store(&t->every, r->every);
    atomic_store(&t->slice_every, r->slice_every);
    atomic_store(&t->plane_choice, plane_pack(&t->o, r));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The robot's place in the fleet (any id is the one robot's without a
 * fleet of more than one, so one robot's telemetry takes what it is given
 * as it always did). No allocation, O(log n): the loop's thread calls it. */
static bool place_of(const telemetry *t, uint32_t id, uint32_t *place)
{
    if (t->o.n_robots <= 1) {
        *place = 0;
        return true;
    }
    uint32_t lo = 0, hi = t->n_places;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t mid_id = (uint32_t)(t->by_id[mid] >> 32);
        if (mid_id == id) {
            *place = (uint32_t)t->by_id[mid];
            return true;
        }
        if (mid_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Whether id is a robot of the fleet as given (any id without one). */
static bool robot_listed(const telemetry *t, uint32_t id)
{
    uint32_t place;
    if (t->o.n_robots == 1)
        return t->o.robot_ids[0] == id;
    return place_of(t, id, &place);
}

/* "no robot of the fleet (robots 1, 2, 3, ...)" for messages. */
static int not_in_fleet(const telemetry *t, const char *key, uint32_t id, char *err, size_t err_len)
{
    char list[160] = "";
    size_t used = 0;
    for (uint32_t i = 0; i < t->o.n_robots && used + 16 < sizeof list; i++) {
        int n = snprintf(list + used, sizeof list - used, "%s%u", i ? ", " : "", t->o.robot_ids[i]);
        used += n > 0 ? (size_t)n : 0;
        if (i == 7 && t->o.n_robots > 8) {
            snprintf(list + used, sizeof list - used, ", ... %u in all", t->o.n_robots);
            break;
        }
    }
    return fb_fail(err, err_len, TELEMETRY_ERR_PARAM, "%s: %u is not a robot of the fleet (robots %s)",
                   key, id, list);
}

int telemetry_create(const telemetry_options *o, telemetry **out, char *err, size_t err_len)
{
    *out = NULL;
    const telemetry_rates rates = {o->every, o->slice_every, o->slice_axis, o->slice_index,
                                   o->slice_channel};
    int crc = rates_check(o, &rates, err, err_len);
    if (crc < 0)
        return crc;
    if (o->n_bad > TELEMETRY_MAX_BAD)
        return fb_fail(err, err_len, TELEMETRY_ERR_PARAM, "telemetry: more than 16 bad-input reasons");
    if (o->curve_secret_key[0] && (strlen(o->curve_secret_key) != 40 || strlen(o->curve_public_key) != 40))
        return fb_fail(err, err_len, TELEMETRY_ERR_PARAM, "telemetry.curve_secret_key, "
                    "telemetry.curve_public_key: both must be Z85 keys of 40 characters");
    if (o->n_robots > TELEMETRY_MAX_ROBOTS)
        return fb_fail(err, err_len, TELEMETRY_ERR_PARAM, "telemetry: %u robots (at most %u)",
                       o->n_robots, TELEMETRY_MAX_ROBOTS);
    /* A fleet's robots each push their own stats: room for a few each. */
    uint32_t slots = o->queue_slots;
    if (slots == 0)
        for (slots = 256; slots < 4 * o->n_robots; slots *= 2) {}
    if (slots < 2 || (slots & (slots - 1)) != 0)
        return fb_fail(err, err_len, TELEMETRY_ERR_PARAM, "telemetry: queue_slots must be a power of two");

    telemetry *t = calloc(1, sizeof *t);
    if (!t)
        return fb_fail(err, err_len, TELEMETRY_ERR_NOMEM, "telemetry: out of memory");
    t->o = *o;
    t->wake_fd = -1;
    atomic_init(&t->slice_state, SLICE_FREE);
    atomic_init(&t->every, 1);
    atomic_init(&t->slice_every, 0);
    atomic_init(&t->plane_choice, 0);
    rates_store(t, &rates);
    int rc = TELEMETRY_ERR_NOMEM;
    size_t stride = (sizeof(cycle_slot) + sizeof(float) * o->motors + 15) & ~(size_t)15;
    if (ring_init(&t->stats, slots, stride) < 0 ||
        ring_init(&t->events, slots, sizeof(telemetry_event)))
        goto fail_mem;
    t->n_places = o->n_robots > 0 ? o->n_robots : 1;
    t->fleet = o->n_robots > 1;
    t->newest = -1;
    t->json = malloc(STATS_JSON_CAP);
    t->cached = malloc((size_t)t->n_places * STATS_JSON_CAP);
    t->robots = calloc(t->n_places, sizeof *t->robots);
    t->by_id = calloc(t->n_places, sizeof *t->by_id);
    t->id_topic = calloc(t->n_places, sizeof *t->id_topic);
    if (!t->json || !t->cached || !t->robots || !t->by_id || !t->id_topic)
        goto fail_mem;
    for (uint32_t i = 0; i < o->n_robots; i++) {
        t->by_id[i] = (uint64_t)o->robot_ids[i] << 32 | i;
        snprintf(t->id_topic[i], sizeof t->id_topic[i], "%u/", o->robot_ids[i]);
    }
    qsort(t->by_id, o->n_robots, sizeof *t->by_id, cmp_u64);
    for (uint32_t i = 1; i < o->n_robots; i++)
        if (t->by_id[i] >> 32 == t->by_id[i - 1] >> 32) {
            rc = fb_fail(err, err_len, TELEMETRY_ERR_PARAM, "telemetry: robot %u is in the fleet twice",
                         (uint32_t)(t->by_id[i] >> 32));
            goto fail_all;
        }
    if (!robot_listed(t, o->slice_robot)) {
        rc = not_in_fleet(t, "telemetry.slice_robot", o->slice_robot, err, err_len);
        goto fail_all;
    }
    atomic_init(&t->slice_robot, o->slice_robot);
    if (has_shape(o)) {
        /* One plane with its channels, what brain_read_slab writes: never
         * the whole field (680 MB at 96^3 x 192, against 7 MB for a plane).
         * The largest of the three, and even with slices off, so that
         * telemetry_set_rates can turn them on or change the axis without
         * allocating. */
        uint64_t cells = 0;
        for (uint32_t axis = 0; axis < 3; axis++) {
            uint32_t w, h;
            plane_size(o, axis, &w, &h);
            cells = (uint64_t)w * h > cells ? (uint64_t)w * h : cells;
        }
        t->slab_cap = cells * o->channels;
        t->slab = malloc(t->slab_cap * sizeof(float));
        t->plane = malloc((size_t)cells * sizeof(float));
        t->rgb = malloc((size_t)cells * 3);
        if (!t->slab || !t->plane || !t->rgb)
            goto fail_mem;
    }
    telemetry_colormap(t->lut);

    t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (t->wake_fd < 0) {
        rc = fb_fail(err, err_len, TELEMETRY_ERR_THREAD, "telemetry: eventfd: %s", strerror(errno));
        goto fail_all;
    }
    t->ctx = zmq_ctx_new();
    if (!t->ctx) {
        rc = fb_fail(err, err_len, TELEMETRY_ERR_ZMQ, "telemetry: zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
        goto fail_all;
    }
    t->pub = zmq_socket(t->ctx, ZMQ_XPUB);
    int zero = 0, one = 1, hwm = o->sndhwm > 0 ? o->sndhwm : 1000;
    if (!t->pub || zmq_setsockopt(t->pub, ZMQ_LINGER, &zero, sizeof zero) < 0 ||
        zmq_setsockopt(t->pub, ZMQ_SNDHWM, &hwm, sizeof hwm) < 0 ||
        zmq_setsockopt(t->pub, ZMQ_RCVHWM, &(int){SUB_RCVHWM}, sizeof(int)) < 0 ||
        zmq_setsockopt(t->pub, ZMQ_MAXMSGSIZE, &(int64_t){SUB_MAXMSG}, sizeof(int64_t)) < 0) {
        rc = fb_fail(err, err_len, TELEMETRY_ERR_ZMQ, "telemetry: XPUB socket: %s", zmq_strerror(zmq_errno()));
        goto fail_all;
    }
    if (o->curve_secret_key[0]) {
        rc = o->curve_public_key[0]
                 ? telemetry_err_of_curve(curve_pair_check(o->curve_secret_key, o->curve_public_key,
                                                           "telemetry.curve_secret_key",
                                                           "telemetry.curve_public_key", err, err_len))
                 : 0;
        if (rc == 0)
            rc = telemetry_err_of_curve(curve_server_setup(t->pub, o->curve_secret_key,
                                                           "telemetry.curve_secret_key", err, err_len));
        if (rc < 0)
            goto fail_all;
    }
    t->lvc_targeted = zmq_setsockopt(t->pub, ZMQ_XPUB_MANUAL_LAST_VALUE, &one, sizeof one) == 0;
    if (!t->lvc_targeted)
        zmq_setsockopt(t->pub, ZMQ_XPUB_VERBOSE, &one, sizeof one);
    rc = peer_guard_start(t->ctx, t->pub, GUARD_TELEMETRY_BUDGET, "telemetry.endpoint", &t->guard, err,
                          err_len) < 0
             ? TELEMETRY_ERR_ZMQ : 0;
    if (rc < 0)
        goto fail_all;
    /* The context's ZAP handler, before the bind: the allowed subscribers'
     * keys and the guard's refusals of peers cut lately. */
    const curve_zap_refusal refusal = {GUARD_ZAP_DOMAIN, peer_guard_refuses, t->guard};
    rc = telemetry_err_of_curve(curve_zap_start_file(t->ctx, o->curve_secret_key[0] ? o->curve_client_keys : NULL,
                                                     "telemetry.curve_client_keys", &refusal, "telemetry",
                                                     &t->zap, err, err_len));
    if (rc < 0)
        goto fail_all;
    if (zmq_bind(t->pub, o->endpoint) < 0) {
        rc = fb_fail(err, err_len, TELEMETRY_ERR_ZMQ, "telemetry.endpoint: cannot bind %s: %s",
                  o->endpoint, zmq_strerror(zmq_errno()));
        goto fail_all;
    }
    size_t blen = sizeof t->bound;
    if (zmq_getsockopt(t->pub, ZMQ_LAST_ENDPOINT, t->bound, &blen) < 0)
        snprintf(t->bound, sizeof t->bound, "%s", o->endpoint);
    if (pthread_create(&t->thread, NULL, thread_main, t) != 0) {
        rc = fb_fail(err, err_len, TELEMETRY_ERR_THREAD, "telemetry: cannot start its thread");
        goto fail_all;
    }
    t->thread_started = true;
    *out = t;
    return 0;

fail_mem:
    fb_fail(err, err_len, TELEMETRY_ERR_NOMEM, "telemetry: out of memory");
fail_all:
    telemetry_destroy(&t);
    return rc;
}

void telemetry_destroy(telemetry **tp)
{
    if (!tp || !*tp)
        return;
    telemetry *t = *tp;
    if (t->thread_started) {
        atomic_store(&t->stop, true);
        uint64_t one = 1;
        ssize_t r = write(t->wake_fd, &one, sizeof one);
        (void)r;
        pthread_join(t->thread, NULL);
    }
    peer_guard_unwatch(t->guard, t->pub);  /* before the socket it watches */
    if (t->pub)
        zmq_close(t->pub);
    curve_zap_stop(&t->zap);  /* after the socket it answers for, before the context */
    peer_guard_free(&t->guard, NULL);  /* after the handler that asks it */
    if (t->ctx)
        zmq_ctx_term(t->ctx);
    if (t->wake_fd >= 0)
        close(t->wake_fd);
    free(t->png);
    free(t->rgb);
    free(t->plane);
    free(t->slab);
    free(t->id_topic);
    free(t->by_id);
    free(t->robots);
    free(t->cached);
    free(t->json);
    ring_free(&t->events);
    ring_free(&t->stats);
    free(t);
    *tp = NULL;
}

const char *telemetry_endpoint(const telemetry *t) { return t->bound; }

int telemetry_set_rates(telemetry *t, const telemetry_rates *r, char *err, size_t err_len)
{
    int rc = rates_check(&t->o, r, err, err_len);
    if (rc < 0)
        return rc;
    rates_store(t, r);
    return TELEMETRY_OK;
}

int telemetry_set_slice_robot(telemetry *t, uint32_t robot_id, char *err, size_t err_len)
{
    if (!robot_listed(t, robot_id))
        return not_in_fleet(t, "telemetry.slice_robot", robot_id, err, err_len);
    atomic_store(&t->slice_robot, robot_id);
    return TELEMETRY_OK;
}

bool telemetry_push_cycle(telemetry *t, const telemetry_cycle *c)
{
    uint32_t every = atomic_load_explicit(&t->every, memory_order_relaxed);
    if (c->cycle % every != 0)
        return false;
    uint32_t place;
    uint64_t pos;
    cycle_slot *s = place_of(t, c->robot_id, &place) ? ring_claim(&t->stats, &pos) : NULL;
    if (!s) {
        atomic_fetch_add_explicit(&t->n_dropped_stats, 1, memory_order_relaxed);
        return false;
    }
    s->c = *c;
    s->every = every;
    s->place = place;
    s->c.motors = NULL;
    s->c.lateness_hist = NULL;
    uint32_t n = c->n_motors < t->o.motors ? c->n_motors : t->o.motors;
    s->c.n_motors = c->motors ? n : 0;
    if (c->motors)
        memcpy(s->motors, c->motors, sizeof(float) * n);
    s->has_hist = c->lateness_hist != NULL;
    if (s->has_hist)
        memcpy(s->hist, c->lateness_hist, sizeof s->hist);
    ring_publish(&t->stats, pos);
    atomic_fetch_add_explicit(&t->n_pushed_stats, 1, memory_order_relaxed);
    wake_if_filling(t, &t->stats);
    return true;
}

bool telemetry_push_event(telemetry *t, const telemetry_event *e)
{
    uint64_t pos;
    telemetry_event *slot = ring_claim(&t->events, &pos);
    if (!slot) {
        atomic_fetch_add_explicit(&t->n_dropped_events, 1, memory_order_relaxed);
        return false;
    }
    *slot = *e;
    slot->kind[TELEMETRY_NAME - 1] = '\0';
    slot->reason[TELEMETRY_NAME - 1] = '\0';
    slot->detail[TELEMETRY_STR - 1] = '\0';
    ring_publish(&t->events, pos);
    atomic_fetch_add_explicit(&t->n_pushed_events, 1, memory_order_relaxed);
    wake_if_filling(t, &t->events);
    return true;
}

bool telemetry_slice_due(const telemetry *t, uint64_t cycle)
{
    telemetry *m = (telemetry *)t; /* atomics are read only */
    uint32_t every = atomic_load_explicit(&m->slice_every, memory_order_relaxed);
    return every > 0 && cycle % every == 0;
}

/* The plane the loop works with: the acquired slice's while it fills the
 * slot (only the loop sets FILLING, so the fields are its own then), else
 * the one the next acquire takes. */
static void loop_plane(const telemetry *t, uint32_t *axis, uint32_t *index, int *channel)
{
    telemetry *m = (telemetry *)t; /* atomics are read only */
    if (atomic_load(&m->slice_state) == SLICE_FILLING) {
        *axis = t->slice_axis;
        *index = t->slice_index;
        *channel = t->slice_channel;
        return;
    }
    plane_unpack(atomic_load(&m->plane_choice), axis, index, channel);
}

uint32_t telemetry_slice_axis(const telemetry *t)
{
    uint32_t axis, index;
    int channel;
    loop_plane(t, &axis, &index, &channel);
    return axis;
}

uint32_t telemetry_slice_index(const telemetry *t)
{
    uint32_t axis, index;
    int channel;
    loop_plane(t, &axis, &index, &channel);
    return index;
}

uint64_t telemetry_slice_count(const telemetry *t)
{
    if (!t->slab)
        return 0;
    uint32_t axis, index, w, h;
    int channel;
    loop_plane(t, &axis, &index, &channel);
    plane_size(&t->o, axis, &w, &h);
    return (uint64_t)w * h * t->o.channels;
}

uint32_t telemetry_slice_robot(const telemetry *t)
{
    telemetry *m = (telemetry *)t; /* atomics are read only */
    return atomic_load_explicit(&m->slice_robot, memory_order_relaxed);
}

float *telemetry_slice_acquire(telemetry *t)
{
    return telemetry_slice_acquire_robot(t, telemetry_slice_robot(t));
}

float *telemetry_slice_acquire_robot(telemetry *t, uint32_t robot_id)
{
    int expect = SLICE_FREE;
    if (!t->slab || !atomic_compare_exchange_strong(&t->slice_state, &expect, SLICE_FILLING)) {
        atomic_fetch_add_explicit(&t->n_dropped_slices, 1, memory_order_relaxed);
        return NULL;
    }
    /* The plane is fixed here, once: the read, the picture and its header
     * all follow this choice even if the rates change before commit. */
    plane_unpack(atomic_load(&t->plane_choice), &t->slice_axis, &t->slice_index, &t->slice_channel);
    plane_size(&t->o, t->slice_axis, &t->plane_w, &t->plane_h);
    t->slice_robot_id = robot_id;
    return t->slab;
}

void telemetry_slice_commit(telemetry *t, uint64_t cycle, bool ok)
{
    if (atomic_load(&t->slice_state) != SLICE_FILLING)
        return;
    t->slice_cycle = cycle;
    t->slice_ok = ok;
    if (ok) {
        atomic_fetch_add_explicit(&t->n_pushed_slices, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&t->n_slice_read_failed, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->n_dropped_slices, 1, memory_order_relaxed);
    }
    atomic_store(&t->slice_state, SLICE_READY);
}

void telemetry_get_counters(const telemetry *t, telemetry_counters *out)
{
    telemetry *m = (telemetry *)t; /* atomics are read only */
    out->pushed_stats = atomic_load(&m->n_pushed_stats);
    out->dropped_stats = atomic_load(&m->n_dropped_stats);
    out->pushed_events = atomic_load(&m->n_pushed_events);
    out->dropped_events = atomic_load(&m->n_dropped_events);
    out->pushed_slices = atomic_load(&m->n_pushed_slices);
    out->dropped_slices = atomic_load(&m->n_dropped_slices);
    out->slice_read_failed = atomic_load(&m->n_slice_read_failed);
    out->sent_stats = atomic_load(&m->n_sent_stats);
    out->sent_events = atomic_load(&m->n_sent_events);
    out->sent_slices = atomic_load(&m->n_sent_slices);
    out->send_failed = atomic_load(&m->n_send_failed);
    out->subscriptions = atomic_load(&m->n_subscriptions);
    out->last_value_sent = atomic_load(&m->n_last_value);
    out->last_value_limited = atomic_load(&m->n_last_value_limited);
    out->subscriptions_deferred = atomic_load(&m->n_subscriptions_deferred);
    out->peers_cut = peer_guard_cut(m->guard);
    out->peers_refused = peer_guard_refused(m->guard);
}

int telemetry_flush(telemetry *t, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited++) {
        if (atomic_load(&t->n_done_stats) == atomic_load(&t->n_pushed_stats) &&
            atomic_load(&t->n_done_events) == atomic_load(&t->n_pushed_events) &&
            atomic_load(&t->slice_state) == SLICE_FREE)
            return 0;
        wake(t);
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return 1;
}
