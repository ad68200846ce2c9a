/* link.c: the ZeroMQ side of the wire protocol. Sockets are set up once
 * (options before bind, linger 0); per tick the sensor socket is drained with
 * ZMQ_DONTWAIT into buffers allocated at creation, and motors go out with
 * ZMQ_DONTWAIT, so neither direction ever blocks the loop.
 */
#include "link.h"
#include "curve.h"
#include "fail.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct robot_link {
    void *ctx;
    void *sensor_sock;
    void *motor_sock;
    uint32_t robot_id;
    uint32_t timeout_ms;
    float sensor_limit;
    uint32_t sensors, motors;
    char warning[2 * IO_STR + 160];
    float *scratch;          /* decode target */
    float *newest;           /* the newest valid vector (swapped with scratch) */
    uint8_t *out_buf;        /* encoded motor message */
    size_t out_cap;
    link_counters counters;

    curve_zap *zap;          /* the allow-list of client keys (CURVE only) */
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

bool link_endpoint_is_local(const char *ep)
{
    if (strncmp(ep, "tcp://", 6) != 0)
        return strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0;
    const char *host = ep + 6;
    return strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost:", 10) == 0 ||
           strncmp(host, "[::1]:", 6) == 0;
}

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

int link_create(const link_options *o, uint32_t sensors, uint32_t motors, robot_link **out,
                char *err, size_t err_len)
{
    *out = NULL;
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
    l->robot_id = o->robot_id;
    l->timeout_ms = o->timeout_ms;
    l->sensor_limit = o->sensor_limit;
    l->sensors = sensors;
    l->motors = motors;
    l->scratch = calloc(l->sensors + 1u, sizeof(float));
    l->newest = calloc(l->sensors + 1u, sizeof(float));
    l->out_cap = wire_message_bytes(l->motors);
    l->out_buf = calloc(1, l->out_cap);
    l->ctx = zmq_ctx_new();
    int rc = LINK_ERR_NOMEM;
    if (!l->scratch || !l->newest || !l->out_buf || !l->ctx) {
        fb_fail(err, err_len, rc, "link: out of memory");
        goto fail;
    }

    if (curve && o->curve_client_keys[0]) {
        /* The handler must be bound before any socket does a handshake. */
        curve_keys *allowed = malloc(sizeof *allowed);
        if (!allowed) {
            fb_fail(err, err_len, rc, "link: out of memory");
            goto fail;
        }
        int crc = curve_keys_read(o->curve_client_keys, "link.curve_client_keys", allowed, err,
                                  err_len);
        if (crc == CURVE_OK)
            crc = curve_zap_start(l->ctx, allowed, "link", &l->zap, err, err_len);
        free(allowed);
        if (crc < 0) {
            rc = link_err_of_curve(crc);
            goto fail;
        }
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
        zmq_setsockopt(l->sensor_sock, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize)) {
        fb_fail(err, err_len, rc, "link: cannot set socket options: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (curve) {
        int crc = curve_server_setup(l->sensor_sock, o->curve_secret_key, "link.curve_secret_key",
                                     err, err_len);
        if (crc == CURVE_OK)
            crc = curve_server_setup(l->motor_sock, o->curve_secret_key, "link.curve_secret_key",
                                     err, err_len);
        if (crc < 0) {
            rc = link_err_of_curve(crc);
            goto fail;
        }
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
    if (!curve) {
        const char *eps[2] = {o->sensor_endpoint, o->motor_endpoint};
        for (int i = 0; i < 2 && !l->warning[0]; i++)
            if (!link_endpoint_is_local(eps[i]))
                snprintf(l->warning, sizeof l->warning,
                         "%s is not a loopback address and CURVE is off: anyone who reaches it "
                         "can drive the robot (set link.curve_secret_key)", eps[i]);
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
    if (l->motor_sock)
        zmq_close(l->motor_sock);
    curve_zap_stop(&l->zap);  /* after the sockets it answers for, before the context */
    if (l->ctx)
        zmq_ctx_term(l->ctx);
    free(l->out_buf);
    free(l->newest);
    free(l->scratch);
    free(l);
    *lp = NULL;
}

static void count_bad(robot_link *l, int reason)
{
    l->counters.bad[reason]++;
    l->counters.bad_total++;
}

/* Every |value| <= limit (the values are finite: wire_decode checked). */
static bool within_limit(const float *v, uint32_t n, float limit)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] > limit || v[i] < -limit)
            return false;
    return true;
}

int link_recv(robot_link *l, bool newest, int64_t now_ns, link_sensor *out)
{
    out->fresh = false;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, l->sensor_sock, ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&m);
            if (e == EAGAIN || e == EINTR)
                return LINK_OK;
            return LINK_ERR_ZMQ;
        }
        if (zmq_msg_more(&m)) {
            /* Swallow the rest of a multipart message: one bad message. */
            while (zmq_msg_more(&m)) {
                zmq_msg_close(&m);
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, l->sensor_sock, ZMQ_DONTWAIT) < 0)
                    break;
            }
            zmq_msg_close(&m);
            count_bad(l, WIRE_BAD_FRAMES);
            continue;
        }
        wire_header h;
        int rc = wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), WIRE_KIND_SENSORS, &h,
                             l->scratch, l->sensors);
        zmq_msg_close(&m);
        if (rc < 0) {
            count_bad(l, wire_bad_reason_of(rc));
            continue;
        }
        if (h.count != l->sensors) {
            count_bad(l, WIRE_BAD_LENGTH);
            continue;
        }
        if (h.robot_id != l->robot_id) {
            count_bad(l, WIRE_BAD_ROBOT);
            continue;
        }
        if (!within_limit(l->scratch, h.count, l->sensor_limit)) {
            count_bad(l, WIRE_BAD_RANGE);
            continue;
        }
        if (out->fresh)
            l->counters.skipped++;
        l->counters.received++;
        float *t = l->newest;
        l->newest = l->scratch;
        l->scratch = t;
        out->fresh = true;
        out->robot_id = h.robot_id;
        out->seq = h.seq;
        out->time_ns = h.time_ns;
        out->recv_ns = now_ns;
        out->values = l->newest;
        out->count = h.count;
        if (!newest)
            return LINK_OK;
    }
}

int link_wait(robot_link *l, int timeout_ms)
{
    zmq_pollitem_t it = {.socket = l->sensor_sock, .events = ZMQ_POLLIN};
    int rc = zmq_poll(&it, 1, timeout_ms);
    if (rc < 0)
        return zmq_errno() == EINTR ? 0 : LINK_ERR_ZMQ;
    return rc > 0 ? 1 : 0;
}

int link_publish(robot_link *l, const float *motors, uint8_t flags, uint64_t seq,
                 uint64_t answer_seq, uint64_t answer_time_ns, int64_t now_ns)
{
    wire_header h = {
        .version = WIRE_VERSION, .kind = WIRE_KIND_MOTORS, .flags = flags,
        .robot_id = l->robot_id, .count = l->motors, .seq = seq,
        .time_ns = (uint64_t)now_ns, .answer_seq = answer_seq,
        .answer_time_ns = answer_time_ns,
    };
    size_t len = 0;
    if (wire_encode(&h, motors, l->out_buf, l->out_cap, &len) < 0)
        return LINK_ERR_PARAM;
    uint8_t topic[WIRE_TOPIC_BYTES];
    wire_topic(l->robot_id, topic);
    if (zmq_send(l->motor_sock, topic, sizeof topic, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(l->motor_sock, l->out_buf, len, ZMQ_DONTWAIT) < 0) {
        l->counters.publish_failed++;
        return LINK_ERR_ZMQ;
    }
    l->counters.published++;
    return LINK_OK;
}

const link_counters *link_get_counters(const robot_link *l)
{
    return &l->counters;
}

uint32_t link_robot_id(const robot_link *l)
{
    return l->robot_id;
}

uint32_t link_timeout_ms(const robot_link *l)
{
    return l->timeout_ms;
}

const char *link_warning(const robot_link *l)
{
    return l->warning;
}
