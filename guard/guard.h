/* guard.h: the door to guard/: the TCP peers of a bound ZeroMQ socket held
 * to a budget of bytes.
 *
 * Why: a PUB or XPUB socket (libzmq) keeps every distinct topic a peer
 * subscribes to for as long as that peer stays connected, in manual mode
 * too, and offers no way to refuse a subscription or to drop one peer. A
 * peer that sends distinct subscriptions without end therefore grows the
 * brain's memory without end (and, on a PUB, the work of the thread that
 * sends on it). Honest subscribers send a few dozen bytes a connection.
 *
 * How: a socket monitor reports each accepted connection's file descriptor;
 * a thread of the guard's own reads, every GUARD_PERIOD_MS, how many bytes
 * each connection has received (TCP_INFO), and shuts down a connection that
 * has received more than its budget, or, while the socket's live
 * connections together hold more than their total, the one that has
 * received most. libzmq then drops the connection and everything it
 * subscribed; the peer may connect again, with a budget of its own.
 * Before a descriptor is touched the guard checks that it is still the
 * connection it was told of (the same local port and peer address), since
 * libzmq may have closed it and the number been reused.
 *
 * A peer whose connection was cut is then refused for a while: the guard
 * sets the socket's ZAP domain to GUARD_ZAP_DOMAIN, and the context's ZAP
 * handler (curve.h, with peer_guard_refuses as its refusal) turns away
 * every handshake from that IP address for GUARD_BAN_FIRST_MS, twice as
 * long after each further cut within GUARD_BAN_MEMORY_S, at most
 * GUARD_BAN_MAX_MS (cuts while the address is refused already, of its
 * other connections, do not lengthen it). Bans are the socket's own. A refused handshake never reaches the socket (no
 * subscription is read), so a ZeroMQ peer that reconnects by itself after
 * each cut, re-sending every topic, costs a handshake a try instead of a
 * connection's worth of subscriptions.
 *
 * Only TCP connections are guarded (ipc:// is local and file-permission
 * bound). Functions that can fail return 0 or a negative guard_err and write
 * one sentence for people (fail.h); nothing here prints.
 */
#ifndef FIELDBRAIN_GUARD_H
#define FIELDBRAIN_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    GUARD_OK = 0,
    GUARD_ERR_ZMQ = -1,     /* the monitor or its socket failed */
    GUARD_ERR_NOMEM = -2,
    GUARD_ERR_THREAD = -3,  /* the guard's thread could not start */
} guard_err;

const char *guard_strerror(int err);

/* A socket's budgets: a connection may have received burst_bytes, and
 * bytes_per_s more for every second it has been connected (a peer's ZeroMQ
 * heartbeats, a dozen bytes each); the live connections together
 * total_bytes. What honest peers send: a ZeroMQ handshake, about 110 bytes
 * (600 with CURVE); a subscription, its topic and 3 bytes (a robot's, 7);
 * a telemetry subscriber to each of 256 robots' three topics, about 10 KB
 * (40 KB over CURVE). The total also bounds libzmq's topic tables (about
 * 290 bytes a 4-byte topic) and the time the thread that sends on the
 * socket spends forgetting them when connections leave (below). */
typedef struct {
    uint32_t burst_bytes, bytes_per_s, total_bytes;
} peer_guard_budget;

/* The motor socket: a robot subscribes to its one 4-byte topic. */
#define GUARD_MOTOR_BUDGET ((peer_guard_budget){2048u, 16u, 65536u})
#define GUARD_MOTOR_BUDGET_CURVE ((peer_guard_budget){4096u, 16u, 262144u})
/* The telemetry socket: a subscriber may follow every robot of a fleet. */
#define GUARD_TELEMETRY_BUDGET ((peer_guard_budget){65536u, 128u, 1048576u})
#define GUARD_PERIOD_MS 10
#define GUARD_BAN_FIRST_MS 1000
#define GUARD_BAN_MAX_MS 60000
#define GUARD_BAN_MEMORY_S 600
#define GUARD_ZAP_DOMAIN "fieldbrain.guarded"
/* libzmq forgets a connection's subscriptions by walking every topic the
 * socket holds, so N connections with a topic each that leave at once cost
 * the thread that sends on the socket time in N^2 (measured: 2000
 * connections, 3.9 s without a motor message; N connections that leave
 * holding T topics in all, about N * T * 1.8 us). Handshakes beyond these many live connections (from
 * one address, in all) are refused; a fleet has at most 256 robots. */
#define GUARD_MAX_PER_ADDRESS 300
#define GUARD_MAX_CONNECTIONS 512

typedef struct peer_guard peer_guard;

/* Guards sock, a socket of ctx that is not bound yet (so that no connection
 * is missed) and that no other thread uses during the call, and sets its
 * ZAP domain (after any curve_server_setup, which sets its own). `what`
 * names the socket in messages ("link.motor_endpoint"). The bans work only
 * with a ZAP handler in ctx whose refusal is {GUARD_ZAP_DOMAIN,
 * peer_guard_refuses, the guard}. */
int peer_guard_start(void *ctx, void *sock, peer_guard_budget budget, const char *what,
                     peer_guard **out, char *err, size_t err_len);

/* Stops watching sock (the same socket, from the thread that owns it,
 * before it is closed): no descriptor is touched after it. The bans still
 * answer. NULL is harmless. */
void peer_guard_unwatch(peer_guard *g, void *sock);
/* Frees the guard (unwatching it first if that was not done), after the
 * ZAP handler that asks it has stopped; sets *g to NULL. NULL is harmless. */
void peer_guard_free(peer_guard **g, void *sock);

/* Connections cut so far, and handshakes refused (any thread may ask). */
uint64_t peer_guard_cut(const peer_guard *g);
uint64_t peer_guard_refused(const peer_guard *g);

/* Whether a handshake from address (an IP address as ZeroMQ's ZAP gives
 * it) is refused now; counts it if so. For curve_zap_refusal.refuse: guard
 * is the peer_guard. Any thread. */
bool peer_guard_refuses(const char *address, void *guard);

#endif
