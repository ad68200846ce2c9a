/* test_fuzz_config.c: the config reader (config/config.h) against the
 * shipped configs mutated at random: bytes flipped, inserted and deleted,
 * lines duplicated, dropped and swapped, numbers replaced by edge values.
 * A fixed seed, so every run reads the same inputs. Every input must either
 * load, pass config_check and survive config_write_yaml and a reload, or be
 * refused with a known code and a sentence that starts with the file name.
 * No crash, and under ASan no bad access and no leak.
 */
#include "config.h"
#include "config_text.h"
#include "harness.h"

#include <dirent.h>
#include <stdint.h>

#define FUZZ_SEED 0xC0F1605EEDull
#define FUZZ_PER_FILE 400
#define FUZZ_MAX_FILES 16
#define FUZZ_CAP 65536

static size_t fuzz_below(uint64_t *s, size_t n)
{
    return (size_t)harness_rand_below(s, n);
}

typedef struct {
    char text[FUZZ_CAP];
    size_t len;
} doc;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replaces [at, at + cut) of d with ins (ilen bytes), if it fits. */
static void splice(doc *d, size_t at, size_t cut, const char *ins, size_t ilen)
{
    if (at > d->len || cut > d->len - at || d->len - cut + ilen >= FUZZ_CAP)
        return;
    memmove(d->text + at + ilen, d->text + at + cut, d->len - at - cut);
    memcpy(d->text + at, ins, ilen);
    d->len = d->len - cut + ilen;
    d->text[d->len] = '\0';
}

/* The line holding byte at: its start and length with the newline. */
static void line_at(const doc *d, size_t at, size_t *start, size_t *len)
{
    size_t a = at, b = at;
    while (a > 0 && d->text[a - 1] != '\n')
        a--;
    while (b < d->len && d->text[b] != '\n')
        b++;
    if (b < d->len)
        b++;
    *start = a;
    *len = b - a;
}

static void mutate(uint64_t *s, doc *d)
{
    /* What YAML and the reader care about, and bytes that are not UTF-8. */
    static const char alphabet[] = " :-#'\"\n\t[]{},&*!|>%@`?0123456789.eE+x_abz\x80\xc3\xff";
    static const char *const numbers[] = {"0", "-1", "1e400", "-0", "4294967296", "18446744073709551616",
                                          "nan", ".inf", "0x10", "1.5", "99999999999999999999", "1e-400"};
    int n = 1 + (int)fuzz_below(s, 4);
    for (int m = 0; m < n && d->len > 0; m++) {
        size_t at = fuzz_below(s, d->len);
        size_t ls, ll;
        switch (fuzz_below(s, 8)) {
        case 0: { /* flip a bit, never into a NUL (the string would just end) */
            char c = (char)(d->text[at] ^ (1 << fuzz_below(s, 8)));
            if (c)
                d->text[at] = c;
            break;
        }
        case 1:
            splice(d, at, 0, &alphabet[fuzz_below(s, sizeof alphabet - 1)], 1);
            break;
        case 2:
            splice(d, at, 1 + fuzz_below(s, 8), "", 0);
            break;
        case 3: { /* duplicate a line (duplicate keys, repeated sections) */
            line_at(d, at, &ls, &ll);
            char line[512];
            if (ll < sizeof line) {
                memcpy(line, d->text + ls, ll);
                splice(d, ls + ll, 0, line, ll);
            }
            break;
        }
        case 4:
            line_at(d, at, &ls, &ll);
            splice(d, ls, ll, "", 0);
            break;
        case 5: { /* move a line somewhere else (a key into another section) */
            line_at(d, at, &ls, &ll);
            char line[512];
            if (ll < sizeof line) {
                memcpy(line, d->text + ls, ll);
                splice(d, ls, ll, "", 0);
                size_t ts, tl;
                line_at(d, fuzz_below(s, d->len), &ts, &tl);
                splice(d, ts, 0, line, ll);
            }
            break;
        }
        case 6: { /* a value becomes an edge number */
            line_at(d, at, &ls, &ll);
            const char *colon = memchr(d->text + ls, ':', ll);
            if (colon) {
                size_t v = (size_t)(colon - d->text) + 1;
                size_t e = v;
                while (e < d->len && d->text[e] != '\n' && d->text[e] != '#')
                    e++;
                const char *num = numbers[fuzz_below(s, sizeof numbers / sizeof numbers[0])];
                char repl[64];
                int k = snprintf(repl, sizeof repl, " %s ", num);
                splice(d, v, e - v, repl, (size_t)k);
            }
            break;
        }
        default: /* indentation: add or take two spaces at a line start */
            line_at(d, at, &ls, &ll);
            if (fuzz_below(s, 2))
                splice(d, ls, 0, "  ", 2);
            else if (ll >= 2 && d->text[ls] == ' ' && d->text[ls + 1] == ' ')
                splice(d, ls, 2, "", 0);
            break;
        }
    }
}

TEST(mutated_shipped_configs_load_or_are_refused_with_a_located_reason)
{
    char *names[FUZZ_MAX_FILES];
    int n_files = 0;
    DIR *dir = opendir(FB_CONFIG_DIR);
    CHECK(dir);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && n_files < FUZZ_MAX_FILES) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".yaml") == 0)
            names[n_files++] = strdup(e->d_name);
    }
    closedir(dir);
    CHECK(n_files >= 3);
    qsort(names, (size_t)n_files, sizeof names[0], by_name); /* readdir order is not fixed */

    static doc d;
    uint64_t s = FUZZ_SEED;
    int loaded = 0, refused = 0, by_code[6] = {0};
    int failed = 0;
    for (int f = 0; f < n_files && !failed; f++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", FB_CONFIG_DIR, names[f]);
        char *orig = harness_read_file(path);
        if (!orig) {
            fprintf(stderr, "cannot read %s\n", path);
            failed = 1;
            break;
        }
        if (strlen(orig) >= FUZZ_CAP)
            orig[FUZZ_CAP - 1] = '\0';  /* what a mutation may grow into */
        for (int it = 0; it < FUZZ_PER_FILE; it++) {
            d.len = strlen(orig);
            memcpy(d.text, orig, d.len + 1);
            mutate(&s, &d);
            config c;
            char err[1024];
            memset(err, 0, sizeof err);
            int rc = config_load_string(d.text, names[f], &c, err, sizeof err);
            if (rc == 0) {
                loaded++;
                char cerr[1024] = "";
                if (config_check(&c, names[f], cerr, sizeof cerr) != 0) {
                    fprintf(stderr, "%s, mutation %d: loaded but config_check says %s\n", names[f], it, cerr);
                    failed = 1;
                    break;
                }
                char warn[2048];
                if (config_warnings(&c, warn, sizeof warn) < 0) {
                    fprintf(stderr, "%s, mutation %d: config_warnings < 0\n", names[f], it);
                    failed = 1;
                    break;
                }
                /* What loads must show and load again as the same config
                 * (the CURVE secret key is never shown: skip those). */
                if (c.link.curve_secret_key[0] == '\0') {
                    char *out = config_text(&c);
                    config back;
                    char berr[1024] = "";
                    int brc = out ? config_load_string(out, "shown.yaml", &back, berr, sizeof berr) : -1;
                    bool same = brc == 0 && memcmp(&c, &back, offsetof(config, origin)) == 0;
                    if (!same)
                        fprintf(stderr, "%s, mutation %d: shown config %s (%s); input:\n%s\nshown:\n%s\n",
                                names[f], it, brc ? "refused" : "differs", berr, d.text, out ? out : "");
                    free(out);
                    if (!same) {
                        failed = 1;
                        break;
                    }
                }
                continue;
            }
            refused++;
            size_t nl = strlen(names[f]);
            bool known = rc >= CONFIG_ERR_RANGE && rc <= CONFIG_ERR_SYNTAX;
            bool located = strncmp(err, names[f], nl) == 0 && err[nl] == ':' && strlen(err) > nl + 2;
            if (!known || !located || memchr(err, '\0', sizeof err) == NULL) {
                fprintf(stderr, "%s, mutation %d: rc %d (%s), message \"%s\"; input:\n%s\n", names[f], it, rc,
                        config_strerror(rc), err, d.text);
                failed = 1;
                break;
            }
            by_code[-rc]++;
        }
        free(orig);
    }
    for (int f = 0; f < n_files; f++)
        free(names[f]);
    CHECK(!failed);
    fprintf(stderr, "%d loaded, %d refused (syntax %d, key %d, type %d, range %d)\n", loaded, refused,
            by_code[2], by_code[3], by_code[4], by_code[5]);
    /* The mutations reach both outcomes and every kind of refusal. */
    CHECK(loaded > 100);
    for (int k = 2; k <= 5; k++)
        CHECK_MSG(by_code[k] > 10, "code %d seen %d times", -k, by_code[k]);
}
