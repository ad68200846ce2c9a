/* guard.c: a bound ZeroMQ socket's TCP connections held to a byte budget
 * (guard.h says why and how). */
#include "guard.h"

#include "fail.h"

#include <zmq.h>

#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* One accepted connection as the monitor told of it. */
typedef struct {
    int fd;
    struct sockaddr_storage local, peer;   /* what fd was when accepted */
    socklen_t local_len, peer_len;
    int64_t since_ns;                      /* when the guard learnt of it */
    uint64_t bytes;                        /* received, at the last look */
} guard_conn;

struct peer_guard {
    void *mon;                 /* PAIR, connected to the socket's monitor */
    pthread_t thread;
    bool thread_started;
    _Atomic bool stop;
    _Atomic uint64_t cut;
    guard_conn *conns;         /* the guard thread's alone */
    size_t n, cap;
    char endpoint[64];         /* the monitor's inproc address */
};

const char *guard_strerror(int err)
{
    switch (err) {
    case GUARD_OK: return "no error";
    case GUARD_ERR_ZMQ: return "ZeroMQ call failed";
    case GUARD_ERR_NOMEM: return "out of memory";
    case GUARD_ERR_THREAD: return "cannot start a thread";
    default: return "unknown guard error";
    }
}

static int64_t guard_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether fd is still the connection c recorded (libzmq may have closed it
 * and the number gone to another socket or file since). */
static bool guard_same(const guard_conn *c)
{
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    if (getsockname(c->fd, (struct sockaddr *)&a, &len) != 0 || len != c->local_len ||
        memcmp(&a, &c->local, len) != 0)
        return false;
    len = sizeof a;
    return getpeername(c->fd, (struct sockaddr *)&a, &len) == 0 && len == c->peer_len &&
           memcmp(&a, &c->peer, len) == 0;
}

/* Bytes fd has received (its TCP_INFO); false if it has no such count. */
static bool guard_received(int fd, uint64_t *bytes)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
        return false;
    *bytes = ti.tcpi_bytes_received;
    return true;
}

static void guard_forget(peer_guard *g, size_t i)
{
    g->conns[i] = g->conns[--g->n];
}

static void guard_cut(peer_guard *g, size_t i)
{
    /* shutdown, not close: the descriptor stays libzmq's, which sees the
     * connection end and drops it with its subscriptions. */
    shutdown(g->conns[i].fd, SHUT_RDWR);
    atomic_fetch_add_explicit(&g->cut, 1, memory_order_relaxed);
    guard_forget(g, i);
}

static void guard_accepted(peer_guard *g, int fd, int64_t now)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->conns[i].fd == fd)  /* the number reused: the old one ended unseen */
            guard_forget(g, i--);
    guard_conn c = {.fd = fd, .since_ns = now};
    c.local_len = sizeof c.local;
    c.peer_len = sizeof c.peer;
    if (getsockname(fd, (struct sockaddr *)&c.local, &c.local_len) != 0 ||
        getpeername(fd, (struct sockaddr *)&c.peer, &c.peer_len) != 0)
        return;  /* gone already */
    if (c.local.ss_family != AF_INET && c.local.ss_family != AF_INET6)
        return;
    uint64_t bytes;
    if (!guard_received(fd, &bytes))
        return;
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 16;
        guard_conn *more = realloc(g->conns, cap * sizeof *more);
        if (!more) {
            /* what cannot be watched is not let in */
            shutdown(fd, SHUT_RDWR);
            atomic_fetch_add_explicit(&g->cut, 1, memory_order_relaxed);
            return;
        }
        g->conns = more;
        g->cap = cap;
    }
    c.bytes = bytes;
    g->conns[g->n++] = c;
}

static void guard_disconnected(peer_guard *g, int fd)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->conns[i].fd == fd) {
            guard_forget(g, i);
            return;
        }
}

/* Reads every event waiting on the monitor's socket. */
static void guard_events(peer_guard *g)
{
    for (;;) {
        zmq_msg_t head, addr;
        zmq_msg_init(&head);
        if (zmq_msg_recv(&head, g->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&head);
            return;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&head) >= 6) {
            const uint8_t *d = zmq_msg_data(&head);
            memcpy(&event, d, sizeof event);
            memcpy(&value, d + 2, sizeof value);
        }
        bool more = zmq_msg_more(&head);
        zmq_msg_close(&head);
        while (more) {  /* the endpoint's address: not needed */
            zmq_msg_init(&addr);
            if (zmq_msg_recv(&addr, g->mon, 0) < 0) {
                zmq_msg_close(&addr);
                break;
            }
            more = zmq_msg_more(&addr);
            zmq_msg_close(&addr);
        }
        if (event == ZMQ_EVENT_ACCEPTED)
            guard_accepted(g, (int)value, guard_now_ns());
        else if (event == ZMQ_EVENT_DISCONNECTED)
            guard_disconnected(g, (int)value);
    }
}

/* Every connection against its budget, then all of them against the total.
 * A descriptor's identity is checked only before it is cut (a count read
 * from a descriptor that became another socket is harmless until then). */
static void guard_check(peer_guard *g, int64_t now)
{
    uint64_t total = 0;
    for (size_t i = 0; i < g->n;) {
        guard_conn *c = &g->conns[i];
        if (!guard_received(c->fd, &c->bytes)) {
            guard_forget(g, i);
            continue;
        }
        uint64_t age_s = (uint64_t)(now - c->since_ns) / 1000000000u;
        if (c->bytes > GUARD_BURST_BYTES + GUARD_BYTES_PER_S * age_s) {
            if (guard_same(c))
                guard_cut(g, i);
            else
                guard_forget(g, i);
            continue;
        }
        total += c->bytes;
        i++;
    }
    while (total > GUARD_TOTAL_BYTES && g->n > 0) {
        size_t top = 0;
        for (size_t i = 1; i < g->n; i++)
            if (g->conns[i].bytes > g->conns[top].bytes)
                top = i;
        total -= g->conns[top].bytes;
        if (guard_same(&g->conns[top]))
            guard_cut(g, top);
        else
            guard_forget(g, top);
    }
}

static void *guard_main(void *arg)
{
    peer_guard *g = arg;
    int64_t next = guard_now_ns();
    while (!atomic_load_explicit(&g->stop, memory_order_acquire)) {
        zmq_pollitem_t it = {.socket = g->mon, .events = ZMQ_POLLIN};
        int rc = zmq_poll(&it, 1, GUARD_PERIOD_MS);
        if (rc < 0 && zmq_errno() == ETERM)
            break;
        guard_events(g);
        int64_t now = guard_now_ns();
        if (now >= next) {
            guard_check(g, now);
            next = now + (int64_t)GUARD_PERIOD_MS * 1000000;
        }
    }
    return NULL;
}

int peer_guard_start(void *ctx, void *sock, const char *what, peer_guard **out, char *err,
                     size_t err_len)
{
    *out = NULL;
    peer_guard *g = calloc(1, sizeof *g);
    if (!g)
        return fb_fail(err, err_len, GUARD_ERR_NOMEM, "%s: out of memory", what);
    snprintf(g->endpoint, sizeof g->endpoint, "inproc://fieldbrain-guard-%p", sock);
    int rc = GUARD_ERR_ZMQ;
    int zero = 0;
    if (zmq_socket_monitor(sock, g->endpoint, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
        fb_fail(err, err_len, rc, "%s: cannot monitor the socket: %s", what, zmq_strerror(zmq_errno()));
        free(g);
        return rc;
    }
    /* No bound on the events queued for us: libzmq's threads block on a
     * full monitor queue. */
    g->mon = zmq_socket(ctx, ZMQ_PAIR);
    if (!g->mon || zmq_setsockopt(g->mon, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(g->mon, ZMQ_RCVHWM, &zero, sizeof zero) != 0 ||
        zmq_connect(g->mon, g->endpoint) != 0) {
        fb_fail(err, err_len, rc, "%s: cannot connect to the socket's monitor: %s", what,
                zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (pthread_create(&g->thread, NULL, guard_main, g) != 0) {
        rc = fb_fail(err, err_len, GUARD_ERR_THREAD, "%s: cannot start the guard's thread", what);
        goto fail;
    }
    g->thread_started = true;
    *out = g;
    return GUARD_OK;
fail:
    peer_guard_stop(&g, sock);
    return rc;
}

void peer_guard_stop(peer_guard **gp, void *sock)
{
    peer_guard *g = gp ? *gp : NULL;
    if (!g)
        return;
    /* The monitor first, while the thread still reads what it sends. */
    zmq_socket_monitor(sock, NULL, 0);
    atomic_store_explicit(&g->stop, true, memory_order_release);
    if (g->thread_started)
        pthread_join(g->thread, NULL);
    if (g->mon)
        zmq_close(g->mon);
    free(g->conns);
    free(g);
    *gp = NULL;
}

uint64_t peer_guard_cut(const peer_guard *g)
{
    return g ? atomic_load_explicit(&g->cut, memory_order_relaxed) : 0;
}
