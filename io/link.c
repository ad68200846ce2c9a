/* link.c: the ZeroMQ side of the wire protocol. Sockets are set up once
 * (options before bind, linger 0); per tick the sensor socket is drained with
 * ZMQ_DONTWAIT into buffers allocated at creation, one vector per robot of
 * the fleet, and motors go out with ZMQ_DONTWAIT, so neither direction ever
 * blocks the loop.
 */
#include "link.h"
#include "curve.h"
#include "fail.h"
#include "guard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* A robot id and its place in the fleet, sorted by id for bsearch. */
typedef struct {
    uint32_t id, index;
} link_robot_key;

/* What one robot of the fleet has on the link. */
typedef struct {
    uint32_t id;
    float *newest;           /* its newest valid vector (swapped with the link's scratch) */
    link_counters counters;  /* its own (with one robot: everything) */
} link_robot;

struct robot_link {
    void *ctx;
    void *sensor_sock;
    void *motor_sock;
    uint32_t timeout_ms;
    float sensor_limit;
    uint32_t sensors, motors;
    uint32_t n_robots;
    link_robot *robots;
    link_robot_key *by_id;
    float *scratch;          /* decode target */
    /* lockstep: a message for a robot that already had one this call, kept
     * for the next call (held < 0: none) */
    int held;
    float *held_values;
    link_sensor held_sensor;
    uint8_t *out_buf;        /* encoded motor message */
    size_t out_cap;
    link_counters counters;  /* the fleet's totals */

    curve_zap *zap;          /* the context's ZAP handler: allow-list, the guard's refusals */
    peer_guard *motor_guard; /* the motor socket's TCP peers held to a budget */
};

const char *link_strerror(int err)
{
    switch (err) {
    case LINK_OK: return "no error";
    case LINK_ERR_PARAM: return "bad link setting";
    case LINK_ERR_ZMQ: return "ZeroMQ call failed";
    case LINK_ERR_NOMEM: return "out of memory";
    case LINK_ERR_IO: return "could not read a file";
    default: return "unknown link error";
    }
}

/* A robot sends the motor socket one subscription (its 4-byte id); nothing
 * larger than a handshake's command frames is let in, and little is read
 * ahead of the thread that publishes, which handles the subscriptions. */
#define LINK_MOTOR_RCVHWM 16
#define LINK_MOTOR_MAXMSG 1024

/* curve/'s codes in the link's own enum (the sentence is curve/'s). */
static int link_err_of_curve(int rc)
{
    switch (rc) {
    case CURVE_ERR_PARAM: return LINK_ERR_PARAM;
    case CURVE_ERR_IO: return LINK_ERR_IO;
    case CURVE_ERR_NOMEM: return LINK_ERR_NOMEM;
    default: return LINK_ERR_ZMQ;
    }
}

static int key_cmp(const void *a, const void *b)
{
    uint32_t x = ((const link_robot_key *)a)->id, y = ((const link_robot_key *)b)->id;
    return (x > y) - (x < y);
}

int link_create(const link_options *o, const uint32_t *robot_ids, uint32_t n_robots,
                uint32_t sensors, uint32_t motors, robot_link **out, char *err, size_t err_len)
{
    *out = NULL;
    if (n_robots < 1 || !robot_ids)
        return fb_fail(err, err_len, LINK_ERR_PARAM, "link: a link serves at least one robot");
    bool curve = o->curve_secret_key[0] != '\0';
    if (curve && (strlen(o->curve_secret_key) != 40 || strlen(o->curve_public_key) != 40))
        return fb_fail(err, err_len, LINK_ERR_PARAM,
                       "link.curve_secret_key, link.curve_public_key: both must be Z85 keys of 40 characters");
    if (!(o->sensor_limit > 0))
        return fb_fail(err, err_len, LINK_ERR_PARAM, "link.sensor_limit: %g must be above 0",
                       (double)o->sensor_limit);
    if (sensors > WIRE_MAX_VALUES || motors > WIRE_MAX_VALUES)
        return fb_fail(err, err_len, LINK_ERR_PARAM,
                       "brain.sensors, brain.motors: at most %u each on the wire", WIRE_MAX_VALUES);
    robot_link *l = calloc(1, sizeof *l);
    if (!l)
        return fb_fail(err, err_len, LINK_ERR_NOMEM, "link: out of memory");
    l->timeout_ms = o->timeout_ms;
    l->sensor_limit = o->sensor_limit;
    l->sensors = sensors;
    l->motors = motors;
    l->held = -1;
    l->n_robots = n_robots;
    l->robots = calloc(n_robots, sizeof *l->robots);
    l->by_id = calloc(n_robots, sizeof *l->by_id);
    l->scratch = calloc(l->sensors + 1u, sizeof(float));
    l->held_values = calloc(l->sensors + 1u, sizeof(float));
    l->out_cap = wire_message_bytes(l->motors);
    l->out_buf = calloc(1, l->out_cap);
    int rc = LINK_ERR_NOMEM;
    if (!l->robots || !l->by_id || !l->scratch || !l->held_values || !l->out_buf) {
        fb_fail(err, err_len, rc, "link: out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < n_robots; i++) {
        l->robots[i].id = robot_ids[i];
        l->by_id[i] = (link_robot_key){robot_ids[i], i};
        if (!(l->robots[i].newest = calloc(l->sensors + 1u, sizeof(float)))) {
            fb_fail(err, err_len, rc, "link: out of memory");
            goto fail;
        }
    }
    qsort(l->by_id, n_robots, sizeof *l->by_id, key_cmp);
    for (uint32_t i = 1; i < n_robots; i++)
        if (l->by_id[i].id == l->by_id[i - 1].id) {
            rc = fb_fail(err, err_len, LINK_ERR_PARAM, "link: robot id %u is in the fleet twice",
                         l->by_id[i].id);
            goto fail;
        }
    if (!(l->ctx = zmq_ctx_new())) {
        fb_fail(err, err_len, rc, "link: out of memory");
        goto fail;
    }

    rc = LINK_ERR_ZMQ;
    l->sensor_sock = zmq_socket(l->ctx, ZMQ_PULL);
    l->motor_sock = zmq_socket(l->ctx, ZMQ_PUB);
    if (!l->sensor_sock || !l->motor_sock) {
        fb_fail(err, err_len, rc, "link: cannot create sockets: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    int zero = 0, hwm = 1000;
    int64_t maxsize = o->max_message_bytes;
    if (zmq_setsockopt(l->sensor_sock, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(l->motor_sock, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(l->sensor_sock, ZMQ_RCVHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(l->sensor_sock, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize) ||
        zmq_setsockopt(l->motor_sock, ZMQ_RCVHWM, &(int){LINK_MOTOR_RCVHWM}, sizeof(int)) ||
        zmq_setsockopt(l->motor_sock, ZMQ_MAXMSGSIZE, &(int64_t){LINK_MOTOR_MAXMSG}, sizeof(int64_t))) {
        fb_fail(err, err_len, rc, "link: cannot set socket options: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (curve) {
        int crc = curve_pair_check(o->curve_secret_key, o->curve_public_key, "link.curve_secret_key",
                                   "link.curve_public_key", err, err_len);
        if (crc == CURVE_OK)
            crc = curve_server_setup(l->sensor_sock, o->curve_secret_key, "link.curve_secret_key",
                                     err, err_len);
        if (crc == CURVE_OK)
            crc = curve_server_setup(l->motor_sock, o->curve_secret_key, "link.curve_secret_key",
                                     err, err_len);
        if (crc < 0) {
            rc = link_err_of_curve(crc);
            goto fail;
        }
    }
    if (peer_guard_start(l->ctx, l->motor_sock, curve ? GUARD_MOTOR_BUDGET_CURVE : GUARD_MOTOR_BUDGET,
                         "link.motor_endpoint", &l->motor_guard, err, err_len) < 0)
        goto fail;
    /* The context's ZAP handler: the allow-list (CURVE), and the guard's
     * refusals of peers cut lately; bound before any socket binds. */
    const curve_zap_refusal refusal = {GUARD_ZAP_DOMAIN, peer_guard_refuses, l->motor_guard};
    int zrc = curve_zap_start_file(l->ctx, curve ? o->curve_client_keys : NULL, "link.curve_client_keys",
                                   &refusal, "link", &l->zap, err, err_len);
    if (zrc < 0) {
        rc = link_err_of_curve(zrc);
        goto fail;
    }
    if (zmq_bind(l->sensor_sock, o->sensor_endpoint)) {
        fb_fail(err, err_len, rc, "link.sensor_endpoint: cannot bind %s: %s",
                o->sensor_endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (zmq_bind(l->motor_sock, o->motor_endpoint)) {
        fb_fail(err, err_len, rc, "link.motor_endpoint: cannot bind %s: %s",
                o->motor_endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    *out = l;
    return LINK_OK;
fail:
    link_destroy(&l);
    return rc;
}

void link_destroy(robot_link **lp)
{
    robot_link *l = lp ? *lp : NULL;
    if (!l)
        return;
    if (l->sensor_sock)
        zmq_close(l->sensor_sock);
    peer_guard_unwatch(l->motor_guard, l->motor_sock);  /* before the socket it watches */
    if (l->motor_sock)
        zmq_close(l->motor_sock);
    curve_zap_stop(&l->zap);  /* after the sockets it answers for, before the context */
    peer_guard_free(&l->motor_guard, NULL);  /* after the handler that asks it */
    if (l->ctx)
        zmq_ctx_term(l->ctx);
    free(l->out_buf);
    for (uint32_t i = 0; l->robots && i < l->n_robots; i++)
        free(l->robots[i].newest);
    free(l->held_values);
    free(l->scratch);
    free(l->by_id);
    free(l->robots);
    free(l);
    *lp = NULL;
}

int link_robot_index(const robot_link *l, uint32_t robot_id)
{
    link_robot_key k = {robot_id, 0};
    const link_robot_key *f = bsearch(&k, l->by_id, l->n_robots, sizeof k, key_cmp);
    return f ? (int)f->index : -1;
}

/* A bad message counts to the fleet and to the robot it names (robot >= 0);
 * with one robot, to that robot whatever it names, as a one-robot link
 * always did. */
static void count_bad(robot_link *l, int robot, int reason)
{
    l->counters.bad[reason]++;
    l->counters.bad_total++;
    if (l->n_robots == 1)
        robot = 0;
    if (robot >= 0) {
        l->robots[robot].counters.bad[reason]++;
        l->robots[robot].counters.bad_total++;
    }
}

/* Every |value| <= limit (the values are finite: wire_decode checked). */
static bool within_limit(const float *v, uint32_t n, float limit)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] > limit || v[i] < -limit)
            return false;
    return true;
}

/* Robot i's out takes the vector in *values (swapped with its own buffer). */
static void deliver(robot_link *l, uint32_t i, float **values, const link_sensor *s,
                    link_sensor *out)
{
    link_robot *r = &l->robots[i];
    float *t = r->newest;
    r->newest = *values;
    *values = t;
    out[i] = *s;
    out[i].fresh = true;
    out[i].values = r->newest;
}

int link_recv(robot_link *l, bool newest, int64_t now_ns, link_sensor *out)
{
    int fresh = 0;
    /* the socket's counts, in the fleet's counters and each robot's */
    uint64_t cut = peer_guard_cut(l->motor_guard), refused = peer_guard_refused(l->motor_guard);
    if (cut != l->counters.peers_cut || refused != l->counters.peers_refused) {
        l->counters.peers_cut = cut;
        l->counters.peers_refused = refused;
        for (uint32_t i = 0; i < l->n_robots; i++) {
            l->robots[i].counters.peers_cut = cut;
            l->robots[i].counters.peers_refused = refused;
        }
    }
    for (uint32_t i = 0; i < l->n_robots; i++)
        out[i].fresh = false;
    if (l->held >= 0) {
        /* The message the last call kept back: this robot's next. */
        deliver(l, (uint32_t)l->held, &l->held_values, &l->held_sensor, out);
        l->held = -1;
        fresh++;
    }
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, l->sensor_sock, ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&m);
            if (e == EAGAIN || e == EINTR)
                return fresh;
            return LINK_ERR_ZMQ;
        }
        if (zmq_msg_more(&m)) {
            /* Swallow the rest of a multipart message: one bad message,
             * whose it is read from its first frame's header (as for one
             * frame: magic and version right, a robot of the fleet). */
            wire_header h;
            int whose = wire_decode_header(zmq_msg_data(&m), zmq_msg_size(&m), &h) == WIRE_OK
                            ? link_robot_index(l, h.robot_id)
                            : -1;
            while (zmq_msg_more(&m)) {
                zmq_msg_close(&m);
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, l->sensor_sock, ZMQ_DONTWAIT) < 0)
                    break;
            }
            zmq_msg_close(&m);
            count_bad(l, whose, WIRE_BAD_FRAMES);
            continue;
        }
        wire_header h;
        int rc = wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), WIRE_KIND_SENSORS, &h,
                             l->scratch, l->sensors);
        zmq_msg_close(&m);
        /* Whose it is, when the header can be read in this version. */
        int robot = h.version == WIRE_VERSION ? link_robot_index(l, h.robot_id) : -1;
        if (rc < 0) {
            count_bad(l, robot, wire_bad_reason_of(rc));
            continue;
        }
        if (h.count != l->sensors) {
            count_bad(l, robot, WIRE_BAD_LENGTH);
            continue;
        }
        if (robot < 0) {
            count_bad(l, -1, WIRE_BAD_ROBOT);
            continue;
        }
        if (!within_limit(l->scratch, h.count, l->sensor_limit)) {
            count_bad(l, robot, WIRE_BAD_RANGE);
            continue;
        }
        link_sensor s = {.fresh = true, .robot_id = h.robot_id, .seq = h.seq,
                         .time_ns = h.time_ns, .recv_ns = now_ns, .count = h.count};
        link_robot *r = &l->robots[robot];
        l->counters.received++;
        r->counters.received++;
        if (out[robot].fresh && !newest) {
            /* Lockstep: one message a robot a call; this one is its next. */
            float *t = l->held_values;
            l->held_values = l->scratch;
            l->scratch = t;
            l->held_sensor = s;
            l->held = robot;
            return fresh;
        }
        if (out[robot].fresh) {
            l->counters.skipped++;
            r->counters.skipped++;
        } else {
            fresh++;
        }
        deliver(l, (uint32_t)robot, &l->scratch, &s, out);
        if (!newest && (uint32_t)fresh == l->n_robots)
            return fresh;  /* lockstep: every robot has its next message */
    }
}

bool link_holds_message(const robot_link *l)
{
    return l->held >= 0;
}

int link_wait(robot_link *l, int timeout_ms)
{
    zmq_pollitem_t it = {.socket = l->sensor_sock, .events = ZMQ_POLLIN};
    int rc = zmq_poll(&it, 1, timeout_ms);
    if (rc < 0)
        return zmq_errno() == EINTR ? 0 : LINK_ERR_ZMQ;
    return rc > 0 ? 1 : 0;
}

int link_publish(robot_link *l, uint32_t robot, const float *motors, uint8_t flags, uint64_t seq,
                 uint64_t answer_seq, uint64_t answer_time_ns, int64_t now_ns)
{
    if (robot >= l->n_robots)
        return LINK_ERR_PARAM;
    link_robot *r = &l->robots[robot];
    wire_header h = {
        .version = WIRE_VERSION, .kind = WIRE_KIND_MOTORS, .flags = flags,
        .robot_id = r->id, .count = l->motors, .seq = seq,
        .time_ns = (uint64_t)now_ns, .answer_seq = answer_seq,
        .answer_time_ns = answer_time_ns,
    };
    size_t len = 0;
    if (wire_encode(&h, motors, l->out_buf, l->out_cap, &len) < 0)
        return LINK_ERR_PARAM;
    uint8_t topic[WIRE_TOPIC_BYTES];
    wire_topic(r->id, topic);
    if (zmq_send(l->motor_sock, topic, sizeof topic, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(l->motor_sock, l->out_buf, len, ZMQ_DONTWAIT) < 0) {
        l->counters.publish_failed++;
        r->counters.publish_failed++;
        return LINK_ERR_ZMQ;
    }
    l->counters.published++;
    r->counters.published++;
    return LINK_OK;
}

const link_counters *link_get_counters(const robot_link *l)
{
    return &l->counters;
}

const link_counters *link_robot_counters(const robot_link *l, uint32_t robot)
{
    return &l->robots[robot < l->n_robots ? robot : 0].counters;
}

uint32_t link_robot_count(const robot_link *l)
{
    return l->n_robots;
}

uint32_t link_robot_id(const robot_link *l, uint32_t robot)
{
    return l->robots[robot < l->n_robots ? robot : 0].id;
}

uint32_t link_timeout_ms(const robot_link *l)
{
    return l->timeout_ms;
}

