/* config_tool.c: fieldbrain-config, for people editing a config file:
 * `check FILE` says whether it loads (and what it warns about), `show FILE`
 * prints every key as it will run. */
#include "config.h"

#include <stdio.h>
#include <string.h>

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
            "Exit status: 0 valid, 1 invalid, 2 usage.\n");
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
        printf("%s: ok\n", argv[2]);
    }
    return 0;
}
