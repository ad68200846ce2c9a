/* config_tool.c: fieldbrain-config, for people editing a config file:
 * `check FILE` says whether it loads (and what it warns about) and whether
 * what it names on this machine is there, `show FILE` prints every key as
 * it will run. */
#include "config.h"
#include "curve.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What `check` reads besides the file, which a brain would read at start:
 * the allow-list files (each must read), the CURVE pairs (each public key
 * its secret's), and the host of each tcp endpoint the brain binds, which
 * ZeroMQ takes as `*`, an address or an interface name of this machine, never
 * a host name. 0, or -1 with the sentence in err. */
static int check_machine(const config *c, char *err, size_t err_len)
{
    const struct { const char *key, *path; bool on; } lists[] = {
        {"link.curve_client_keys", c->link.curve_client_keys, c->link.curve_secret_key[0] != 0},
        {"telemetry.curve_client_keys", c->telemetry.curve_client_keys, c->telemetry.enabled},
    };
    for (size_t i = 0; i < 2; i++) {
        if (!lists[i].on || !lists[i].path[0])
            continue;
        curve_keys *keys = malloc(sizeof *keys);
        int rc = keys ? curve_keys_read(lists[i].path, lists[i].key, keys, err, err_len) : -1;
        free(keys);
        if (rc < 0)
            return keys ? -1 : (snprintf(err, err_len, "out of memory"), -1);
    }
    const struct { const char *secret, *public, *what_secret, *what_public; } pairs[] = {
        {c->link.curve_secret_key, c->link.curve_public_key, "link.curve_secret_key", "link.curve_public_key"},
        {c->telemetry.curve_secret_key, c->telemetry.curve_public_key, "telemetry.curve_secret_key",
         "telemetry.curve_public_key"},
    };
    for (size_t i = 0; i < 2; i++)
        if (pairs[i].secret[0] &&
            curve_pair_check(pairs[i].secret, pairs[i].public, pairs[i].what_secret, pairs[i].what_public,
                             err, err_len) < 0)
            return -1;
    const struct { const char *key, *ep; bool on; } eps[] = {
        {"link.sensor_endpoint", c->link.sensor_endpoint, true},
        {"link.motor_endpoint", c->link.motor_endpoint, true},
        {"telemetry.endpoint", c->telemetry.endpoint, c->telemetry.enabled},
        {"control.endpoint", c->control.endpoint, c->control.enabled},
    };
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
        if (!eps[i].on || strncmp(eps[i].ep, "tcp://", 6) != 0)
            continue;
        char host[CONFIG_STR];
        snprintf(host, sizeof host, "%s", eps[i].ep + 6);
        char *colon = strrchr(host, ':');
        if (colon)
            *colon = '\0';
        unsigned char addr[16];
        size_t n = strlen(host);
        bool v6 = n >= 2 && host[0] == '[' && host[n - 1] == ']';
        if (v6)
            host[n - 1] = '\0';
        if (strcmp(host, "*") == 0 || inet_pton(AF_INET, host, addr) == 1 ||
            (v6 && inet_pton(AF_INET6, host + 1, addr) == 1) || if_nametoindex(host) != 0)
            continue;
        snprintf(err, err_len, "%s: %s: ZeroMQ binds '*', an address or an interface name, and '%s' "
                 "is none of these on this machine (a host name is not taken: write 127.0.0.1 for "
                 "this machine alone)", eps[i].key, eps[i].ep, v6 ? host + 1 : host);
        return -1;
    }
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fieldbrain-config check FILE   load FILE, print warnings; exit 0 if it is valid\n"
            "       fieldbrain-config show [FILE]  print every key as FILE resolves it (no FILE: the defaults)\n"
            "       fieldbrain-config --help\n"
            "\n"
            "FILE is YAML with the sections brain, loop, link, telemetry, checkpoint, sim,\n"
            "record, control and the robots list;\n"
            "config/default.yaml documents every key. Errors read\n"
            "  FILE:LINE:COLUMN: SECTION.KEY: what is wrong (allowed range)\n"
            "check also reads the CURVE allow-list files the config names, checks each CURVE\n"
            "key pair, and that each tcp endpoint's host is '*', an address or an interface\n"
            "of this machine. Exit status: 0 valid, 1 invalid, 2 usage.\n");
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    bool check = argc == 3 && strcmp(argv[1], "check") == 0;
    bool show = (argc == 2 || argc == 3) && strcmp(argv[1], "show") == 0;
    if (!check && !show) {
        usage(stderr);
        return 2;
    }

    config c;
    char err[1024];
    if (argc == 3) {
        int rc = config_load(argv[2], &c, err, sizeof err);
        if (rc) {
            fprintf(stderr, "fieldbrain-config: %s\n", err);
            return 1;
        }
    } else {
        config_default(&c);
    }

    char warn[2048];
    if (config_warnings(&c, warn, sizeof warn) > 0) {
        /* One "FILE: warning: key: ..." a line, like the errors. */
        const char *name = argc == 3 ? argv[2] : "defaults";
        for (char *line = strtok(warn, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(stderr, "fieldbrain-config: %s: warning: %s\n", name, line);
    }

    if (show) {
        if (config_write_yaml(&c, stdout) || fflush(stdout)) {
            fprintf(stderr, "fieldbrain-config: cannot write to stdout\n");
            return 1;
        }
    } else {
        if (check_machine(&c, err, sizeof err) < 0) {
            fprintf(stderr, "fieldbrain-config: %s: %s\n", argv[2], err);
            return 1;
        }
        printf("%s: ok\n", argv[2]);
    }
    return 0;
}
