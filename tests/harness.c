/* harness.c: the runner behind harness.h, and its helpers. */
#include "harness.h"

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>

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

/* ---- helpers ---- */

int64_t harness_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double harness_now_s(void)
{
    return (double)harness_now_ns() / 1e9;
}

void harness_sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

char *harness_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0)
        s = malloc((size_t)n + 1);
    if (s) {
        /* A file still being written may be shorter than it was: keep what came. */
        size_t got = fread(s, 1, (size_t)n, f);
        s[got] = '\0';
    }
    fclose(f);
    return s;
}

int harness_file_has(const char *path, const char *needle)
{
    char *s = harness_read_file(path);
    int has = s && strstr(s, needle) != NULL;
    free(s);
    return has;
}

double harness_json_num(const char *json, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = json ? strstr(json, pat) : NULL;
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

uint64_t harness_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t harness_rand_below(uint64_t *state, uint64_t n)
{
    return n ? harness_rand(state) % n : 0;
}

int harness_temp_dir(const char *name, char *dir, size_t cap)
{
    int n = snprintf(dir, cap, "/tmp/fb-test-%s-XXXXXX", name);
    if (n < 0 || (size_t)n >= cap || !mkdtemp(dir)) {
        if (cap)
            dir[0] = '\0';
        return -1;
    }
    return 0;
}

static int harness_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int harness_remove_tree(const char *dir)
{
    return nftw(dir, harness_remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}
