/* inlog_format.c: the bytes of the input log (inlog/FORMAT.md): segment
 * names, the header, records and their checksums, the segment list. */
#include "inlog_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the log is little-endian and written with memcpy");

void inlog_segment_paths(const char *dir, uint32_t number, char path[INLOG_PATH_MAX],
                         char start[INLOG_PATH_MAX])
{
    snprintf(path, INLOG_PATH_MAX, "%s/%06u.fbin", dir, number);
    snprintf(start, INLOG_PATH_MAX, "%s/%06u.start", dir, number);
}

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* A JSON string value without the characters that would need escapes. */
static void json_safe(char *dst, size_t len, const char *src)
{
    size_t j = 0;
    for (size_t i = 0; src[i] && j + 1 < len; i++)
        dst[j++] = (src[i] == '"' || src[i] == '\\' || (unsigned char)src[i] < 0x20) ? '_' : src[i];
    dst[j] = '\0';
}

size_t inlog_format_header(uint8_t *buf, size_t cap, uint32_t sensors, uint32_t motors,
                           uint64_t first_cycle, uint64_t start_brain_cycle, uint32_t number,
                           const inlog_options *o)
{
    memset(buf, 0, cap);
    memcpy(buf, INLOG_MAGIC, 8);
    put_u32(buf + 8, INLOG_VERSION);
    put_u32(buf + 16, (uint32_t)inlog_record_bytes(sensors, motors));
    put_u32(buf + 20, sensors);
    put_u32(buf + 24, motors);
    put_u64(buf + 32, first_cycle);
    put_u64(buf + 40, start_brain_cycle);
    char backend[32], device[160];
    json_safe(backend, sizeof backend, o->backend);
    json_safe(device, sizeof device, o->device);
    char *json = (char *)buf + INLOG_PREFIX_BYTES;
    size_t room = cap - INLOG_PREFIX_BYTES;
    int n = snprintf(json, room,
                     "{\"format\": \"fieldbrain-inlog\", \"version\": %u, \"start\": \"%06u.start.json\", "
                     "\"first_cycle\": %llu, \"robot_id\": %u, \"backend\": \"%s\", \"device\": \"%s\"}",
                     INLOG_VERSION, number, (unsigned long long)first_cycle, o->robot_id, backend, device);
    size_t len = INLOG_PREFIX_BYTES + (size_t)n;
    /* Pad with spaces to a multiple of 64, a newline last. */
    size_t total = (len + 1 + 63) / 64 * 64;
    memset(buf + len, ' ', total - len - 1);
    buf[total - 1] = '\n';
    put_u32(buf + 12, (uint32_t)total);
    return total;
}

void inlog_fill_record(uint8_t *rec, uint32_t sensors, uint32_t motors, const inlog_cycle *c)
{
    put_u64(rec + 0, c->cycle);
    put_u64(rec + 8, c->brain_cycle);
    put_u64(rec + 16, c->answer_seq);
    put_u64(rec + 24, (uint64_t)c->time_ns);
    put_u32(rec + 32, c->flags);
    put_u32(rec + 36, 0);
    put_u64(rec + 40, 0);
    uint8_t *v = rec + INLOG_RECORD_FIXED;
    memcpy(v, c->sensors, 4u * sensors);
    memcpy(v + 4u * sensors, c->motors, 4u * motors);
    memcpy(v + 4u * (sensors + motors), &c->energy, 4);
    memcpy(v + 4u * (sensors + motors) + 4, &c->saturated, 4);
}

uint32_t inlog_record_check(const uint8_t *rec, size_t record_bytes)
{
    /* FNV-1a over the record with its check field read as zero. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < record_bytes; i++) {
        uint8_t b = (i >= 36 && i < 40) ? 0 : rec[i];
        h = (h ^ b) * 16777619u;
    }
    return h;
}

void inlog_seal_record(uint8_t *rec, size_t record_bytes)
{
    put_u32(rec + 36, inlog_record_check(rec, record_bytes));
}

static uint64_t file_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static uint64_t segment_bytes(const char *dir, uint32_t number)
{
    char path[INLOG_PATH_MAX], start[INLOG_PATH_MAX], f[INLOG_PATH_MAX + 16];
    inlog_segment_paths(dir, number, path, start);
    uint64_t total = file_bytes(path);
    static const char *const tails[] = {".json", ".a.npy", ".b.npy"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "%s%s", start, tails[i]);
        total += file_bytes(f);
    }
    return total;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int inlog_list_segments(const char *dir, inlog_segment_list *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    out->numbers = malloc(INLOG_MAX_SEGMENTS * sizeof *out->numbers);
    out->bytes = malloc(INLOG_MAX_SEGMENTS * sizeof *out->bytes);
    if (!out->numbers || !out->bytes) {
        closedir(d);
        inlog_list_free(out);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) && out->n < INLOG_MAX_SEGMENTS) {
        const char *s = e->d_name;
        bool digits = strlen(s) == 11 && strcmp(s + 6, ".fbin") == 0;
        for (int i = 0; digits && i < 6; i++)
            digits = s[i] >= '0' && s[i] <= '9';
        if (digits)
            out->numbers[out->n++] = (uint32_t)strtoul(s, NULL, 10);
    }
    closedir(d);
    qsort(out->numbers, out->n, sizeof *out->numbers, cmp_u32);
    for (uint32_t i = 0; i < out->n; i++)
        out->bytes[i] = segment_bytes(dir, out->numbers[i]);
    return 0;
}

void inlog_list_free(inlog_segment_list *l)
{
    free(l->numbers);
    free(l->bytes);
    memset(l, 0, sizeof *l);
}

void inlog_remove_segment(const char *dir, uint32_t number)
{
    char path[INLOG_PATH_MAX], start[INLOG_PATH_MAX], f[INLOG_PATH_MAX + 16];
    inlog_segment_paths(dir, number, path, start);
    /* The segment first: a start checkpoint alone is never read. */
    unlink(path);
    static const char *const tails[] = {".json", ".a.npy", ".b.npy"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "%s%s", start, tails[i]);
        unlink(f);
    }
}
