/* json.c: a small JSON writer and reader for telemetry messages (json.h).
 * The writer never writes past its buffer; the reader is a recursive-descent
 * parser into a fixed node array, strict enough to refuse what is not JSON.
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(json_writer *w, const char *s, size_t n)
{
    if (w->len + n + 1 > w->cap) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void putc_(json_writer *w, char c) { put(w, &c, 1); }

/* Every value and key goes through here: a comma unless first in its
 * container, or the value of a key just written. */
static void item(json_writer *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (!w->first[w->depth - 1])
            putc_(w, ',');
        w->first[w->depth - 1] = false;
    }
}

void jw_init(json_writer *w, char *buf, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->cap = cap;
    if (cap > 0)
        buf[0] = '\0';
}

static void open_(json_writer *w, char c)
{
    item(w);
    putc_(w, c);
    if (w->depth < JSON_MAX_DEPTH)
        w->first[w->depth] = true;
    else
        w->overflow = true;
    w->depth++;
}

static void close_(json_writer *w, char c)
{
    if (w->depth > 0)
        w->depth--;
    putc_(w, c);
}

void jw_obj_begin(json_writer *w) { open_(w, '{'); }
void jw_obj_end(json_writer *w) { close_(w, '}'); }
void jw_arr_begin(json_writer *w) { open_(w, '['); }
void jw_arr_end(json_writer *w) { close_(w, ']'); }

static void quoted(json_writer *w, const char *s)
{
    putc_(w, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(w, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            put(w, esc, 6);
        } else {
            putc_(w, (char)*p);
        }
    }
    putc_(w, '"');
}

void jw_key(json_writer *w, const char *key)
{
    item(w);
    quoted(w, key);
    putc_(w, ':');
    w->after_key = true;
}

void jw_str(json_writer *w, const char *s)
{
    item(w);
    quoted(w, s);
}

void jw_u64(json_writer *w, uint64_t v)
{
    char b[32];
    item(w);
    put(w, b, (size_t)snprintf(b, sizeof b, "%llu", (unsigned long long)v));
}

void jw_i64(json_writer *w, int64_t v)
{
    char b[32];
    item(w);
    put(w, b, (size_t)snprintf(b, sizeof b, "%lld", (long long)v));
}

void jw_f64(json_writer *w, double v)
{
    char b[40];
    item(w);
    if (!isfinite(v)) {
        put(w, "null", 4);
        return;
    }
    put(w, b, (size_t)snprintf(b, sizeof b, "%.9g", v));
}

void jw_bool(json_writer *w, bool v)
{
    item(w);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

void jw_null(json_writer *w)
{
    item(w);
    put(w, "null", 4);
}

/* ---- reader ---- */

typedef struct {
    const char *p, *end;
    json_node *nodes;
    int max, count;
} parser;

static void ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int new_node(parser *ps, json_type t)
{
    if (ps->count >= ps->max)
        return -1;
    json_node *n = &ps->nodes[ps->count];
    memset(n, 0, sizeof *n);
    n->type = t;
    n->child = -1;
    n->next = -1;
    return ps->count++;
}

/* Scans a string at ps->p (at the opening quote); returns its raw body. */
static int scan_string(parser *ps, const char **s, size_t *len)
{
    if (ps->p >= ps->end || *ps->p != '"')
        return -1;
    ps->p++;
    const char *start = ps->p;
    while (ps->p < ps->end && *ps->p != '"') {
        if ((unsigned char)*ps->p < 0x20)
            return -1;
        if (*ps->p == '\\') {
            ps->p++;
            if (ps->p >= ps->end)
                return -1;
        }
        ps->p++;
    }
    if (ps->p >= ps->end)
        return -1;
    *s = start;
    *len = (size_t)(ps->p - start);
    ps->p++;
    return 0;
}

static int value(parser *ps, int depth);

static int container(parser *ps, int depth, bool obj)
{
    int me = new_node(ps, obj ? JSON_OBJ : JSON_ARR);
    if (me < 0)
        return -1;
    ps->p++;
    ws(ps);
    char close = obj ? '}' : ']';
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return me;
    }
    int prev = -1;
    for (;;) {
        const char *key = NULL;
        size_t key_len = 0;
        ws(ps);
        if (obj) {
            if (scan_string(ps, &key, &key_len) < 0)
                return -1;
            ws(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return -1;
            ps->p++;
        }
        int child = value(ps, depth + 1);
        if (child < 0)
            return -1;
        ps->nodes[child].key = key;
        ps->nodes[child].key_len = key_len;
        if (prev < 0)
            ps->nodes[me].child = child;
        else
            ps->nodes[prev].next = child;
        prev = child;
        ws(ps);
        if (ps->p >= ps->end)
            return -1;
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            return me;
        }
        return -1;
    }
}

static int literal(parser *ps, const char *word, json_type t, double num)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return -1;
    ps->p += n;
    int me = new_node(ps, t);
    if (me >= 0)
        ps->nodes[me].num = num;
    return me;
}

static int value(parser *ps, int depth)
{
    if (depth > JSON_MAX_DEPTH * 4)
        return -1;
    ws(ps);
    if (ps->p >= ps->end)
        return -1;
    char c = *ps->p;
    if (c == '{' || c == '[')
        return container(ps, depth, c == '{');
    if (c == '"') {
        const char *s;
        size_t len;
        if (scan_string(ps, &s, &len) < 0)
            return -1;
        int me = new_node(ps, JSON_STR);
        if (me >= 0) {
            ps->nodes[me].str = s;
            ps->nodes[me].str_len = len;
        }
        return me;
    }
    if (c == 't')
        return literal(ps, "true", JSON_BOOL, 1);
    if (c == 'f')
        return literal(ps, "false", JSON_BOOL, 0);
    if (c == 'n')
        return literal(ps, "null", JSON_NULL, 0);
    if (c == '-' || (c >= '0' && c <= '9')) {
        char tmp[64];
        size_t n = 0;
        while (ps->p + n < ps->end && n < sizeof tmp - 1 &&
               strchr("+-0123456789.eE", ps->p[n]) != NULL)
            n++;
        memcpy(tmp, ps->p, n);
        tmp[n] = '\0';
        char *endp;
        double v = strtod(tmp, &endp);
        if (endp != tmp + n)
            return -1;
        ps->p += n;
        int me = new_node(ps, JSON_NUM);
        if (me >= 0)
            ps->nodes[me].num = v;
        return me;
    }
    return -1;
}

int json_parse(const char *text, size_t len, json_node *nodes, int max)
{
    parser ps = {text, text + len, nodes, max, 0};
    if (value(&ps, 0) != 0)
        return -1;
    ws(&ps);
    if (ps.p != ps.end)
        return -1;
    return ps.count;
}

int json_get(const json_node *n, int obj, const char *key)
{
    if (obj < 0 || n[obj].type != JSON_OBJ)
        return -1;
    size_t kl = strlen(key);
    for (int i = n[obj].child; i >= 0; i = n[i].next)
        if (n[i].key_len == kl && memcmp(n[i].key, key, kl) == 0)
            return i;
    return -1;
}

int json_path(const json_node *n, int obj, const char *path)
{
    char part[64];
    int at = obj;
    while (at >= 0 && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        if (len >= sizeof part)
            return -1;
        memcpy(part, path, len);
        part[len] = '\0';
        at = json_get(n, at, part);
        path += len + (dot ? 1 : 0);
    }
    return at;
}

double json_num(const json_node *n, int obj, const char *path, double def)
{
    int i = json_path(n, obj, path);
    if (i < 0 || (n[i].type != JSON_NUM && n[i].type != JSON_BOOL))
        return def;
    return n[i].num;
}

/* The value of 4 hex digits at s, or -1. */
static long hex4(const char *s)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Appends byte c at *o when it fits (out_len - 1 bytes and the NUL). */
static void put_byte(char *out, size_t out_len, size_t *o, char c)
{
    if (*o + 1 < out_len)
        out[*o] = c;
    (*o)++;
}

/* Code point cp as UTF-8 at *o. */
static void put_utf8(char *out, size_t out_len, size_t *o, unsigned long cp)
{
    if (cp < 0x80) {
        put_byte(out, out_len, o, (char)cp);
    } else if (cp < 0x800) {
        put_byte(out, out_len, o, (char)(0xC0 | (cp >> 6)));
        put_byte(out, out_len, o, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        put_byte(out, out_len, o, (char)(0xE0 | (cp >> 12)));
        put_byte(out, out_len, o, (char)(0x80 | ((cp >> 6) & 0x3F)));
        put_byte(out, out_len, o, (char)(0x80 | (cp & 0x3F)));
    } else {
        put_byte(out, out_len, o, (char)(0xF0 | (cp >> 18)));
        put_byte(out, out_len, o, (char)(0x80 | ((cp >> 12) & 0x3F)));
        put_byte(out, out_len, o, (char)(0x80 | ((cp >> 6) & 0x3F)));
        put_byte(out, out_len, o, (char)(0x80 | (cp & 0x3F)));
    }
}

size_t json_str(const json_node *n, int obj, const char *path, char *out, size_t out_len)
{
    if (out_len)
        out[0] = '\0';
    int i = json_path(n, obj, path);
    if (i < 0 || n[i].type != JSON_STR)
        return 0;
    const char *s = n[i].str;
    const size_t len = n[i].str_len;
    size_t o = 0;
    for (size_t k = 0; k < len; k++) {
        char c = s[k];
        if (c != '\\' || k + 1 >= len) {
            put_byte(out, out_len, &o, c);
            continue;
        }
        char e = s[++k];
        long cp = e == 'u' && k + 4 < len ? hex4(s + k + 1) : -1;
        if (e != 'u') {
            put_byte(out, out_len, &o, e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r'
                                       : e == 'b' ? '\b' : e == 'f' ? '\f' : e);
            continue;
        }
        if (cp < 0) {
            put_byte(out, out_len, &o, '?');
            continue;
        }
        k += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && k + 6 < len && s[k + 1] == '\\' && s[k + 2] == 'u') {
            /* a surrogate pair: one code point above U+FFFF */
            long lo = hex4(s + k + 3);
            if (lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                k += 6;
            }
        }
        if (cp >= 0xD800 && cp < 0xE000)
            put_byte(out, out_len, &o, '?'); /* a lone surrogate stands for nothing */
        else
            put_utf8(out, out_len, &o, (unsigned long)cp);
    }
    if (out_len)
        out[o < out_len ? o : out_len - 1] = '\0';
    return o;
}

int json_count(const json_node *n, int node)
{
    int c = 0;
    if (node < 0)
        return 0;
    for (int i = n[node].child; i >= 0; i = n[i].next)
        c++;
    return c;
}
