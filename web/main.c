/* main.c: fieldbrain-web [ENDPOINT] [options]: a brain's telemetry live in a
 * browser (the bundled page) and in Foxglove (the Foxglove WebSocket
 * protocol), on one loopback HTTP port by default. Ctrl-C stops it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fieldbrain-web [ENDPOINT] [--port N] [--bind ADDR] [--max-hz HZ] [--slice-hz HZ]\n"
            "                      [--timeout S] [--keys FILE | --server-key Z85 --public-key Z85 --secret-key Z85]\n"
            "\n"
            "Serves a running fieldbrain's telemetry (ENDPOINT, its telemetry.endpoint, default\n"
            WEB_DEFAULT_ENDPOINT ") as a live page and as a Foxglove WebSocket server\n"
            "(foxglove.websocket.v1), both on http://BIND:PORT/.\n"
            "  --port N        the HTTP port (default %d; 0: any free one, printed)\n"
            "  --bind ADDR     the interface to listen on (default " WEB_DEFAULT_BIND ")\n"
            "  --max-hz HZ     stats, motors and links at most this often (default 20)\n"
            "  --slice-hz HZ   field slices at most this often (default 2)\n"
            "  --timeout S     after how long without telemetry the brain counts as\n"
            "                  unreachable (default 2)\n"
            "  --keys FILE     connect with CURVE, for a brain whose telemetry is encrypted:\n"
            "                  a key file as for fieldbrain-monitor --keys (server-key,\n"
            "                  public-key, secret-key lines); keep FILE private\n"
            "  --server-key, --public-key, --secret-key Z85\n"
            "                  the same keys given directly: the brain's public key and this\n"
            "                  subscriber's key pair (40 characters each)\n",
            WEB_DEFAULT_PORT);
}

static int number(const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "fieldbrain-web: %s: '%s' is not a number from %g to %g\n", opt, text, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    web_config cfg;
    web_config_default(&cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] != '-') {
            cfg.endpoint = a;
            continue;
        } else if (!v) {
            fprintf(stderr, "fieldbrain-web: %s needs a value (or is unknown)\n", a);
            usage(stderr);
            return 2;
        } else if (strcmp(a, "--port") == 0) {
            if (number(a, v, 0, 65535, &d))
                return 2;
            cfg.port = (int)d;
        } else if (strcmp(a, "--bind") == 0) {
            cfg.bind = v;
        } else if (strcmp(a, "--max-hz") == 0) {
            if (number(a, v, 0.01, 1000, &cfg.max_hz))
                return 2;
        } else if (strcmp(a, "--slice-hz") == 0) {
            if (number(a, v, 0.01, 100, &cfg.slice_hz))
                return 2;
        } else if (strcmp(a, "--timeout") == 0) {
            if (number(a, v, 0.05, 3600, &cfg.timeout_s))
                return 2;
        } else if (strcmp(a, "--keys") == 0) {
            cfg.keys_file = v;
        } else if (strcmp(a, "--server-key") == 0) {
            cfg.server_key = v;
        } else if (strcmp(a, "--public-key") == 0) {
            cfg.public_key = v;
        } else if (strcmp(a, "--secret-key") == 0) {
            cfg.secret_key = v;
        } else {
            fprintf(stderr, "fieldbrain-web: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    int rc = web_run(&cfg, &g_stop, err, sizeof err);
    if (rc) {
        fprintf(stderr, "fieldbrain-web: %s: %s\n", web_strerror(rc), err);
        return rc == WEB_ERR_CONFIG ? 2 : 1;
    }
    return 0;
}
