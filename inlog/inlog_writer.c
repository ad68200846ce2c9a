/* inlog_writer.c: the input log's writer (inlog.h). The loop's thread fills
 * slots of a single-producer single-consumer ring; the writer thread turns
 * them into segment files and start checkpoints and keeps the directory in
 * its budget. The two share only the ring indices, the snapshot's state and
 * a roll request, all atomics.
 */
#include "inlog.h"
#include "inlog_budget.h"
#include "inlog_internal.h"
#include "fail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WRITER_PERIOD_NS (20 * 1000000L)
#define OUT_BUF_BYTES (256u * 1024u)

enum { SLOT_RECORD = 0, SLOT_SEGMENT = 1 };
enum { SNAP_FREE = 0, SNAP_TAKEN = 1 };

struct inlog_writer {
    inlog_options o;
    uint32_t sensors, motors;
    size_t record_bytes;
    uint64_t seg_cap;            /* record bytes per segment */

    /* the ring: loop -> writer */
    uint32_t n;
    uint8_t *slots;              /* n * record_bytes */
    uint8_t *kinds;              /* n */
    uint64_t *seg_first;         /* n: a SEGMENT slot's first cycle */
    atomic_uint head, tail;

    /* loop side */
    bool gap;                    /* a record was dropped: no appending until a new segment */
    bool open;                   /* a segment has been started */

    brain_snapshot *snap;
    atomic_int snap_state;
    atomic_bool roll;            /* writer -> loop: the segment is full */

    /* writer side */
    int fd;                      /* current segment; -1 none */
    uint64_t seg_bytes;
    uint32_t seg_number;
    uint8_t *out;
    size_t out_len;

    pthread_t thread;
    bool running;
    atomic_bool stop;
    _Atomic uint64_t records, dropped, segments, deleted, write_failed;
};

const char *inlog_strerror(int err)
{
    switch (err) {
    case INLOG_OK: return "no error";
    case INLOG_ERR_PARAM: return "bad input-log setting";
    case INLOG_ERR_NOMEM: return "out of memory";
    case INLOG_ERR_IO: return "input-log file error";
    case INLOG_ERR_FORMAT: return "not a readable input log";
    case INLOG_ERR_THREAD: return "could not start the input-log thread";
    default: return "unknown input-log error";
    }
}

/* ---- the writer thread ---- */

static void out_flush(inlog_writer *w)
{
    size_t done = 0;
    while (w->fd >= 0 && done < w->out_len) {
        ssize_t n = write(w->fd, w->out + done, w->out_len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            atomic_fetch_add(&w->write_failed, (w->out_len - done) / w->record_bytes);
            break;
        }
        done += (size_t)n;
    }
    w->out_len = 0;
}

static void close_segment(inlog_writer *w)
{
    out_flush(w);
    if (w->fd >= 0) {
        fsync(w->fd);
        close(w->fd);
    }
    w->fd = -1;
}

/* Deletes the oldest segments (never the one being written) while the
 * directory's segment files exceed the budget. */
static void prune(inlog_writer *w)
{
    for (;;) {
        inlog_segment_list list;
        if (inlog_list_segments(w->o.dir, &list) != 0 || list.n < 2) {
            inlog_list_free(&list);
            return;
        }
        uint64_t total = 0;
        for (uint32_t i = 0; i < list.n; i++)
            total += list.bytes[i];
        bool over = total > w->o.max_bytes && list.numbers[0] != w->seg_number;
        if (over) {
            inlog_remove_segment(w->o.dir, list.numbers[0]);
            atomic_fetch_add(&w->deleted, 1);
        }
        inlog_list_free(&list);
        if (!over)
            return;
    }
}

static void start_segment(inlog_writer *w, uint64_t first_cycle)
{
    close_segment(w);
    uint32_t number = w->seg_number + 1;
    char path[INLOG_PATH_MAX], start[INLOG_PATH_MAX], err[512];
    inlog_segment_paths(w->o.dir, number, path, start);
    /* The checkpoint first: a segment file without its start is useless. */
    int rc = brain_snapshot_save(w->snap, start, err, sizeof err);
    uint64_t start_cycle = brain_snapshot_cycle(w->snap);
    atomic_store_explicit(&w->snap_state, SNAP_FREE, memory_order_release);
    if (rc < 0) {
        atomic_store(&w->roll, true); /* try again with the next snapshot */
        return;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        atomic_store(&w->roll, true);
        return;
    }
    uint8_t header[INLOG_HEADER_MAX];
    size_t hlen = inlog_format_header(header, sizeof header, w->sensors, w->motors, first_cycle,
                                      start_cycle, number, &w->o);
    w->fd = fd;
    w->seg_number = number;
    w->seg_bytes = 0;
    memcpy(w->out, header, hlen);
    w->out_len = hlen;
    out_flush(w);
    atomic_fetch_add(&w->segments, 1);
    prune(w);
}

static void drain(inlog_writer *w)
{
    unsigned tail = atomic_load_explicit(&w->tail, memory_order_relaxed);
    unsigned head = atomic_load_explicit(&w->head, memory_order_acquire);
    for (; tail != head; tail++) {
        uint32_t i = tail % w->n;
        if (w->kinds[i] == SLOT_SEGMENT) {
            start_segment(w, w->seg_first[i]);
        } else if (w->fd >= 0) {
            uint8_t *rec = w->slots + (size_t)i * w->record_bytes;
            inlog_seal_record(rec, w->record_bytes);
            if (w->out_len + w->record_bytes > OUT_BUF_BYTES)
                out_flush(w);
            memcpy(w->out + w->out_len, rec, w->record_bytes);
            w->out_len += w->record_bytes;
            w->seg_bytes += w->record_bytes;
            atomic_fetch_add(&w->records, 1);
            if (w->seg_bytes >= w->seg_cap)
                atomic_store(&w->roll, true);
        } else {
            atomic_fetch_add(&w->write_failed, 1);
        }
        atomic_store_explicit(&w->tail, tail + 1, memory_order_release);
    }
    out_flush(w);
}

static void *writer_main(void *arg)
{
    inlog_writer *w = arg;
    for (;;) {
        bool stop = atomic_load(&w->stop);
        drain(w);
        if (stop)
            break;
        struct timespec ts = {0, WRITER_PERIOD_NS};
        nanosleep(&ts, NULL);
    }
    close_segment(w);
    return NULL;
}

/* ---- the loop's side ---- */

static bool ring_room(const inlog_writer *w, unsigned need)
{
    unsigned head = atomic_load_explicit(&w->head, memory_order_relaxed);
    unsigned tail = atomic_load_explicit(&w->tail, memory_order_acquire);
    return w->n - (head - tail) >= need;
}

static void ring_commit(inlog_writer *w)
{
    unsigned head = atomic_load_explicit(&w->head, memory_order_relaxed);
    atomic_store_explicit(&w->head, head + 1, memory_order_release);
}

static uint32_t ring_slot(const inlog_writer *w)
{
    return atomic_load_explicit(&w->head, memory_order_relaxed) % w->n;
}

/* A new segment from the brain's state now (before cycle `next`), when the
 * snapshot is free and the ring has room for the marker. */
static bool try_roll(inlog_writer *w, brain *b, uint64_t next)
{
    if (atomic_load_explicit(&w->snap_state, memory_order_acquire) != SNAP_FREE || !ring_room(w, 1))
        return false;
    if (brain_snapshot_take(b, w->snap) != 0)
        return false;
    atomic_store_explicit(&w->snap_state, SNAP_TAKEN, memory_order_release);
    uint32_t i = ring_slot(w);
    w->kinds[i] = SLOT_SEGMENT;
    w->seg_first[i] = next;
    ring_commit(w);
    atomic_store(&w->roll, false);
    w->gap = false;
    w->open = true;
    return true;
}

void inlog_writer_push(inlog_writer *w, brain *b, const inlog_cycle *c)
{
    if (!w->open) {
        /* The first segment starts from the state before this cycle, which
         * is gone: it starts after it instead. */
        atomic_fetch_add(&w->dropped, 1);
        try_roll(w, b, c->cycle + 1);
        return;
    }
    if (!w->gap && ring_room(w, 1)) {
        uint32_t i = ring_slot(w);
        w->kinds[i] = SLOT_RECORD;
        inlog_fill_record(w->slots + (size_t)i * w->record_bytes, w->sensors, w->motors, c);
        ring_commit(w);
    } else {
        atomic_fetch_add(&w->dropped, 1);
        w->gap = true;
    }
    if (w->gap || atomic_load_explicit(&w->roll, memory_order_relaxed))
        try_roll(w, b, c->cycle + 1);
}

void inlog_writer_roll(inlog_writer *w, brain *b, uint64_t next_cycle)
{
    /* No new segment now: what follows must not go into the old one. */
    if (!try_roll(w, b, next_cycle))
        w->gap = true;
}

/* For the program: the first segment from the brain as it is before the
 * loop's first cycle. */
int inlog_writer_begin(inlog_writer *w, brain *b, uint64_t next_cycle)
{
    try_roll(w, b, next_cycle);
    return w->open ? INLOG_OK : INLOG_ERR_IO;
}

/* ---- create / destroy ---- */

static int make_dir(const char *dir, char *err, size_t err_len)
{
    if (mkdir(dir, 0755) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            return INLOG_OK;
        return fb_fail(err, err_len, INLOG_ERR_IO, "record.path: %s is not a directory", dir);
    }
    return fb_fail(err, err_len, INLOG_ERR_IO, "record.path: cannot create %s: %s", dir, strerror(errno));
}

int inlog_writer_create(const inlog_options *o, const brain *b, inlog_writer **out,
                        char *err, size_t err_len)
{
    *out = NULL;
    const brain_params *p = brain_get_params(b);
    uint64_t ckpt = inlog_checkpoint_bytes(brain_field_count(b));
    uint64_t need = inlog_min_budget_bytes(brain_field_count(b));
    if (o->max_bytes < need)
        return fb_fail(err, err_len, INLOG_ERR_PARAM,
                       "record.max_mb: %llu MiB cannot hold a few segments of this brain (each "
                       "starts with a %.1f MiB checkpoint): allowed at least %llu",
                       (unsigned long long)(o->max_bytes >> 20), (double)ckpt / (1 << 20),
                       (unsigned long long)((need + (1u << 20) - 1) >> 20));
    int rc = make_dir(o->dir, err, err_len);
    if (rc)
        return rc;
    inlog_writer *w = calloc(1, sizeof *w);
    if (!w)
        return fb_fail(err, err_len, INLOG_ERR_NOMEM, "record: out of memory");
    w->o = *o;
    w->sensors = p->sensors;
    w->motors = p->motors;
    w->record_bytes = inlog_record_bytes(p->sensors, p->motors);
    w->seg_cap = (o->max_bytes - 3 * ckpt) / 3;
    w->n = o->ring_records ? o->ring_records : 8192;
    w->fd = -1;
    w->slots = malloc((size_t)w->n * w->record_bytes);
    w->kinds = calloc(w->n, 1);
    w->seg_first = calloc(w->n, sizeof *w->seg_first);
    w->out = malloc(OUT_BUF_BYTES + INLOG_HEADER_MAX);
    rc = INLOG_ERR_NOMEM;
    if (!w->slots || !w->kinds || !w->seg_first || !w->out || brain_snapshot_create(b, &w->snap) != 0) {
        fb_fail(err, err_len, rc, "record: out of memory for the ring and a snapshot");
        goto fail;
    }
    /* Segments already there (a restart) are kept and counted; ours follow. */
    inlog_segment_list list;
    if (inlog_list_segments(o->dir, &list) == 0 && list.n > 0)
        w->seg_number = list.numbers[list.n - 1];
    inlog_list_free(&list);
    atomic_init(&w->head, 0);
    atomic_init(&w->tail, 0);
    atomic_init(&w->snap_state, SNAP_FREE);
    atomic_init(&w->roll, false);
    atomic_init(&w->stop, false);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        rc = fb_fail(err, err_len, INLOG_ERR_THREAD, "record: cannot start the writer thread");
        goto fail;
    }
    w->running = true;
    *out = w;
    return INLOG_OK;
fail:
    inlog_writer_destroy(&w);
    return rc;
}

void inlog_writer_destroy(inlog_writer **wp)
{
    inlog_writer *w = wp ? *wp : NULL;
    if (!w)
        return;
    if (w->running) {
        atomic_store(&w->stop, true);
        pthread_join(w->thread, NULL);
    }
    close_segment(w);
    brain_snapshot_destroy(&w->snap);
    free(w->out);
    free(w->seg_first);
    free(w->kinds);
    free(w->slots);
    free(w);
    *wp = NULL;
}

void inlog_writer_counters(const inlog_writer *w, inlog_counters *out)
{
    inlog_writer *m = (inlog_writer *)w; /* atomics read through a const door */
    out->records = atomic_load(&m->records);
    out->dropped = atomic_load(&m->dropped);
    out->segments = atomic_load(&m->segments);
    out->deleted = atomic_load(&m->deleted);
    out->write_failed = atomic_load(&m->write_failed);
}
