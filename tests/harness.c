/* harness.c: the runner behind harness.h. */
#include "harness.h"

#define HARNESS_MAX 256

static struct {
    const char *name;
    harness_fn fn;
} harness_tests[HARNESS_MAX];
static int harness_count;

void harness_register(const char *name, harness_fn fn)
{
    if (harness_count == HARNESS_MAX) {
        fprintf(stderr, "harness: more than %d tests in one file\n", HARNESS_MAX);
        exit(2);
    }
    harness_tests[harness_count].name = name;
    harness_tests[harness_count].fn = fn;
    harness_count++;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, ran = 0;
    for (int i = 0; i < harness_count; i++) {
        const char *name = harness_tests[i].name;
        if (argc > 1) {
            int wanted = 0;
            for (int a = 1; a < argc; a++)
                wanted |= strcmp(argv[a], name) == 0;
            if (!wanted)
                continue;
        }
        int f = 0;
        fprintf(stderr, "[ RUN  ] %s\n", name);
        harness_tests[i].fn(&f);
        fprintf(stderr, "[ %s ] %s\n", f ? "FAIL" : " OK ", name);
        f ? failed++ : passed++;
        ran++;
    }
    if (argc > 1 && ran == 0) {
        fprintf(stderr, "harness: no test named %s\n", argv[1]);
        return 2;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
