/* sim_link.c: the simulated robot's ZeroMQ link: PUSH sensors, SUB motors
 * (io/PROTOCOL.md), checked frame by frame, plus socket monitors so the sim
 * knows whether a brain is there (to start in step, and to log link events).
 */
#include "sim_link.h"

#include "fail.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

/* The brain uses only the newest sensors: a backlog is useless, so the send
 * queue is small and a full one drops the message (counted). Not smaller:
 * ZeroMQ returns send credit in batches, and a queue of 2 reads as full now
 * and then even with one message in flight. */
#define SENSOR_SNDHWM 8
/* Larger motor frames are cut by ZeroMQ (connection dropped), never read. */
#define MOTOR_MAXMSGSIZE 65536
/* Room for a motor message of any count we would still decode to report it. */
#define RECV_VALUES 1024
#define RECV_BYTES (WIRE_HEADER_BYTES + 4 * RECV_VALUES)
#define LOG_INTERVAL_NS 1000000000ull

struct sim_link {
    void *ctx;
    void *push, *sub;
    void *push_mon, *sub_mon;   /* PAIR sockets receiving the monitor events */
    int push_up, sub_up;        /* finished handshakes minus disconnects */
    uint32_t robot_id, motors;
    char sensor_endpoint[256], motor_endpoint[256];
    char label[32];             /* after "fieldbrain-sim: " in log lines */
    uint8_t topic[WIRE_TOPIC_BYTES];
    uint8_t out[WIRE_HEADER_BYTES + 4 * 64];
    uint8_t in[RECV_BYTES];
    float in_values[RECV_VALUES];
    uint64_t log_ns[WIRE_BAD_REASONS];    /* last log line per reason */
    uint64_t pending[WIRE_BAD_REASONS];   /* drops since that line */
    sim_link_stats stats;
};

uint64_t sim_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int set_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

static int monitor(void *ctx, void *sock, const char *name, void **pair)
{
    /* Handshake done: a brain speaks ZMTP on the other end; disconnected:
     * it went away (ZeroMQ keeps retrying by itself). */
    if (zmq_socket_monitor(sock, name, ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0)
        return -1;
    *pair = zmq_socket(ctx, ZMQ_PAIR);
    if (!*pair)
        return -1;
    set_int(*pair, ZMQ_LINGER, 0);
    return zmq_connect(*pair, name);
}

int sim_link_new(const char *sensor_endpoint, const char *motor_endpoint, uint32_t robot_id,
                 uint32_t motors, const char *label, sim_link **out, char *err, size_t err_len)
{
    *out = NULL;
    if (motors == 0 || motors > 64)
        return fb_fail(err, err_len, -1, "motor count %u: must be 1 to 64", motors);
    sim_link *l = calloc(1, sizeof *l);
    if (!l)
        return fb_fail(err, err_len, -1, "out of memory");
    l->robot_id = robot_id;
    l->motors = motors;
    snprintf(l->sensor_endpoint, sizeof l->sensor_endpoint, "%s", sensor_endpoint);
    snprintf(l->motor_endpoint, sizeof l->motor_endpoint, "%s", motor_endpoint);
    snprintf(l->label, sizeof l->label, "%s", label ? label : "");
    wire_topic(robot_id, l->topic);
    const char *what = "context";
    if (!(l->ctx = zmq_ctx_new()))
        goto fail;
    what = "sensor socket";
    if (!(l->push = zmq_socket(l->ctx, ZMQ_PUSH)) || set_int(l->push, ZMQ_LINGER, 0) ||
        set_int(l->push, ZMQ_SNDHWM, SENSOR_SNDHWM) ||
        /* queue only on a finished connection: with no brain there, a send
         * fails at once instead of piling stale sensors for the next one */
        set_int(l->push, ZMQ_IMMEDIATE, 1) || set_int(l->push, ZMQ_RECONNECT_IVL, 100) ||
        monitor(l->ctx, l->push, "inproc://fieldbrain-sim-push", &l->push_mon) ||
        zmq_connect(l->push, sensor_endpoint))
        goto fail;
    what = "motor socket";
    int64_t maxmsg = MOTOR_MAXMSGSIZE;
    if (!(l->sub = zmq_socket(l->ctx, ZMQ_SUB)) || set_int(l->sub, ZMQ_LINGER, 0) ||
        zmq_setsockopt(l->sub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
        set_int(l->sub, ZMQ_RECONNECT_IVL, 100) ||
        zmq_setsockopt(l->sub, ZMQ_SUBSCRIBE, l->topic, WIRE_TOPIC_BYTES) ||
        monitor(l->ctx, l->sub, "inproc://fieldbrain-sim-sub", &l->sub_mon) ||
        zmq_connect(l->sub, motor_endpoint))
        goto fail;
    *out = l;
    return 0;
fail:;
    int rc = fb_fail(err, err_len, -1, "%s (%s, %s): %s", what, sensor_endpoint, motor_endpoint,
                     zmq_strerror(zmq_errno()));
    sim_link_destroy(&l);
    return rc;
}

void sim_link_destroy(sim_link **pl)
{
    if (!pl || !*pl)
        return;
    sim_link *l = *pl;
    /* the drops since the last line of each reason, so that the lines add
     * up to the summary's counts */
    for (int r = 0; r < WIRE_BAD_REASONS; r++)
        if (l->pending[r])
            fprintf(stderr, "fieldbrain-sim: %sdropped %llu bad motor frame(s) from %s: %s\n", l->label,
                    (unsigned long long)l->pending[r], l->motor_endpoint, wire_bad_name(r));
    /* monitor pairs first, then the sockets they watch, then the context */
    void **socks[] = {&l->push_mon, &l->sub_mon, &l->sub, &l->push};
    for (size_t i = 0; i < sizeof socks / sizeof socks[0]; i++)
        if (*socks[i]) {
            zmq_close(*socks[i]);
            *socks[i] = NULL;
        }
    if (l->ctx)
        zmq_ctx_term(l->ctx);
    free(l);
    *pl = NULL;
}

bool sim_link_send(sim_link *l, uint64_t seq, uint64_t time_ns, const float *values, uint32_t count)
{
    wire_header h = {
        .version = WIRE_VERSION, .kind = WIRE_KIND_SENSORS, .robot_id = l->robot_id,
        .count = count, .seq = seq, .time_ns = time_ns,
    };
    size_t len;
    if (wire_encode(&h, values, l->out, sizeof l->out, &len) != WIRE_OK ||
        zmq_send(l->push, l->out, len, ZMQ_DONTWAIT) < 0) {
        l->stats.unsent++;
        return false;
    }
    l->stats.sent++;
    return true;
}

bool sim_link_up(const sim_link *l)
{
    return l->push_up > 0 && l->sub_up > 0;
}

void sim_link_stats_get(const sim_link *l, sim_link_stats *stats)
{
    *stats = l->stats;
}

static void drop(sim_link *l, int reason)
{
    l->stats.bad++;
    l->stats.bad_by_reason[reason]++;
    l->pending[reason]++;
    /* Logged at most once a second per reason, with the count since. */
    uint64_t now = sim_now_ns();
    if (l->log_ns[reason] == 0 || now - l->log_ns[reason] >= LOG_INTERVAL_NS) {
        fprintf(stderr, "fieldbrain-sim: %sdropped %llu bad motor frame(s) from %s: %s\n", l->label,
                (unsigned long long)l->pending[reason], l->motor_endpoint, wire_bad_name(reason));
        l->pending[reason] = 0;
        l->log_ns[reason] = now;
    }
}

static bool more(void *s)
{
    int m = 0;
    size_t len = sizeof m;
    return zmq_getsockopt(s, ZMQ_RCVMORE, &m, &len) == 0 && m;
}

/* Reads the rest of a multipart message so the next read starts clean. */
static void discard_rest(void *s)
{
    uint8_t scratch[8];
    while (more(s))
        if (zmq_recv(s, scratch, sizeof scratch, ZMQ_DONTWAIT) < 0)
            break;
}

/* One motor message off the SUB socket: 1 valid, 0 none there, -1 bad (counted). */
static int read_motor(sim_link *l, wire_header *h, float *values)
{
    uint8_t topic[8];
    int n = zmq_recv(l->sub, topic, sizeof topic, ZMQ_DONTWAIT);
    if (n < 0)
        return 0;
    if (n != WIRE_TOPIC_BYTES || memcmp(topic, l->topic, WIRE_TOPIC_BYTES) != 0 || !more(l->sub)) {
        discard_rest(l->sub);
        drop(l, WIRE_BAD_FRAMES);
        return -1;
    }
    n = zmq_recv(l->sub, l->in, sizeof l->in, ZMQ_DONTWAIT);
    if (n < 0 || more(l->sub)) {
        discard_rest(l->sub);
        drop(l, WIRE_BAD_FRAMES);
        return -1;
    }
    if ((size_t)n > sizeof l->in) {
        /* Longer than any message we take: zmq_recv cut it. */
        drop(l, WIRE_BAD_LENGTH);
        return -1;
    }
    int rc = wire_decode(l->in, (size_t)n, WIRE_KIND_MOTORS, h, l->in_values, RECV_VALUES);
    if (rc != WIRE_OK) {
        drop(l, wire_bad_reason_of(rc));
        return -1;
    }
    if (h->count != l->motors) {
        drop(l, WIRE_BAD_LENGTH);
        return -1;
    }
    if (h->robot_id != l->robot_id) {
        drop(l, WIRE_BAD_ROBOT);
        return -1;
    }
    memcpy(values, l->in_values, sizeof(float) * l->motors);
    l->stats.received++;
    return 1;
}

static void read_monitor(sim_link *l, void *pair, int *up, const char *what, const char *endpoint)
{
    uint8_t ev[6];
    char addr[256];
    for (;;) {
        int n = zmq_recv(pair, ev, sizeof ev, ZMQ_DONTWAIT);
        if (n < 0)
            return;
        int an = more(pair) ? zmq_recv(pair, addr, sizeof addr - 1, ZMQ_DONTWAIT) : 0;
        discard_rest(pair);
        (void)an;
        if (n < 2)
            continue;
        uint16_t event;
        memcpy(&event, ev, sizeof event); /* host order, as libzmq writes it */
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            (*up)++;
            l->stats.connects++;
            fprintf(stderr, "fieldbrain-sim: %s%s connected to %s\n", l->label, what, endpoint);
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            if (*up > 0)
                (*up)--;
            l->stats.disconnects++;
            fprintf(stderr, "fieldbrain-sim: %s%s lost %s (reconnecting)\n", l->label, what, endpoint);
        }
    }
}

sim_link_event sim_link_wait(sim_link *l, uint64_t deadline_ns, wire_header *h, float *values)
{
    for (;;) {
        int got = read_motor(l, h, values);
        if (got > 0)
            return SIM_LINK_MOTORS;
        if (got < 0)
            continue; /* a bad frame: maybe a good one is behind it */
        uint64_t now = sim_now_ns();
        if (now >= deadline_ns)
            return SIM_LINK_TIMEOUT;
        /* round up, so a wait never ends a hair before its deadline and spins */
        long timeout_ms = (long)((deadline_ns - now + 999999) / 1000000);
        zmq_pollitem_t items[3] = {
            {.socket = l->sub, .events = ZMQ_POLLIN},
            {.socket = l->push_mon, .events = ZMQ_POLLIN},
            {.socket = l->sub_mon, .events = ZMQ_POLLIN},
        };
        int rc = zmq_poll(items, 3, timeout_ms);
        if (rc < 0) {
            if (zmq_errno() == EINTR)
                return SIM_LINK_INTERRUPTED;
            return SIM_LINK_TIMEOUT; /* context gone: nothing more will come */
        }
        if (items[1].revents & ZMQ_POLLIN)
            read_monitor(l, l->push_mon, &l->push_up, "sensor socket", l->sensor_endpoint);
        if (items[2].revents & ZMQ_POLLIN)
            read_monitor(l, l->sub_mon, &l->sub_up, "motor socket", l->motor_endpoint);
    }
}
