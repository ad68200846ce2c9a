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
 * connections together hold more than GUARD_TOTAL_BYTES, the one that has
 * received most. libzmq then drops the connection and everything it
 * subscribed; the peer may connect again, with a budget of its own.
 * Before a descriptor is touched the guard checks that it is still the
 * connection it was told of (the same local port and peer address), since
 * libzmq may have closed it and the number been reused.
 *
 * Only TCP connections are guarded (ipc:// is local and file-permission
 * bound). Functions that can fail return 0 or a negative guard_err and write
 * one sentence for people (fail.h); nothing here prints.
 */
#ifndef FIELDBRAIN_GUARD_H
#define FIELDBRAIN_GUARD_H

#include <stdint.h>
#include <stddef.h>

typedef enum {
    GUARD_OK = 0,
    GUARD_ERR_ZMQ = -1,     /* the monitor or its socket failed */
    GUARD_ERR_NOMEM = -2,
    GUARD_ERR_THREAD = -3,  /* the guard's thread could not start */
} guard_err;

const char *guard_strerror(int err);

/* A connection's budget: GUARD_BURST_BYTES, and GUARD_BYTES_PER_S more for
 * every second it has been connected (a peer's ZeroMQ heartbeats, a dozen
 * bytes each, fit it at 10 a second). What honest peers send: a robot's
 * subscription, about 10 bytes; a CURVE handshake, about 600; a telemetry
 * subscriber to each of 256 robots' three topics over CURVE, about 40 KB.
 * The total bounds what every connection's subscriptions can hold at once:
 * about 40 MB of libzmq's topic tables at the worst (4-byte topics). */
#define GUARD_BURST_BYTES 65536u
#define GUARD_BYTES_PER_S 128u
/* What the socket's live connections may have received together. */
#define GUARD_TOTAL_BYTES (1024u * 1024u)
#define GUARD_PERIOD_MS 10

typedef struct peer_guard peer_guard;

/* Guards sock, a socket of ctx that is not bound yet (so that no connection
 * is missed) and that no other thread uses during the call. `what` names
 * the socket in messages ("link.motor_endpoint"). */
int peer_guard_start(void *ctx, void *sock, const char *what, peer_guard **out, char *err,
                     size_t err_len);

/* Stops guarding sock (the same socket, from the thread that owns it, before
 * it is closed) and frees the guard; sets *g to NULL. NULL is harmless. */
void peer_guard_stop(peer_guard **g, void *sock);

/* Connections cut so far (any thread may ask). */
uint64_t peer_guard_cut(const peer_guard *g);

#endif
