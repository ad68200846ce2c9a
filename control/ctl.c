/* ctl.c: fieldbrain-ctl, the client of a running brain's control socket
 * (io/CONTROL.md): one request, one reply, printed for people or as the
 * reply's JSON. Exit status 0 done, 1 refused (the reply's sentence on
 * stderr), 2 could not reach the brain (or could not ask: bad usage).
 */
#include "control.h"
#include "curve.h"
#include "json.h"
#include "whole.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define EXIT_REFUSED 1
#define EXIT_UNREACHED 2

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fieldbrain-ctl [options] REQUEST [ARGS]\n"
            "\n"
            "Requests (io/CONTROL.md):\n"
            "  status             cycle, rate, device, robots, uptime, counters (each robot's)\n"
            "  get KEY            the running value of a config key (brain.motor_gain)\n"
            "  set KEY VALUE      change a key that can change while running\n"
            "  save [PATH]        a checkpoint now (checkpoint.path when no PATH)\n"
            "  pause | resume     stop stepping (motors zero flagged stop) | step again\n"
            "  reset              a fresh field from the seed\n"
            "\n"
            "Options:\n"
            "  --endpoint EP      the brain's control.endpoint (default tcp://127.0.0.1:5558)\n"
            "  --server-key KEY   the brain's CURVE public key (link.curve_public_key, Z85)\n"
            "  --public-key KEY   this client's CURVE public key (Z85; on the allow-list)\n"
            "  --secret-key KEY   this client's CURVE secret key (Z85)\n"
            "  --keys FILE        the three keys from a file, as fieldbrain-monitor takes them\n"
            "                     (server-key, public-key, secret-key lines: telemetry/README.md);\n"
            "                     keeps the secret key out of the process list\n"
            "  --robot ID         the robot of the fleet the request is for (default: every\n"
            "                     robot; get of a brain key: their value when they agree)\n"
            "  --timeout-ms MS    give up waiting after this long (default 3000)\n"
            "  --json             print the reply as it came (one JSON line)\n"
            "\n"
            "Exit status: 0 done, 1 refused, 2 could not reach the brain.\n");
}

/* s as a JSON string into w (the writer escapes it). */
static int ask(const char *endpoint, const char *server_key, const char *public_key,
               const char *secret_key, int timeout_ms, const char *request, char *reply, size_t cap)
{
    void *ctx = zmq_ctx_new();
    void *s = ctx ? zmq_socket(ctx, ZMQ_REQ) : NULL;
    int rc = -1, zero = 0;
    if (!s) {
        fprintf(stderr, "fieldbrain-ctl: cannot make a ZeroMQ socket: %s\n", zmq_strerror(zmq_errno()));
        goto out;
    }
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    if (server_key) {
        char pub[41], sec[41];
        if (public_key && secret_key) {
            snprintf(pub, sizeof pub, "%s", public_key);
            snprintf(sec, sizeof sec, "%s", secret_key);
        } else if (zmq_curve_keypair(pub, sec) != 0) { /* no allow-list: any key will do */
            fprintf(stderr, "fieldbrain-ctl: cannot make a CURVE key pair: %s\n", zmq_strerror(zmq_errno()));
            goto out;
        }
        if (strlen(server_key) != 40 || strlen(pub) != 40 || strlen(sec) != 40 ||
            zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_key, 40) ||
            zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40) ||
            zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40)) {
            fprintf(stderr, "fieldbrain-ctl: the CURVE keys must be Z85 keys of 40 characters\n");
            goto out;
        }
    }
    if (zmq_connect(s, endpoint) != 0) {
        fprintf(stderr, "fieldbrain-ctl: cannot connect to %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        goto out;
    }
    if (zmq_send(s, request, strlen(request), 0) < 0) {
        fprintf(stderr, "fieldbrain-ctl: could not reach %s within %d ms\n", endpoint, timeout_ms);
        goto out;
    }
    int n = zmq_recv(s, reply, cap - 1, 0);
    if (n < 0) {
        fprintf(stderr, "fieldbrain-ctl: could not reach %s: no reply within %d ms%s\n", endpoint,
                timeout_ms, server_key ? " (a CURVE key the brain refuses gets none)" : "");
        goto out;
    }
    reply[(size_t)n < cap - 1 ? (size_t)n : cap - 1] = '\0';
    rc = 0;
out:
    if (s)
        zmq_close(s);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}

/* The reply for people: one line or a few. */
static void print_reply(const char *what, const json_node *n)
{
    char a[300], b[300];
    if (strcmp(what, "status") == 0) {
        json_str(n, 0, "mode", a, sizeof a);
        json_str(n, 0, "device", b, sizeof b);
        printf("cycle %.0f (brain cycle %.0f), %s", json_num(n, 0, "cycle", 0),
               json_num(n, 0, "brain_cycle", 0), a);
        if (json_num(n, 0, "rate_hz", 0) > 0)
            printf(" at %g Hz", json_num(n, 0, "rate_hz", 0));
        int p = json_get(n, 0, "paused"), l = json_get(n, 0, "link_lost");
        printf("%s%s\n", p >= 0 && n[p].num ? ", paused" : "", l >= 0 && n[l].num ? ", link lost" : "");
        json_str(n, 0, "backend", a, sizeof a);
        printf("brain on %s: %s\n", a, b);
        printf("robots");
        int r = json_get(n, 0, "robots");
        for (int i = r >= 0 ? n[r].child : -1; i >= 0; i = n[i].next)
            printf(" %.0f", n[i].num);
        printf("; up %.1f s\n", json_num(n, 0, "uptime_s", 0));
        printf("received %.0f, published %.0f, bad input %.0f, overruns %.0f, brain faults %.0f\n",
               json_num(n, 0, "counters.received", 0), json_num(n, 0, "counters.published", 0),
               json_num(n, 0, "counters.bad_input", 0), json_num(n, 0, "counters.overruns", 0),
               json_num(n, 0, "counters.brain_faults", 0));
        /* A fleet: a line for each robot the reply covers. */
        int by = json_get(n, 0, "by_robot");
        int first = r >= 0 && json_count(n, r) > 1 && by >= 0 ? n[by].child : -1;
        for (int i = first; i >= 0; i = n[i].next) {
            int rp = json_get(n, i, "paused"), rl = json_get(n, i, "link_lost");
            printf("robot %.0f: cycle %.0f (brain cycle %.0f)%s%s; received %.0f, published %.0f, "
                   "bad input %.0f, brain faults %.0f\n", json_num(n, i, "robot", 0),
                   json_num(n, i, "cycle", 0), json_num(n, i, "brain_cycle", 0),
                   rp >= 0 && n[rp].num ? ", paused" : "", rl >= 0 && n[rl].num ? ", link lost" : "",
                   json_num(n, i, "counters.received", 0), json_num(n, i, "counters.published", 0),
                   json_num(n, i, "counters.bad_input", 0), json_num(n, i, "counters.brain_faults", 0));
        }
    } else if (strcmp(what, "get") == 0) {
        json_str(n, 0, "value", a, sizeof a);
        printf("%s\n", a);
    } else if (strcmp(what, "set") == 0) {
        char key[128];
        json_str(n, 0, "key", key, sizeof key);
        json_str(n, 0, "old", a, sizeof a);
        json_str(n, 0, "value", b, sizeof b);
        printf("%s: %s -> %s from cycle %.0f (brain cycle %.0f)\n", key, a, b, json_num(n, 0, "cycle", 0),
               json_num(n, 0, "brain_cycle", 0));
        json_str(n, 0, "warning", a, sizeof a);
        if (a[0])
            fprintf(stderr, "fieldbrain-ctl: warning: %s\n", a);
    } else if (strcmp(what, "save") == 0) {
        int by = json_get(n, 0, "by_robot");
        if (by < 0) {
            json_str(n, 0, "path", a, sizeof a);
            printf("saved %s (brain cycle %.0f)\n", a, json_num(n, 0, "brain_cycle", 0));
        }
        for (int i = by >= 0 ? n[by].child : -1; i >= 0; i = n[i].next) {
            json_str(n, i, "path", a, sizeof a);
            printf("saved %s (robot %.0f, brain cycle %.0f)\n", a, json_num(n, i, "robot", 0),
                   json_num(n, i, "brain_cycle", 0));
        }
    } else {
        printf("%s from cycle %.0f (brain cycle %.0f)\n",
               strcmp(what, "pause") == 0 ? "paused" : strcmp(what, "resume") == 0 ? "resumed" : "reset",
               json_num(n, 0, "cycle", 0), json_num(n, 0, "brain_cycle", 0));
    }
}

/* The value of option opt as fb_whole reads it: true, or false with
 * the sentence printed. */
static bool option_number(const char *opt, const char *text, unsigned long lo, unsigned long hi,
                          unsigned long *out)
{
    if (fb_whole(text, lo, hi, out))
        return true;
    fprintf(stderr, "fieldbrain-ctl: %s: '%s' is not a whole number from %lu to %lu\n", opt, text, lo, hi);
    return false;
}

int main(int argc, char **argv)
{
    const char *endpoint = "tcp://127.0.0.1:5558", *server_key = NULL, *public_key = NULL,
               *secret_key = NULL;
    int timeout_ms = 3000;
    long robot = -1;
    bool as_json = false;
    static curve_client keys; /* --keys FILE; static: the pointers above outlive the loop */
    const char *args[3] = {NULL, NULL, NULL};
    int nargs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            as_json = true;
        } else if (strcmp(a, "--endpoint") == 0 && has) {
            endpoint = argv[++i];
        } else if (strcmp(a, "--server-key") == 0 && has) {
            server_key = argv[++i];
        } else if (strcmp(a, "--public-key") == 0 && has) {
            public_key = argv[++i];
        } else if (strcmp(a, "--secret-key") == 0 && has) {
            secret_key = argv[++i];
        } else if (strcmp(a, "--keys") == 0 && has) {
            char err[512];
            if (curve_client_read(argv[++i], &keys, err, sizeof err) < 0) {
                fprintf(stderr, "fieldbrain-ctl: --keys: %s\n", err);
                return EXIT_UNREACHED;
            }
            server_key = keys.server_key;
            public_key = keys.public_key;
            secret_key = keys.secret_key;
        } else if (strcmp(a, "--timeout-ms") == 0 && has) {
            unsigned long v;
            if (!option_number(a, argv[++i], 1, INT32_MAX, &v))
                return EXIT_UNREACHED;
            timeout_ms = (int)v;
        } else if (strcmp(a, "--robot") == 0 && has) {
            unsigned long v;
            if (!option_number(a, argv[++i], 0, UINT32_MAX, &v))
                return EXIT_UNREACHED;
            robot = (long)v;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "fieldbrain-ctl: unknown or incomplete option '%s'\n", a);
            return EXIT_UNREACHED;
        } else if (nargs < 3) {
            args[nargs++] = a;
        } else {
            fprintf(stderr, "fieldbrain-ctl: too many arguments (from '%s')\n", a);
            return EXIT_UNREACHED;
        }
    }
    const char *what = args[0];
    static const char *const known[] = {"status", "get", "set", "save", "pause", "resume", "reset"};
    static const int wants[] = {0, 1, 2, -1, 0, 0, 0}; /* -1: 0 or 1 */
    int k = -1;
    for (int i = 0; what && i < 7; i++)
        if (strcmp(what, known[i]) == 0)
            k = i;
    if (k < 0) {
        if (what)
            fprintf(stderr, "fieldbrain-ctl: unknown request '%s'\n", what);
        usage(stderr);
        return EXIT_UNREACHED;
    }
    if (wants[k] >= 0 ? nargs - 1 != wants[k] : nargs - 1 > 1) {
        fprintf(stderr, "fieldbrain-ctl: %s takes %s\n", what,
                k == 1 ? "a key" : k == 2 ? "a key and a value" : k == 3 ? "at most a path" : "no arguments");
        return EXIT_UNREACHED;
    }
    if ((public_key != NULL) != (secret_key != NULL)) {
        fprintf(stderr, "fieldbrain-ctl: --public-key and --secret-key go together\n");
        return EXIT_UNREACHED;
    }

    char request[2048];
    json_writer w;
    jw_init(&w, request, sizeof request);
    jw_obj_begin(&w);
    jw_key(&w, "v"); jw_u64(&w, CONTROL_VERSION);
    jw_key(&w, "id"); jw_u64(&w, 1);
    jw_key(&w, "request"); jw_str(&w, what);
    if (robot >= 0) {
        jw_key(&w, "robot"); jw_u64(&w, (uint64_t)robot);
    }
    if (k == 1 || k == 2) {
        jw_key(&w, "key"); jw_str(&w, args[1]);
    }
    if (k == 2) {
        jw_key(&w, "value"); jw_str(&w, args[2]);
    }
    if (k == 3 && nargs == 2) {
        jw_key(&w, "path"); jw_str(&w, args[1]);
    }
    jw_obj_end(&w);
    if (w.overflow) {
        fprintf(stderr, "fieldbrain-ctl: the request is too long\n");
        return EXIT_UNREACHED;
    }

    static char reply[1 << 18];  /* a status of every robot of the largest fleet */
    if (ask(endpoint, server_key, public_key, secret_key, timeout_ms, request, reply, sizeof reply) != 0)
        return EXIT_UNREACHED;
    static json_node n[64 + 16 * 256];
    int max_nodes = (int)(sizeof n / sizeof n[0]);
    if (json_parse(reply, strlen(reply), n, max_nodes) <= 0 || n[0].type != JSON_OBJ) {
        fprintf(stderr, "fieldbrain-ctl: %s answered with something that is not a control reply\n", endpoint);
        return EXIT_UNREACHED;
    }
    int ok = json_get(n, 0, "ok");
    bool done = ok >= 0 && n[ok].type == JSON_BOOL && n[ok].num != 0;
    if (as_json)
        printf("%s\n", reply);
    if (!done) {
        char e[600];
        json_str(n, 0, "error", e, sizeof e);
        fprintf(stderr, "fieldbrain-ctl: %s\n", e[0] ? e : "refused");
        return EXIT_REFUSED;
    }
    if (!as_json)
        print_reply(what, n);
    return 0;
}
