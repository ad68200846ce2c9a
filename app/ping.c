/* ping.c: fieldbrain-ping, a robot that measures end-to-end latency: it sends
 * sensor messages at a fixed rate and, for each motor message that answers
 * one of its own for the first time (the seq and time it sent, echoed),
 * takes now - answer_time_ns (its own clock). Prints p50, p99 and max.
 */
#include "whole.h"
#include "wire.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: fieldbrain-ping [--sensor EP] [--motor EP] [--robot ID] [--sensors N]\n"
               "                       [--rate HZ] [--count N]\n"
               "Sends N sensor messages at HZ to a running fieldbrain and prints the\n"
               "latency from send to the motor message that answers each (p50, p99, max).\n"
               "Defaults: --sensor tcp://127.0.0.1:5555 --motor tcp://127.0.0.1:5556 --robot 1\n"
               "--sensors 16 --rate 100 --count 1000. Exit status 0, 1 when no message was\n"
               "answered or the brain sends nothing, 2 for a bad option or endpoint.\n");
}

/* text as a whole number up to most (fb_whole) into *out. */
static bool whole_number(const char *text, unsigned long most, unsigned *out)
{
    unsigned long v;
    if (!fb_whole(text, 0, most, &v))
        return false;
    *out = (unsigned)v;
    return true;
}

int main(int argc, char **argv)
{
    const char *sensor_ep = "tcp://127.0.0.1:5555", *motor_ep = "tcp://127.0.0.1:5556";
    unsigned robot = 1, sensors = 16, count = 1000;
    double rate = 100;
    char *end;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        bool ok = true;
        if (strcmp(a, "--sensor") == 0) sensor_ep = v;
        else if (strcmp(a, "--motor") == 0) motor_ep = v;
        else if (strcmp(a, "--robot") == 0) ok = whole_number(v, UINT32_MAX, &robot);
        else if (strcmp(a, "--sensors") == 0) ok = whole_number(v, 65536, &sensors);
        else if (strcmp(a, "--rate") == 0) ok = *v && (rate = strtod(v, &end), !*end);
        else if (strcmp(a, "--count") == 0) ok = whole_number(v, 100000000, &count);
        else {
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "fieldbrain-ping: %s: '%s' is not a number it takes\n", a, v);
            return 2;
        }
    }
    if (!(rate > 0) || count == 0 || sensors > 65536) {
        fprintf(stderr, "fieldbrain-ping: --rate must be > 0, --count > 0, --sensors <= 65536\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    void *push = zmq_socket(ctx, ZMQ_PUSH), *sub = zmq_socket(ctx, ZMQ_SUB);
    int zero = 0;
    uint8_t topic[WIRE_TOPIC_BYTES];
    wire_topic(robot, topic);
    zmq_setsockopt(push, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, topic, sizeof topic);
    if (zmq_connect(push, sensor_ep) || zmq_connect(sub, motor_ep)) {
        int e = zmq_errno();
        fprintf(stderr, "fieldbrain-ping: cannot connect: %s\n", zmq_strerror(e));
        return e == EINVAL || e == EPROTONOSUPPORT ? 2 : 1;
    }
    size_t cap = wire_message_bytes(sensors);
    uint8_t *out = malloc(cap), in[65536];
    float *values = calloc(sensors + 1u, sizeof(float));
    int64_t *lat = calloc(count, sizeof(int64_t));
    uint64_t *sent_ns = calloc(count, sizeof(uint64_t));  /* the time_ns of each seq sent */
    float motors[4096];
    if (!out || !values || !lat || !sent_ns)
        return 1;

    /* Wait for a first motor message: the subscription is live (PROTOCOL.md). */
    zmq_pollitem_t it = {.socket = sub, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, 5000) <= 0) {
        fprintf(stderr, "fieldbrain-ping: no motor message from %s within 5 s\n", motor_ep);
        return 1;
    }
    while (zmq_recv(sub, in, sizeof in, ZMQ_DONTWAIT) >= 0) {
    }

    int64_t period = (int64_t)(1e9 / rate), next = now_ns(), end_ns = 0;
    unsigned sent = 0, got = 0;
    uint64_t last_answered = 0;
    while (got < count) {
        int64_t t = now_ns();
        if (sent < count && t >= next) {
            for (unsigned i = 0; i < sensors; i++)
                values[i] = (float)((sent + i) % 7) * 0.1f;
            wire_header h = {.version = WIRE_VERSION, .kind = WIRE_KIND_SENSORS,
                             .robot_id = robot, .count = sensors, .seq = sent + 1u,
                             .time_ns = (uint64_t)t};
            size_t len;
            wire_encode(&h, values, out, cap, &len);
            zmq_send(push, out, len, 0);
            sent_ns[sent] = h.time_ns;
            sent++;
            next += period;
            if (sent == count)
                end_ns = t + 2000000000LL;  /* answers may still come for 2 s */
        }
        if (sent == count && t > end_ns)
            break;
        int64_t wait_ms = (next - t) / 1000000;
        if (sent == count || wait_ms > 100)
            wait_ms = 100;
        if (zmq_poll(&it, 1, wait_ms < 0 ? 0 : (long)wait_ms) <= 0)
            continue;
        if (zmq_recv(sub, in, sizeof in, 0) < 0)  /* the topic frame */
            continue;
        int n = zmq_recv(sub, in, sizeof in, 0);
        int64_t r = now_ns();
        wire_header h;
        if (n < 0 || wire_decode(in, (size_t)n, WIRE_KIND_MOTORS, &h, motors, 4096) < 0)
            continue;
        /* An answer to one of ours: its seq and time as we sent them (the
         * brain answers whoever sent last; another client's seq may match
         * ours, its time does not), each seq counted once. */
        if (h.answer_seq > last_answered && h.answer_seq <= sent &&
            h.answer_time_ns == sent_ns[h.answer_seq - 1]) {
            last_answered = h.answer_seq;
            lat[got++] = r - (int64_t)h.answer_time_ns;
        }
    }
    zmq_close(push);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    if (got == 0) {
        fprintf(stderr, "fieldbrain-ping: no answers to its %u messages (do --robot and --sensors "
                "match the brain's link.robot_id and brain.sensors? it logs what it drops)\n", sent);
        return 1;
    }
    qsort(lat, got, sizeof lat[0], cmp_i64);
    unsigned k99 = (unsigned)((uint64_t)got * 99 / 100);
    printf("fieldbrain-ping: %u sent at %g Hz, %u answered; latency us: p50 %.1f p99 %.1f max %.1f\n",
           sent, rate, got, lat[got / 2] / 1e3, lat[k99 < got ? k99 : got - 1] / 1e3, lat[got - 1] / 1e3);
    free(lat);
    free(sent_ns);
    free(values);
    free(out);
    return 0;
}
