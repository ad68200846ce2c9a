/* json.h: the little JSON telemetry needs, private to telemetry/. A writer
 * into a fixed buffer (commas placed for the caller, non-finite numbers
 * written as null) and a reader that parses one message into a caller-owned
 * array of nodes, for the monitor and the tests. No allocation in either.
 */
#ifndef FIELDBRAIN_TELEMETRY_JSON_H
#define FIELDBRAIN_TELEMETRY_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 16

typedef struct {
    char *buf;
    size_t cap, len;
    bool overflow;                 /* something did not fit: the text is cut */
    int depth;
    bool first[JSON_MAX_DEPTH];    /* no comma before the next item */
    bool after_key;
} json_writer;

void jw_init(json_writer *w, char *buf, size_t cap);
void jw_obj_begin(json_writer *w);
void jw_obj_end(json_writer *w);
void jw_arr_begin(json_writer *w);
void jw_arr_end(json_writer *w);
void jw_key(json_writer *w, const char *key);
void jw_str(json_writer *w, const char *s);
void jw_u64(json_writer *w, uint64_t v);
void jw_i64(json_writer *w, int64_t v);
void jw_f64(json_writer *w, double v);   /* %.9g; NaN and infinities: null */
void jw_bool(json_writer *w, bool v);
void jw_null(json_writer *w);

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ } json_type;

typedef struct {
    json_type type;
    const char *key;      /* in an object: the key (raw, unescaped only if plain) */
    size_t key_len;
    const char *str;      /* JSON_STR: raw text between the quotes */
    size_t str_len;
    double num;           /* JSON_NUM; JSON_BOOL: 0 or 1 */
    int child;            /* first child or -1 */
    int next;             /* next sibling or -1 */
} json_node;

/* Parses text[0..len) into nodes (node 0 is the root). Returns the node count
 * or -1 if the text is not JSON or needs more than max nodes. */
int json_parse(const char *text, size_t len, json_node *nodes, int max);

/* The child of object node `obj` named key, or -1. */
int json_get(const json_node *n, int obj, const char *key);
/* Follows "a.b.c" from node `obj`; -1 if any step is missing. */
int json_path(const json_node *n, int obj, const char *path);
/* The number at path, or def when missing or not a number. */
double json_num(const json_node *n, int obj, const char *path, double def);
/* Copies the string at path into out, its escapes decoded (\uXXXX as
 * UTF-8, a pair of surrogates as one code point); "" when missing or not a
 * string. Returns the decoded length in bytes, as snprintf does: out_len or
 * more means it was cut; more than strlen(out) below that means a \u0000
 * inside. */
size_t json_str(const json_node *n, int obj, const char *path, char *out, size_t out_len);
/* Children of an array or object node, in order: i = n[a].child; i >= 0; i = n[i].next */
int json_count(const json_node *n, int node);

#endif
