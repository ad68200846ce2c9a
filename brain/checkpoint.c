/* checkpoint.c: saving and restoring a brain.
 *
 * A checkpoint PATH is two files: PATH.json, a small sidecar (parameters,
 * cycle, momentum, spots, and the name, size and FNV-1a checksum of the field
 * file), and the field as NumPy .npy ([X][Y][Z][C] '<f4'). The field files
 * alternate between PATH.a.npy and PATH.b.npy: a save writes the one the
 * sidecar does not name (temp file, fsync, rename), then replaces the sidecar
 * the same way. A crash or a full disk at any moment leaves the previous
 * checkpoint whole, and a loader that trusts only the sidecar's checksum
 * never reads a torn field.
 */
#include "brain_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CKPT_FORMAT "fieldbrain-checkpoint"
#define CKPT_VERSION 1
#define CKPT_PATH_MAX 4096
#define CKPT_SIDECAR_MAX (1u << 22) /* far above any real sidecar */

struct brain_snapshot {
    brain_params p;
    uint64_t cycle;
    uint64_t count;
    float *field;
    float *momentum;
    uint32_t *sensor_spots, *motor_spots;
};

/* ---- small helpers ---- */

/* PATH without a trailing ".json". */
static int ckpt_base(const char *path, char *base, size_t len)
{
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0)
        n -= 5;
    if (n == 0 || n + 16 >= len)
        return -1;
    memcpy(base, path, n);
    base[n] = '\0';
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char tmp[CKPT_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes parts to path via path.tmp, fsync and rename. */
static int write_atomic(const char *path, const void *a, size_t na, const void *b, size_t nb,
                        char *err, size_t err_len)
{
    char tmp[CKPT_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fb_fail(err, err_len, BRAIN_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    if (write_all(fd, a, na) || write_all(fd, b, nb) || fsync(fd)) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return fb_fail(err, err_len, BRAIN_ERR_IO, "%s: write failed: %s", tmp, strerror(e));
    }
    if (close(fd)) {
        int e = errno;
        unlink(tmp);
        return fb_fail(err, err_len, BRAIN_ERR_IO, "%s: close failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return fb_fail(err, err_len, BRAIN_ERR_IO, "%s: rename failed: %s", path, strerror(e));
    }
    fsync_dir_of(path);
    return BRAIN_OK;
}

/* Reads a whole file (at most max bytes) into a NUL-terminated buffer. */
static int read_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t err_len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fb_fail(err, err_len, BRAIN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) || st.st_size < 0 || (uint64_t)st.st_size > max) {
        fclose(f);
        return fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: not a checkpoint file (size)", path);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return fb_fail(err, err_len, BRAIN_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        free(buf);
        return fb_fail(err, err_len, BRAIN_ERR_IO, "%s: short read", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return BRAIN_OK;
}

/* ---- the .npy header ---- */

static size_t npy_header(const brain_params *p, char *h, size_t len)
{
    char dict[256];
    int n = snprintf(dict, sizeof dict,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%u, %u, %u, %u), }",
                     p->size_x, p->size_y, p->size_z, p->channels);
    /* magic(6) version(2) header_len(2) dict padded with spaces and '\n' to 64 */
    size_t total = 10 + (size_t)n + 1;
    total = (total + 63) / 64 * 64;
    if (total > len)
        return 0;
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    uint16_t hl = (uint16_t)(total - 10);
    h[8] = (char)(hl & 0xFF);
    h[9] = (char)(hl >> 8);
    memset(h + 10, ' ', total - 10);
    memcpy(h + 10, dict, (size_t)n);
    h[total - 1] = '\n';
    return total;
}

/* ---- the sidecar ---- */

static void json_params(FILE *f, const brain_params *p)
{
    size_t n;
    const brain_param_info *info = brain_param_table(&n);
    fputs("  \"params\": {\n", f);
    for (size_t i = 0; i < n; i++) {
        const char *v = (const char *)p + info[i].offset;
        fprintf(f, "    \"%s\": ", info[i].key);
        switch (info[i].type) {
        case BRAIN_PARAM_U32: fprintf(f, "%u", *(const uint32_t *)(const void *)v); break;
        case BRAIN_PARAM_U64: fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)(const void *)v); break;
        default: fprintf(f, "%.9g", (double)*(const float *)(const void *)v); break;
        }
        fputs(i + 1 < n ? ",\n" : "\n", f);
    }
    fputs("  },\n", f);
}

static void json_spots(FILE *f, const char *key, const uint32_t *s, uint32_t n, bool last)
{
    fprintf(f, "  \"%s\": [", key);
    for (uint32_t i = 0; i < n; i++)
        fprintf(f, "%s[%u, %u, %u]", i ? ", " : "", s[3 * i], s[3 * i + 1], s[3 * i + 2]);
    fprintf(f, "]%s\n", last ? "" : ",");
}

/* The value after "key": in doc, or NULL. Keys in our sidecar are unique. */
static const char *json_value(const char *doc, const char *key)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *at = strstr(doc, pat);
    if (!at)
        return NULL;
    at += strlen(pat);
    while (*at == ' ' || *at == '\n' || *at == '\t' || *at == '\r')
        at++;
    return at;
}

static bool json_u64(const char *doc, const char *key, uint64_t *out)
{
    const char *v = json_value(doc, key);
    if (!v || *v < '0' || *v > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v)
        return false;
    *out = x;
    return true;
}

static bool json_string(const char *doc, const char *key, char *out, size_t len)
{
    const char *v = json_value(doc, key);
    if (!v || *v != '"')
        return false;
    v++;
    size_t n = 0;
    while (v[n] && v[n] != '"') {
        if (v[n] == '\\' || n + 1 >= len)
            return false;
        n++;
    }
    if (v[n] != '"')
        return false;
    memcpy(out, v, n);
    out[n] = '\0';
    return true;
}

/* Parses "[a, b, ...]" (or nested "[[a, b], ...]") holding at least n
 * numbers into out; the first n are taken. */
static bool json_numbers(const char *doc, const char *key, double *out, size_t n)
{
    const char *v = json_value(doc, key);
    if (!v || *v != '[')
        return false;
    size_t got = 0;
    while (got < n) {
        while (*v == ' ' || *v == '\n' || *v == '\r' || *v == '\t' || *v == ',' || *v == '[' || *v == ']')
            v++;
        char *end;
        double x = strtod(v, &end);
        if (end == v || !isfinite(x))
            return false;
        out[got++] = x;
        v = end;
    }
    return true;
}

static int sidecar_params(const char *doc, const char *where, brain_params *p, char *err, size_t err_len)
{
    char fmt[64];
    uint64_t version;
    if (!json_string(doc, "format", fmt, sizeof fmt) || strcmp(fmt, CKPT_FORMAT) != 0)
        return fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: not a fieldbrain checkpoint sidecar", where);
    if (!json_u64(doc, "version", &version) || version != CKPT_VERSION)
        return fb_fail(err, err_len, BRAIN_ERR_FORMAT,
                          "%s: checkpoint version %llu is not supported (this build reads %d)",
                          where, (unsigned long long)version, CKPT_VERSION);
    size_t n;
    const brain_param_info *info = brain_param_table(&n);
    for (size_t i = 0; i < n; i++) {
        char *dst = (char *)p + info[i].offset;
        const char *v = json_value(doc, info[i].key);
        if (!v)
            return fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: params.%s is missing", where, info[i].key);
        char *end;
        errno = 0;
        if (info[i].type == BRAIN_PARAM_FLOAT) {
            double x = strtod(v, &end);
            if (end == v || !isfinite(x))
                return fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: params.%s is not a number", where, info[i].key);
            *(float *)(void *)dst = (float)x;
        } else {
            unsigned long long x = strtoull(v, &end, 10);
            if (end == v || errno || *v == '-')
                return fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: params.%s is not an integer", where, info[i].key);
            if (info[i].type == BRAIN_PARAM_U32) {
                if (x > 0xFFFFFFFFULL)
                    return fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: params.%s is too large", where, info[i].key);
                *(uint32_t *)(void *)dst = (uint32_t)x;
            } else {
                *(uint64_t *)(void *)dst = x;
            }
        }
    }
    int rc = brain_params_check(p, err, err_len);
    if (rc)
        return fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: stored parameters are invalid", where);
    return BRAIN_OK;
}

/* ---- snapshots and saving ---- */

int brain_snapshot_create(const brain *b, brain_snapshot **out)
{
    *out = NULL;
    const brain_params *p = brain_get_params(b);
    brain_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return BRAIN_ERR_NOMEM;
    s->p = *p;
    s->count = brain_field_count(b);
    s->field = malloc(s->count * sizeof(float));
    s->momentum = malloc(p->channels * sizeof(float));
    s->sensor_spots = malloc(3 * sizeof(uint32_t) * p->sensors);
    s->motor_spots = malloc(3 * sizeof(uint32_t) * p->motors);
    if (!s->field || !s->momentum || !s->sensor_spots || !s->motor_spots) {
        brain_snapshot_destroy(&s);
        return BRAIN_ERR_NOMEM;
    }
    memcpy(s->sensor_spots, brain_sensor_spots(b), 3 * sizeof(uint32_t) * p->sensors);
    memcpy(s->motor_spots, brain_motor_spots(b), 3 * sizeof(uint32_t) * p->motors);
    *out = s;
    return BRAIN_OK;
}

void brain_snapshot_destroy(brain_snapshot **sp)
{
    if (!sp || !*sp)
        return;
    brain_snapshot *s = *sp;
    free(s->motor_spots);
    free(s->sensor_spots);
    free(s->momentum);
    free(s->field);
    free(s);
    *sp = NULL;
}

int brain_snapshot_take(brain *b, brain_snapshot *s)
{
    const brain_params *p = brain_get_params(b);
    if (brain_field_count(b) != s->count || p->channels != s->p.channels ||
        p->sensors != s->p.sensors || p->motors != s->p.motors)
        return BRAIN_ERR_MISMATCH;
    int rc = brain_read_field(b, s->field);
    if (rc == 0)
        rc = brain_read_momentum(b, s->momentum);
    s->cycle = brain_get_cycle(b);
    s->p = *brain_get_params(b); /* as they are now: brain_set_params may have changed them */
    /* b may be another brain of the snapshot's shape (a fleet's brains
     * share one): its seed and spots are b's. */
    memcpy(s->sensor_spots, brain_sensor_spots(b), 3 * sizeof(uint32_t) * s->p.sensors);
    memcpy(s->motor_spots, brain_motor_spots(b), 3 * sizeof(uint32_t) * s->p.motors);
    return rc;
}

uint64_t brain_snapshot_cycle(const brain_snapshot *s) { return s->cycle; }

/* The first non-finite value of n, or n when there is none. */
static uint64_t first_nonfinite(const float *v, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return i;
    return n;
}

/* A state that --resume would refuse is never written: the checkpoint
 * already on disk stays the one to resume from. */
static int check_finite(const brain_snapshot *s, const char *path, char *err, size_t err_len)
{
    const brain_params *p = &s->p;
    uint64_t bad = first_nonfinite(s->momentum, p->channels);
    if (bad < p->channels)
        return fb_fail(err, err_len, BRAIN_ERR_NONFINITE,
                       "%s: not written: momentum[%llu] is %g at brain cycle %llu (the previous "
                       "checkpoint, if any, is kept)", path, (unsigned long long)bad,
                       (double)s->momentum[bad], (unsigned long long)s->cycle);
    bad = first_nonfinite(s->field, s->count);
    if (bad < s->count)
        return fb_fail(err, err_len, BRAIN_ERR_NONFINITE,
                       "%s: not written: field element %llu is %g at brain cycle %llu (the "
                       "previous checkpoint, if any, is kept)", path, (unsigned long long)bad,
                       (double)s->field[bad], (unsigned long long)s->cycle);
    return BRAIN_OK;
}

/* The field file the sidecar `json` does not name: 'b' after an 'a', else 'a'. */
static char next_generation(const char *json)
{
    char gen = 'a', *old = NULL, current[CKPT_PATH_MAX];
    size_t old_len;
    if (read_file(json, CKPT_SIDECAR_MAX, &old, &old_len, NULL, 0) == 0) {
        if (json_string(old, "field_file", current, sizeof current)) {
            size_t n = strlen(current);
            if (n >= 6 && strcmp(current + n - 6, ".a.npy") == 0)
                gen = 'b';
        }
        free(old);
    }
    return gen;
}

/* The sidecar's text for s, whose field went to npy (hlen + data bytes,
 * checksum sum), in memory (*doc, freed by the caller). */
static int sidecar_text(const brain_snapshot *s, const char *npy, size_t field_bytes, uint64_t sum,
                        char **doc, size_t *doc_len, char *err, size_t err_len)
{
    const brain_params *p = &s->p;
    *doc = NULL;
    FILE *f = open_memstream(doc, doc_len);
    if (!f)
        return fb_fail(err, err_len, BRAIN_ERR_NOMEM, "out of memory");
    char npy_copy[CKPT_PATH_MAX];
    snprintf(npy_copy, sizeof npy_copy, "%s", npy);
    fprintf(f, "{\n  \"format\": \"%s\",\n  \"version\": %d,\n", CKPT_FORMAT, CKPT_VERSION);
    fprintf(f, "  \"field_file\": \"%s\",\n", basename(npy_copy));
    fprintf(f, "  \"field_bytes\": %zu,\n  \"field_fnv1a64\": %llu,\n", field_bytes,
            (unsigned long long)sum);
    fprintf(f, "  \"shape\": [%u, %u, %u, %u],\n", p->size_x, p->size_y, p->size_z, p->channels);
    fprintf(f, "  \"cycle\": %llu,\n", (unsigned long long)s->cycle);
    json_params(f, p);
    fputs("  \"momentum\": [", f);
    for (uint32_t c = 0; c < p->channels; c++)
        fprintf(f, "%s%.9g", c ? ", " : "", (double)s->momentum[c]);
    fputs("],\n", f);
    json_spots(f, "sensor_spots", s->sensor_spots, p->sensors, false);
    json_spots(f, "motor_spots", s->motor_spots, p->motors, true);
    fputs("}\n", f);
    if (fclose(f) != 0) {
        free(*doc);
        *doc = NULL;
        return fb_fail(err, err_len, BRAIN_ERR_NOMEM, "out of memory");
    }
    return BRAIN_OK;
}

int brain_snapshot_save(const brain_snapshot *s, const char *path, char *err, size_t err_len)
{
    char base[CKPT_PATH_MAX - 32], json[CKPT_PATH_MAX], npy[CKPT_PATH_MAX];
    if (ckpt_base(path, base, sizeof base))
        return fb_fail(err, err_len, BRAIN_ERR_IO, "checkpoint path '%s' is empty or too long", path);
    int rc = check_finite(s, path, err, err_len);
    if (rc)
        return rc;
    snprintf(json, sizeof json, "%s.json", base);
    /* write the field file the current sidecar does not name */
    snprintf(npy, sizeof npy, "%s.%c.npy", base, next_generation(json));

    char header[256];
    size_t hlen = npy_header(&s->p, header, sizeof header);
    size_t data_bytes = s->count * sizeof(float);
    uint64_t sum = brain__fnv1a64(brain__fnv1a64(BRAIN_FNV_OFFSET, header, hlen), s->field, data_bytes);
    if ((rc = write_atomic(npy, header, hlen, s->field, data_bytes, err, err_len)))
        return rc;
    char *doc;
    size_t doc_len;
    if ((rc = sidecar_text(s, npy, hlen + data_bytes, sum, &doc, &doc_len, err, err_len)))
        return rc;
    rc = write_atomic(json, doc, doc_len, NULL, 0, err, err_len);
    free(doc);
    return rc;
}

/* ---- saving through descriptors held from the start ---- */

/* The files of one checkpoint path, open for as long as a program saves to
 * it, so that a save needs no new file descriptor (idle connections may have
 * taken them all): both field files, rewritten in place (only ever the one
 * the sidecar does not name), the sidecar's spare PATH.json.next (written,
 * then renamed over PATH.json), the inode that was PATH.json before (kept by
 * a second name, PATH.json.old, through the rename, then renamed to be the
 * next spare), and the directory for fsync. link and rename need no
 * descriptor; PATH.json is a whole sidecar at every moment. */
struct brain_ckpt_files {
    char json[CKPT_PATH_MAX], next[CKPT_PATH_MAX + 8], old[CKPT_PATH_MAX + 8];
    char npy[2][CKPT_PATH_MAX];
    int fd_npy[2];
    int gen;              /* the field file the next save writes: 0 = .a.npy, 1 = .b.npy */
    int fd_spare;         /* PATH.json.next */
    int fd_other;         /* PATH.json, or PATH.json.old while there is no PATH.json yet */
    bool other_is_old;
    int fd_dir;
};

void brain_ckpt_files_close(brain_ckpt_files **fp)
{
    brain_ckpt_files *f = fp ? *fp : NULL;
    if (!f)
        return;
    int *fds[] = {&f->fd_npy[0], &f->fd_npy[1], &f->fd_spare, &f->fd_other, &f->fd_dir};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (*fds[i] >= 0)
            close(*fds[i]);
    free(f);
    *fp = NULL;
}

int brain_ckpt_files_open(const char *path, brain_ckpt_files **out, char *err, size_t err_len)
{
    *out = NULL;
    char base[CKPT_PATH_MAX - 32];
    if (ckpt_base(path, base, sizeof base))
        return fb_fail(err, err_len, BRAIN_ERR_IO, "checkpoint path '%s' is empty or too long", path);
    brain_ckpt_files *f = calloc(1, sizeof *f);
    if (!f)
        return fb_fail(err, err_len, BRAIN_ERR_NOMEM, "out of memory");
    f->fd_npy[0] = f->fd_npy[1] = f->fd_spare = f->fd_other = f->fd_dir = -1;
    snprintf(f->json, sizeof f->json, "%s.json", base);
    snprintf(f->next, sizeof f->next, "%s.json.next", base);
    snprintf(f->old, sizeof f->old, "%s.json.old", base);
    snprintf(f->npy[0], sizeof f->npy[0], "%s.a.npy", base);
    snprintf(f->npy[1], sizeof f->npy[1], "%s.b.npy", base);
    f->gen = next_generation(f->json) == 'b';
    const int rw = O_RDWR | O_CREAT | O_CLOEXEC;
    const char *bad = NULL;
    for (int g = 0; g < 2 && !bad; g++)
        if ((f->fd_npy[g] = open(f->npy[g], rw, 0644)) < 0)
            bad = f->npy[g];
    if (!bad && (f->fd_spare = open(f->next, rw, 0644)) < 0)
        bad = f->next;
    if (!bad) {
        f->fd_other = open(f->json, O_RDWR | O_CLOEXEC);
        if (f->fd_other >= 0) {
            unlink(f->old); /* a leftover of a save cut off between its renames */
        } else {
            f->other_is_old = true;
            if ((f->fd_other = open(f->old, rw, 0644)) < 0)
                bad = f->old;
        }
    }
    char dir[CKPT_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", f->json);
    if (!bad && (f->fd_dir = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        bad = "its directory";
    if (bad) {
        int e = errno;
        char what[CKPT_PATH_MAX + 16];
        snprintf(what, sizeof what, "%s", bad); /* bad may point into f */
        brain_ckpt_files_close(&f);
        return fb_fail(err, err_len, BRAIN_ERR_IO, "%s: cannot open %s: %s", path, what, strerror(e));
    }
    *out = f;
    return BRAIN_OK;
}

/* data[0..n) and more[0..m) at the start of fd, the rest cut, on disk. */
static int rewrite(int fd, const void *data, size_t n, const void *more, size_t m)
{
    if (lseek(fd, 0, SEEK_SET) != 0 || write_all(fd, data, n) || write_all(fd, more, m) ||
        ftruncate(fd, (off_t)(n + m)) != 0 || fsync(fd) != 0)
        return -1;
    return 0;
}

/* Whether fd is still the file called name. */
static bool same_file(int fd, const char *name)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(name, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int brain_snapshot_save_held(const brain_snapshot *s, brain_ckpt_files *f, char *err, size_t err_len)
{
    int rc = check_finite(s, f->json, err, err_len);
    if (rc)
        return rc;
    /* Another writer of the same path (brain_snapshot_save: a save asked for
     * over the control socket) replaces files by rename: then open them
     * again, which needs descriptors once. */
    if (!same_file(f->fd_npy[0], f->npy[0]) || !same_file(f->fd_npy[1], f->npy[1]) ||
        !same_file(f->fd_spare, f->next) || !same_file(f->fd_other, f->other_is_old ? f->old : f->json)) {
        char path[CKPT_PATH_MAX];
        snprintf(path, sizeof path, "%s", f->json);
        brain_ckpt_files *again = NULL;
        if ((rc = brain_ckpt_files_open(path, &again, err, err_len)))
            return rc;
        brain_ckpt_files tmp = *f;
        *f = *again;
        *again = tmp;
        brain_ckpt_files_close(&again);
    }
    char header[256];
    size_t hlen = npy_header(&s->p, header, sizeof header);
    size_t data_bytes = s->count * sizeof(float);
    uint64_t sum = brain__fnv1a64(brain__fnv1a64(BRAIN_FNV_OFFSET, header, hlen), s->field, data_bytes);
    const char *npy = f->npy[f->gen];
    if (rewrite(f->fd_npy[f->gen], header, hlen, s->field, data_bytes) != 0)
        return fb_fail(err, err_len, BRAIN_ERR_IO, "%s: write failed: %s", npy, strerror(errno));
    char *doc;
    size_t doc_len;
    if ((rc = sidecar_text(s, npy, hlen + data_bytes, sum, &doc, &doc_len, err, err_len)))
        return rc;
    int w = rewrite(f->fd_spare, doc, doc_len, NULL, 0);
    free(doc);
    if (w != 0)
        return fb_fail(err, err_len, BRAIN_ERR_IO, "%s: write failed: %s", f->next, strerror(errno));
    /* The old sidecar keeps a name (.old) through the rename, then becomes
     * the next spare. */
    if (!f->other_is_old && link(f->json, f->old) != 0)
        return fb_fail(err, err_len, BRAIN_ERR_IO, "%s: cannot link %s: %s", f->json, f->old, strerror(errno));
    if (rename(f->next, f->json) != 0)
        return fb_fail(err, err_len, BRAIN_ERR_IO, "%s: rename failed: %s", f->json, strerror(errno));
    if (rename(f->old, f->next) != 0)
        return fb_fail(err, err_len, BRAIN_ERR_IO, "%s: rename failed: %s", f->next, strerror(errno));
    fsync(f->fd_dir);
    int t = f->fd_spare;
    f->fd_spare = f->fd_other;
    f->fd_other = t;
    f->other_is_old = false;
    f->gen ^= 1;
    return BRAIN_OK;
}

int brain_save(brain *b, const char *path, char *err, size_t err_len)
{
    brain_snapshot *s;
    if (brain_snapshot_create(b, &s))
        return fb_fail(err, err_len, BRAIN_ERR_NOMEM, "out of memory for a checkpoint of %llu floats",
                          (unsigned long long)brain_field_count(b));
    int rc = brain_snapshot_take(b, s);
    if (rc)
        fb_fail(err, err_len, rc, "reading the field back failed: %s", brain_strerror(rc));
    else
        rc = brain_snapshot_save(s, path, err, err_len);
    brain_snapshot_destroy(&s);
    return rc;
}

/* ---- loading ---- */

static int sidecar_read(const char *path, char *json, size_t json_len, char **doc, char *err, size_t err_len)
{
    char base[CKPT_PATH_MAX - 32];
    if (ckpt_base(path, base, sizeof base) || json_len < CKPT_PATH_MAX)
        return fb_fail(err, err_len, BRAIN_ERR_IO, "checkpoint path '%s' is empty or too long", path);
    memcpy(json, base, strlen(base));
    memcpy(json + strlen(base), ".json", 6);
    size_t len;
    return read_file(json, CKPT_SIDECAR_MAX, doc, &len, err, err_len);
}

int brain_checkpoint_params(const char *path, brain_params *p, char *err, size_t err_len)
{
    char json[CKPT_PATH_MAX], *doc;
    int rc = sidecar_read(path, json, sizeof json, &doc, err, err_len);
    if (rc)
        return rc;
    brain_params q = *p;
    rc = sidecar_params(doc, json, &q, err, err_len);
    free(doc);
    q.threads = p->threads; /* this machine's, like the backend and device */
    if (rc == 0)
        *p = q;
    return rc;
}

int brain_load(brain *b, const char *path, char *err, size_t err_len)
{
    const brain_params *p = brain_get_params(b);
    char json[CKPT_PATH_MAX], *doc = NULL, *npy_data = NULL;
    double *numbers = NULL;
    float *momentum = NULL;
    int rc = sidecar_read(path, json, sizeof json, &doc, err, err_len);
    if (rc)
        return rc;

    brain_params q = *p;
    rc = sidecar_params(doc, json, &q, err, err_len);
    if (rc)
        goto out;
    if (q.size_x != p->size_x || q.size_y != p->size_y || q.size_z != p->size_z ||
        q.channels != p->channels || q.sensors != p->sensors || q.motors != p->motors ||
        q.seed != p->seed) {
        rc = fb_fail(err, err_len, BRAIN_ERR_MISMATCH,
                        "%s: checkpoint is for %ux%ux%u x %u, %u sensors, %u motors, seed %llu; "
                        "this brain is %ux%ux%u x %u, %u sensors, %u motors, seed %llu",
                        json, q.size_x, q.size_y, q.size_z, q.channels, q.sensors, q.motors,
                        (unsigned long long)q.seed, p->size_x, p->size_y, p->size_z, p->channels,
                        p->sensors, p->motors, (unsigned long long)p->seed);
        goto out;
    }

    uint64_t cycle, field_bytes, sum;
    char field_file[256];
    if (!json_u64(doc, "cycle", &cycle) || !json_u64(doc, "field_bytes", &field_bytes) ||
        !json_u64(doc, "field_fnv1a64", &sum) ||
        !json_string(doc, "field_file", field_file, sizeof field_file) ||
        strchr(field_file, '/') != NULL) {
        rc = fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: sidecar is incomplete or corrupt", json);
        goto out;
    }

    /* momentum and spots */
    size_t n_numbers = p->channels > 3 * (size_t)(p->sensors > p->motors ? p->sensors : p->motors)
                           ? p->channels
                           : 3 * (size_t)(p->sensors > p->motors ? p->sensors : p->motors);
    numbers = malloc(n_numbers * sizeof(double));
    momentum = malloc(p->channels * sizeof(float));
    if (!numbers || !momentum) {
        rc = fb_fail(err, err_len, BRAIN_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (!json_numbers(doc, "momentum", numbers, p->channels)) {
        rc = fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: momentum is missing or not %u numbers", json, p->channels);
        goto out;
    }
    for (uint32_t c = 0; c < p->channels; c++)
        momentum[c] = (float)numbers[c];
    const struct { const char *key; uint32_t n; const uint32_t *have; } spots[2] = {
        {"sensor_spots", p->sensors, brain_sensor_spots(b)},
        {"motor_spots", p->motors, brain_motor_spots(b)},
    };
    for (int k = 0; k < 2; k++) {
        if (!json_numbers(doc, spots[k].key, numbers, 3 * (size_t)spots[k].n)) {
            rc = fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: %s is missing or malformed", json, spots[k].key);
            goto out;
        }
        for (uint32_t i = 0; i < 3 * spots[k].n; i++)
            if (numbers[i] != (double)spots[k].have[i]) {
                rc = fb_fail(err, err_len, BRAIN_ERR_MISMATCH,
                                "%s: %s differ from the ones seed %llu gives", json, spots[k].key,
                                (unsigned long long)p->seed);
                goto out;
            }
    }

    /* the field: whole, the right size, the right checksum, the right header */
    char npy[2 * CKPT_PATH_MAX], dir[CKPT_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", json);
    snprintf(npy, sizeof npy, "%s/%s", dirname(dir), field_file);
    size_t npy_len;
    rc = read_file(npy, field_bytes, &npy_data, &npy_len, err, err_len);
    if (rc == BRAIN_ERR_FORMAT)
        rc = fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: field file is larger than the sidecar says (%llu bytes)",
                        npy, (unsigned long long)field_bytes);
    if (rc)
        goto out;
    if (npy_len != field_bytes) {
        rc = fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: truncated: %zu bytes, the sidecar says %llu",
                        npy, npy_len, (unsigned long long)field_bytes);
        goto out;
    }
    if (brain__fnv1a64(BRAIN_FNV_OFFSET, npy_data, npy_len) != sum) {
        rc = fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: corrupt: checksum does not match the sidecar", npy);
        goto out;
    }
    char header[256];
    size_t hlen = npy_header(p, header, sizeof header);
    uint64_t count = brain_field_count(b);
    if (npy_len != hlen + count * sizeof(float) || memcmp(npy_data, header, hlen) != 0) {
        rc = fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: not a %ux%ux%ux%u float32 .npy field", npy,
                        p->size_x, p->size_y, p->size_z, p->channels);
        goto out;
    }
    /* the data sits at a 64-byte offset, so it is aligned for floats */
    const float *field = (const float *)(const void *)(npy_data + hlen);
    for (uint64_t i = 0; i < count; i++)
        if (!isfinite(field[i])) {
            rc = fb_fail(err, err_len, BRAIN_ERR_FORMAT, "%s: element %llu is not finite", npy,
                            (unsigned long long)i);
            goto out;
        }
    rc = brain_restore_state(b, cycle, momentum, field);
    if (rc)
        fb_fail(err, err_len, rc, "restoring the state failed: %s", brain_strerror(rc));
out:
    free(npy_data);
    free(momentum);
    free(numbers);
    free(doc);
    return rc;
}
