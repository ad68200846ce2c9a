/* guard.c: a bound ZeroMQ socket's TCP connections held to a byte budget
 * (guard.h says why and how). */
#include "guard.h"

#include "fail.h"

#include <zmq.h>

#include <arpa/inet.h>
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
    char address[INET6_ADDRSTRLEN];        /* the peer's IP address, as ZAP gives it */
    int64_t since_ns;                      /* when the guard learnt of it */
    uint64_t bytes;                        /* received, at the last look */
} guard_conn;

/* An address a cut connection came from. */
typedef struct {
    char address[INET6_ADDRSTRLEN];
    int64_t until_ns;        /* refused until */
    int64_t last_cut_ns;
    uint32_t strikes;        /* cuts within GUARD_BAN_MEMORY_S of each other */
} guard_ban;

#define GUARD_BANS 256

struct peer_guard {
    void *mon;                 /* PAIR, connected to the socket's monitor */
    pthread_t thread;
    bool thread_started;
    bool unwatched;            /* the monitor and the thread are gone */
    _Atomic bool stop;
    _Atomic uint64_t cut, refused;
    /* Held by the guard thread while it changes conns and bans, and by the
     * ZAP thread while it reads them. */
    pthread_mutex_t lock;
    guard_ban bans[GUARD_BANS];
    peer_guard_budget budget;
    guard_conn *conns;
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

/* The numeric address of a peer, as ZeroMQ's ZAP writes it. */
static bool guard_address(const struct sockaddr_storage *a, char *out, size_t len)
{
    if (a->ss_family == AF_INET)
        return inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, out, (socklen_t)len);
    if (a->ss_family == AF_INET6)
        return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, out, (socklen_t)len);
    return false;
}

/* The peer at address is refused from now on for a while: longer each time
 * it is cut again soon. The lock is held. */
static void guard_ban_address(peer_guard *g, const char *address, int64_t now)
{
    guard_ban *slot = NULL, *oldest = &g->bans[0];
    for (size_t i = 0; i < GUARD_BANS && !slot; i++)
        if (strcmp(g->bans[i].address, address) == 0)
            slot = &g->bans[i];
    if (!slot) {
        for (size_t i = 0; i < GUARD_BANS; i++)
            if (g->bans[i].last_cut_ns < oldest->last_cut_ns)
                oldest = &g->bans[i];
        slot = oldest;  /* an unused slot has last_cut_ns 0 */
        memset(slot, 0, sizeof *slot);
        snprintf(slot->address, sizeof slot->address, "%s", address);
    }
    if (slot->until_ns > now)
        return;  /* cut while refused already (its other connections, at once): no longer */
    if (slot->strikes > 0 && now - slot->last_cut_ns > (int64_t)GUARD_BAN_MEMORY_S * 1000000000)
        slot->strikes = 0;
    int64_t ms = GUARD_BAN_FIRST_MS;
    for (uint32_t k = 0; k < slot->strikes && ms < GUARD_BAN_MAX_MS; k++)
        ms *= 2;
    if (ms > GUARD_BAN_MAX_MS)
        ms = GUARD_BAN_MAX_MS;
    slot->strikes++;
    slot->last_cut_ns = now;
    slot->until_ns = now + ms * 1000000;
}

static void guard_cut(peer_guard *g, size_t i, int64_t now)
{
    /* shutdown, not close: the descriptor stays libzmq's, which sees the
     * connection end and drops it with its subscriptions. */
    if (g->conns[i].address[0])
        guard_ban_address(g, g->conns[i].address, now);
    shutdown(g->conns[i].fd, SHUT_RDWR);
    atomic_fetch_add_explicit(&g->cut, 1, memory_order_relaxed);
    guard_forget(g, i);
}

bool peer_guard_refuses(const char *address, void *guard)
{
    peer_guard *g = guard;
    int64_t now = guard_now_ns();
    bool refused = false;
    size_t same = 0;
    pthread_mutex_lock(&g->lock);
    for (size_t i = 0; i < GUARD_BANS && !refused; i++)
        refused = g->bans[i].until_ns > now && strcmp(g->bans[i].address, address) == 0;
    for (size_t i = 0; i < g->n && !refused; i++)
        same += strcmp(g->conns[i].address, address) == 0;
    /* this handshake's own connection is most likely counted already */
    refused = refused || same > GUARD_MAX_PER_ADDRESS || g->n > GUARD_MAX_CONNECTIONS;
    pthread_mutex_unlock(&g->lock);
    if (refused)
        atomic_fetch_add_explicit(&g->refused, 1, memory_order_relaxed);
    return refused;
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
    if ((c.local.ss_family != AF_INET && c.local.ss_family != AF_INET6) ||
        !guard_address(&c.peer, c.address, sizeof c.address))
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
        if (c->bytes > g->budget.burst_bytes + (uint64_t)g->budget.bytes_per_s * age_s) {
            if (guard_same(c))
                guard_cut(g, i, now);
            else
                guard_forget(g, i);
            continue;
        }
        total += c->bytes;
        i++;
    }
    while (total > g->budget.total_bytes && g->n > 0) {
        size_t top = 0;
        for (size_t i = 1; i < g->n; i++)
            if (g->conns[i].bytes > g->conns[top].bytes)
                top = i;
        total -= g->conns[top].bytes;
        if (guard_same(&g->conns[top]))
            guard_cut(g, top, now);
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
        pthread_mutex_lock(&g->lock);
        guard_events(g);
        int64_t now = guard_now_ns();
        if (now >= next) {
            guard_check(g, now);
            next = now + (int64_t)GUARD_PERIOD_MS * 1000000;
        }
        pthread_mutex_unlock(&g->lock);
    }
    return NULL;
}

int peer_guard_start(void *ctx, void *sock, peer_guard_budget budget, const char *what,
                     peer_guard **out, char *err, size_t err_len)
{
    *out = NULL;
    peer_guard *g = calloc(1, sizeof *g);
    if (!g)
        return fb_fail(err, err_len, GUARD_ERR_NOMEM, "%s: out of memory", what);
    g->budget = budget;
    pthread_mutex_init(&g->lock, NULL);
    snprintf(g->endpoint, sizeof g->endpoint, "inproc://fieldbrain-guard-%p", sock);
    int rc = GUARD_ERR_ZMQ;
    int zero = 0;
    if (zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, GUARD_ZAP_DOMAIN, strlen(GUARD_ZAP_DOMAIN)) != 0 ||
        zmq_socket_monitor(sock, g->endpoint, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
        fb_fail(err, err_len, rc, "%s: cannot monitor the socket: %s", what, zmq_strerror(zmq_errno()));
        pthread_mutex_destroy(&g->lock);
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
    peer_guard_free(&g, sock);
    return rc;
}

void peer_guard_unwatch(peer_guard *g, void *sock)
{
    if (!g || g->unwatched)
        return;
    /* The monitor first, while the thread still reads what it sends. */
    zmq_socket_monitor(sock, NULL, 0);
    atomic_store_explicit(&g->stop, true, memory_order_release);
    if (g->thread_started)
        pthread_join(g->thread, NULL);
    g->thread_started = false;
    if (g->mon)
        zmq_close(g->mon);
    g->mon = NULL;
    g->unwatched = true;
}

void peer_guard_free(peer_guard **gp, void *sock)
{
    peer_guard *g = gp ? *gp : NULL;
    if (!g)
        return;
    peer_guard_unwatch(g, sock);
    free(g->conns);
    pthread_mutex_destroy(&g->lock);
    free(g);
    *gp = NULL;
}

uint64_t peer_guard_cut(const peer_guard *g)
{
    return g ? atomic_load_explicit(&g->cut, memory_order_relaxed) : 0;
}

uint64_t peer_guard_refused(const peer_guard *g)
{
    return g ? atomic_load_explicit(&g->refused, memory_order_relaxed) : 0;
}
