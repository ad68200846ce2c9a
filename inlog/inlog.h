/* inlog.h: the door to inlog/, the input log: everything a replay needs of
 * a running brain, written off the loop's thread, bounded in size, and read
 * back by `fieldbrain replay` (inlog/FORMAT.md is the format, with a numpy
 * reader).
 *
 * A log is a directory of segments. Segment N is NNNNNN.fbin (a small
 * header, then one fixed-size record per loop cycle: the sensor vector the
 * brain stepped with, whether it stepped, the link state, the motors it sent)
 * and the checkpoint NNNNNN.start (.json + .npy, brain/checkpoint.c) of the
 * brain's state just before the segment's first cycle, so that every segment
 * replays on its own. When a segment is full, or after records had to be
 * dropped, the next cycle starts a new segment; the oldest segments are
 * deleted to keep the directory within its byte budget.
 *
 * The loop's thread only copies a record into a preallocated ring
 * (inlog_writer_push) and, when a segment starts, takes one host copy of the
 * brain (brain_snapshot_take, as an autosave does); the writer thread does
 * every file operation and writes what it has at least every 50 ms, so a
 * kill -9 costs at most the last tenth of a second. A segment cut off
 * mid-record replays up to its last whole record.
 */
#ifndef FIELDBRAIN_INLOG_H
#define FIELDBRAIN_INLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brain.h"

typedef enum {
    INLOG_OK = 0,
    INLOG_ERR_PARAM = -1,    /* an option out of range */
    INLOG_ERR_NOMEM = -2,
    INLOG_ERR_IO = -3,       /* a file or directory could not be read or written */
    INLOG_ERR_FORMAT = -4,   /* not an input log, another version, or corrupt */
    INLOG_ERR_THREAD = -5,
} inlog_err;

const char *inlog_strerror(int err);

#define INLOG_MAGIC "FBINLOG"     /* 8 bytes with the NUL */
#define INLOG_VERSION 1u
#define INLOG_PREFIX_BYTES 64u
#define INLOG_RECORD_FIXED 48u    /* record bytes before the sensors */

/* Record flags. */
#define INLOG_STEPPED 0x01u       /* the brain stepped with `sensors` */
#define INLOG_LINK_LOST 0x02u     /* the link was lost (sensors are zeros) */
#define INLOG_FAULT 0x04u         /* the step failed; the brain was reset (brain_reset) */
#define INLOG_RESET 0x08u         /* before this cycle the brain was reset on request (control) */

/* Bytes of one record for a brain of `sensors` sensors and `motors` motors. */
static inline size_t inlog_record_bytes(uint32_t sensors, uint32_t motors)
{
    return INLOG_RECORD_FIXED + 4u * ((size_t)sensors + motors + 2u);
}

/* One cycle as the loop saw it (pointers read during the push only). */
typedef struct {
    uint64_t cycle;          /* loop cycle = motor seq */
    uint64_t brain_cycle;    /* the brain's cycle after this loop cycle */
    uint64_t answer_seq;
    int64_t time_ns;         /* CLOCK_MONOTONIC when the motors went out */
    uint32_t flags;          /* INLOG_* */
    const float *sensors;    /* `sensors` floats */
    const float *motors;     /* `motors` floats, as published */
    float energy, saturated; /* NaN when not measured */
} inlog_cycle;

typedef struct {
    char dir[256];           /* the log's directory (created if missing) */
    uint64_t max_bytes;      /* the whole directory, checkpoints included */
    uint32_t ring_records;   /* records the ring holds; 0: 8192 */
    char backend[16];        /* written into each header: "cpu", "vulkan" */
    char device[128];
    uint32_t robot_id;
} inlog_options;

typedef struct {
    uint64_t records;        /* pushed and written */
    uint64_t dropped;        /* the ring was full: a new segment follows the gap */
    uint64_t segments;       /* started since creation */
    uint64_t deleted;        /* old segments deleted for the byte budget */
    uint64_t write_failed;   /* records lost to a failing disk */
} inlog_counters;

typedef struct inlog_writer inlog_writer;

/* Checks o against b (the budget must hold a few segments and their
 * checkpoints), creates the directory, allocates the ring and a snapshot of
 * b's size and starts the writer thread. b is only read for its shape here. */
int inlog_writer_create(const inlog_options *o, const brain *b, inlog_writer **out,
                        char *err, size_t err_len);

/* Before the loop's first cycle: the first segment starts from b as it is
 * now, with cycle next_cycle (1 for a new loop). INLOG_ERR_IO when the
 * snapshot cannot be taken. */
int inlog_writer_begin(inlog_writer *w, brain *b, uint64_t next_cycle);

/* On the loop's thread, between two cycles, when the brain's parameters
 * changed: the next cycle (next_cycle) starts a new segment, whose checkpoint
 * holds the new values. When the snapshot is busy the records are dropped
 * until a segment can start (a gap, which a replay crosses by the next
 * checkpoint). Never blocks. */
void inlog_writer_roll(inlog_writer *w, brain *b, uint64_t next_cycle);

/* On the loop's thread, after the cycle: copies c into the ring. When a new
 * segment is due (a full segment, or a record dropped because the ring was
 * full), takes a snapshot of b after it: the new segment starts with the
 * next cycle, so call this before the next brain_step. Never blocks, never
 * allocates, never touches a file. */
void inlog_writer_push(inlog_writer *w, brain *b, const inlog_cycle *c);

/* Writes what is queued, closes the segment and stops the thread; NULL is
 * harmless. Sets *w to NULL. */
void inlog_writer_destroy(inlog_writer **w);

void inlog_writer_counters(const inlog_writer *w, inlog_counters *out);

/* ---- reading ---- */

typedef struct {
    uint64_t cycle, brain_cycle, answer_seq;
    int64_t time_ns;
    uint32_t flags;
    const float *sensors, *motors;
    float energy, saturated;
} inlog_entry;

typedef struct inlog_reader inlog_reader;

/* Opens the log directory: lists its segments and checks each header.
 * Errors are one sentence naming the file. */
int inlog_reader_open(const char *dir, inlog_reader **out, char *err, size_t err_len);
void inlog_reader_close(inlog_reader **r);

uint32_t inlog_reader_segments(const inlog_reader *r);
uint32_t inlog_reader_sensors(const inlog_reader *r);
uint32_t inlog_reader_motors(const inlog_reader *r);
/* The header's backend and device of segment i. */
const char *inlog_reader_backend(const inlog_reader *r, uint32_t i);
const char *inlog_reader_device(const inlog_reader *r, uint32_t i);
/* The first loop cycle of segment i, its start checkpoint's path and its
 * own (NNNNNN.fbin). */
uint64_t inlog_reader_first_cycle(const inlog_reader *r, uint32_t i);
const char *inlog_reader_start(const inlog_reader *r, uint32_t i);
const char *inlog_reader_path(const inlog_reader *r, uint32_t i);
/* The whole records of segment i when the log was opened. */
uint64_t inlog_reader_records(const inlog_reader *r, uint32_t i);

/* Reads segment i record by record: 1 with *e filled (valid until the next
 * call), 0 at the end (a cut-off last record ends it), negative on a
 * corrupt record (checksum, sizes) with a sentence. */
int inlog_reader_seek(inlog_reader *r, uint32_t i, char *err, size_t err_len);
int inlog_reader_next(inlog_reader *r, inlog_entry *e, char *err, size_t err_len);
/* Once inlog_reader_next has returned 0: the bytes of a record cut off at
 * the segment's end (0: it ended on a whole record). */
size_t inlog_reader_cut_bytes(const inlog_reader *r);

#endif
