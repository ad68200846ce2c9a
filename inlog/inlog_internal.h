/* inlog_internal.h: what the input log's writer and reader share: file
 * names, the header and record layout (inlog/FORMAT.md), the segment list.
 * Private to inlog/. */
#ifndef FIELDBRAIN_INLOG_INTERNAL_H
#define FIELDBRAIN_INLOG_INTERNAL_H

#include "inlog.h"

#define INLOG_PATH_MAX 512
#define INLOG_HEADER_MAX 4096   /* prefix + JSON, padded to a multiple of 64 */
#define INLOG_MAX_SEGMENTS 4096

/* DIR/NNNNNN.fbin and the start checkpoint DIR/NNNNNN.start. */
void inlog_segment_paths(const char *dir, uint32_t number, char path[INLOG_PATH_MAX],
                         char start[INLOG_PATH_MAX]);

/* The header of a segment; returns its length (a multiple of 64). */
size_t inlog_format_header(uint8_t *buf, size_t cap, uint32_t sensors, uint32_t motors,
                           uint64_t first_cycle, uint64_t start_brain_cycle, uint32_t number,
                           const inlog_options *o);

/* Lays c out as a record (checksum 0) / fills in the checksum. */
void inlog_fill_record(uint8_t *rec, uint32_t sensors, uint32_t motors, const inlog_cycle *c);
void inlog_seal_record(uint8_t *rec, size_t record_bytes);
uint32_t inlog_record_check(const uint8_t *rec, size_t record_bytes);

/* The segments in a directory, oldest first, with the bytes of their files
 * (segment, start sidecar and field files). */
typedef struct {
    uint32_t n;
    uint32_t *numbers;
    uint64_t *bytes;
} inlog_segment_list;
int inlog_list_segments(const char *dir, inlog_segment_list *out);
void inlog_list_free(inlog_segment_list *l);
void inlog_remove_segment(const char *dir, uint32_t number);

#endif
