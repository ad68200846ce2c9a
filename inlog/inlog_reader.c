/* inlog_reader.c: reading an input log back (inlog.h). Every header is
 * checked when the log is opened; records are checked one by one (size and
 * checksum) as they are read. */
#include "inlog_internal.h"
#include "fail.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    uint32_t number;
    char path[INLOG_PATH_MAX], start[INLOG_PATH_MAX];
    uint64_t first_cycle, start_brain_cycle;
    uint32_t header_bytes;
    uint64_t records;    /* whole records in the file when it was opened */
    char backend[32], device[160];
} segment;

struct inlog_reader {
    uint32_t n;
    segment *seg;
    uint32_t sensors, motors;
    size_t record_bytes;
    FILE *f;
    uint32_t current;
    uint64_t index;      /* records read from the current segment */
    size_t cut;          /* the bytes of a record cut off at its end, once the end is read */
    uint8_t *rec;
};

static uint32_t get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* The header's JSON as the writer writes it: one object of "key": value
 * pairs, each value a string without escapes (the writer writes none) or a
 * whole number, then spaces and a newline to the header's end. Reads the
 * keys every segment has, refuses any other shape (a header damaged on
 * disk) and values that contradict the fixed bytes. */
/* Steps *p past c when it is there. */
static bool take(const char **p, const char *end, char c)
{
    if (*p == end || **p != c)
        return false;
    (*p)++;
    return true;
}

static int read_header_json(const char *json, size_t len, segment *g, uint32_t number, char *err,
                            size_t err_len)
{
    bool format = false, version = false, start = false, first = false, robot = false;
    const char *p = json, *end = json + len;
    char want_start[32];
    snprintf(want_start, sizeof want_start, "%06u.start.json", number);
    g->backend[0] = g->device[0] = '\0';
    if (!take(&p, end, '{'))
        goto bad;
    for (;;) {
        char key[32], text[160];
        size_t n = 0;
        if (!take(&p, end, '"'))
            goto bad;
        while (p < end && *p != '"' && n + 1 < sizeof key)
            key[n++] = *p++;
        key[n] = '\0';
        if (p + 3 > end || p[0] != '"' || p[1] != ':' || p[2] != ' ')
            goto bad;
        p += 3;
        bool is_text = take(&p, end, '"');
        uint64_t num = 0;
        n = 0;
        if (is_text) {
            while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20 && n + 1 < sizeof text)
                text[n++] = *p++;
            text[n] = '\0';
            if (!take(&p, end, '"'))
                goto bad;
        } else {
            const char *digits = p;
            while (p < end && *p >= '0' && *p <= '9' && p - digits < 20)
                num = num * 10 + (uint64_t)(*p++ - '0');
            if (p == digits)
                goto bad;
        }
        if (strcmp(key, "format") == 0)
            format = is_text && strcmp(text, "fieldbrain-inlog") == 0;
        else if (strcmp(key, "version") == 0)
            version = !is_text && num == INLOG_VERSION;
        else if (strcmp(key, "start") == 0)
            start = is_text && strcmp(text, want_start) == 0;
        else if (strcmp(key, "first_cycle") == 0)
            first = !is_text && num == g->first_cycle;
        else if (strcmp(key, "robot_id") == 0)
            robot = !is_text && num <= UINT32_MAX;
        else if (strcmp(key, "backend") == 0 && is_text && n < sizeof g->backend)
            memcpy(g->backend, text, n + 1);
        else if (strcmp(key, "device") == 0 && is_text && n < sizeof g->device)
            memcpy(g->device, text, n + 1);
        if (p + 2 <= end && p[0] == ',' && p[1] == ' ') {
            p += 2;
            continue;
        }
        if (!take(&p, end, '}'))
            goto bad;
        break;
    }
    while (p < end && *p == ' ')
        p++;
    if (p + 1 != end || *p != '\n')
        goto bad;
    if (!format || !version || !start || !first || !robot || !g->backend[0])
        return fb_fail(err, err_len, INLOG_ERR_FORMAT,
                       "%s: corrupt header: its JSON %s", g->path,
                       !format ? "does not say format fieldbrain-inlog"
                       : !version ? "names another version"
                       : !start ? "names another start checkpoint than this segment's"
                       : !first ? "names another first cycle than its fixed bytes"
                       : !robot ? "has no robot_id" : "has no backend");
    return INLOG_OK;
bad:
    return fb_fail(err, err_len, INLOG_ERR_FORMAT,
                   "%s: corrupt header: its JSON is damaged near byte %zu", g->path,
                   (size_t)(p - json) + INLOG_PREFIX_BYTES);
}

static int read_header(inlog_reader *r, segment *g, char *err, size_t err_len)
{
    FILE *f = fopen(g->path, "rb");
    if (!f)
        return fb_fail(err, err_len, INLOG_ERR_IO, "%s: cannot open: %s", g->path, strerror(errno));
    uint8_t h[INLOG_HEADER_MAX + 1];
    size_t got = fread(h, 1, INLOG_HEADER_MAX, f);
    struct stat st;
    const uint64_t file_bytes = fstat(fileno(f), &st) == 0 && st.st_size > 0 ? (uint64_t)st.st_size : 0;
    fclose(f);
    if (got < INLOG_PREFIX_BYTES || memcmp(h, INLOG_MAGIC, 8) != 0)
        return fb_fail(err, err_len, INLOG_ERR_FORMAT, "%s: not a fieldbrain input log (no %s header)",
                       g->path, INLOG_MAGIC);
    uint32_t version = get_u32(h + 8);
    if (version != INLOG_VERSION)
        return fb_fail(err, err_len, INLOG_ERR_FORMAT,
                       "%s: input log version %u, this fieldbrain reads version %u", g->path,
                       version, INLOG_VERSION);
    g->header_bytes = get_u32(h + 12);
    uint32_t rb = get_u32(h + 16), s = get_u32(h + 20), m = get_u32(h + 24);
    if (g->header_bytes < INLOG_PREFIX_BYTES || g->header_bytes > got || g->header_bytes % 64 ||
        s == 0 || m == 0 || s > 4096 || m > 4096 || rb != inlog_record_bytes(s, m))
        return fb_fail(err, err_len, INLOG_ERR_FORMAT,
                       "%s: corrupt header (header %u bytes, %u sensors, %u motors, records of %u bytes)",
                       g->path, g->header_bytes, s, m, rb);
    if (r->record_bytes && (s != r->sensors || m != r->motors))
        return fb_fail(err, err_len, INLOG_ERR_FORMAT,
                       "%s: %u sensors and %u motors, but the log's first segment has %u and %u",
                       g->path, s, m, r->sensors, r->motors);
    r->sensors = s;
    r->motors = m;
    r->record_bytes = rb;
    g->first_cycle = get_u64(h + 32);
    g->start_brain_cycle = get_u64(h + 40);
    g->records = file_bytes > g->header_bytes ? (file_bytes - g->header_bytes) / rb : 0;
    return read_header_json((const char *)h + INLOG_PREFIX_BYTES, g->header_bytes - INLOG_PREFIX_BYTES, g,
                            g->number, err, err_len);
}

int inlog_reader_open(const char *dir, inlog_reader **out, char *err, size_t err_len)
{
    *out = NULL;
    inlog_segment_list list;
    if (inlog_list_segments(dir, &list) != 0)
        return fb_fail(err, err_len, INLOG_ERR_IO, "%s: cannot read the directory: %s", dir,
                       strerror(errno));
    if (list.n == 0) {
        inlog_list_free(&list);
        return fb_fail(err, err_len, INLOG_ERR_FORMAT,
                       "%s: no input-log segment in it (NNNNNN.fbin files)", dir);
    }
    inlog_reader *r = calloc(1, sizeof *r);
    int rc = INLOG_ERR_NOMEM;
    if (!r || !(r->seg = calloc(list.n, sizeof *r->seg))) {
        fb_fail(err, err_len, rc, "%s: out of memory", dir);
        goto fail;
    }
    r->n = list.n;
    for (uint32_t i = 0; i < list.n; i++) {
        segment *g = &r->seg[i];
        g->number = list.numbers[i];
        inlog_segment_paths(dir, g->number, g->path, g->start);
        if ((rc = read_header(r, g, err, err_len)))
            goto fail;
    }
    if (!(r->rec = malloc(r->record_bytes))) {
        rc = fb_fail(err, err_len, INLOG_ERR_NOMEM, "%s: out of memory", dir);
        goto fail;
    }
    inlog_list_free(&list);
    *out = r;
    return INLOG_OK;
fail:
    inlog_list_free(&list);
    inlog_reader_close(&r);
    return rc;
}

void inlog_reader_close(inlog_reader **rp)
{
    inlog_reader *r = rp ? *rp : NULL;
    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    free(r->rec);
    free(r->seg);
    free(r);
    *rp = NULL;
}

uint32_t inlog_reader_segments(const inlog_reader *r) { return r->n; }
uint32_t inlog_reader_sensors(const inlog_reader *r) { return r->sensors; }
uint32_t inlog_reader_motors(const inlog_reader *r) { return r->motors; }
const char *inlog_reader_backend(const inlog_reader *r, uint32_t i) { return r->seg[i].backend; }
const char *inlog_reader_device(const inlog_reader *r, uint32_t i) { return r->seg[i].device; }
uint64_t inlog_reader_first_cycle(const inlog_reader *r, uint32_t i) { return r->seg[i].first_cycle; }
const char *inlog_reader_start(const inlog_reader *r, uint32_t i) { return r->seg[i].start; }
size_t inlog_reader_cut_bytes(const inlog_reader *r) { return r->cut; }
const char *inlog_reader_path(const inlog_reader *r, uint32_t i) { return r->seg[i].path; }
uint64_t inlog_reader_records(const inlog_reader *r, uint32_t i) { return r->seg[i].records; }

int inlog_reader_seek(inlog_reader *r, uint32_t i, char *err, size_t err_len)
{
    if (r->f)
        fclose(r->f);
    r->f = NULL;
    if (i >= r->n)
        return fb_fail(err, err_len, INLOG_ERR_PARAM, "no segment %u (the log has %u)", i, r->n);
    segment *g = &r->seg[i];
    r->f = fopen(g->path, "rb");
    if (!r->f || fseek(r->f, g->header_bytes, SEEK_SET) != 0)
        return fb_fail(err, err_len, INLOG_ERR_IO, "%s: cannot read: %s", g->path, strerror(errno));
    r->current = i;
    r->index = 0;
    r->cut = 0;
    return INLOG_OK;
}

int inlog_reader_next(inlog_reader *r, inlog_entry *e, char *err, size_t err_len)
{
    if (!r->f)
        return 0;
    size_t got = fread(r->rec, 1, r->record_bytes, r->f);
    if (got < r->record_bytes) {
        r->cut = got; /* the end, or a record cut off by a kill: replay up to here */
        return 0;
    }
    const segment *g = &r->seg[r->current];
    const uint8_t *p = r->rec;
    if (get_u32(p + 36) != inlog_record_check(p, r->record_bytes))
        return fb_fail(err, err_len, INLOG_ERR_FORMAT,
                       "%s: record %llu (loop cycle %llu) is corrupt: its checksum does not match",
                       g->path, (unsigned long long)r->index, (unsigned long long)get_u64(p));
    /* A segment's records are one per loop cycle, without gaps (a gap
     * starts a new segment): another cycle is a record written wrong. */
    if (get_u64(p) != g->first_cycle + r->index)
        return fb_fail(err, err_len, INLOG_ERR_FORMAT,
                       "%s: record %llu is corrupt: loop cycle %llu where %llu is due (the first "
                       "cycle %llu and one a record)", g->path, (unsigned long long)r->index,
                       (unsigned long long)get_u64(p), (unsigned long long)(g->first_cycle + r->index),
                       (unsigned long long)g->first_cycle);
    r->index++;
    e->cycle = get_u64(p);
    e->brain_cycle = get_u64(p + 8);
    e->answer_seq = get_u64(p + 16);
    e->time_ns = (int64_t)get_u64(p + 24);
    e->flags = get_u32(p + 32);
    const float *v = (const float *)(const void *)(p + INLOG_RECORD_FIXED);
    e->sensors = v;
    e->motors = v + r->sensors;
    memcpy(&e->energy, v + r->sensors + r->motors, 4);
    memcpy(&e->saturated, v + r->sensors + r->motors + 1, 4);
    return 1;
}
