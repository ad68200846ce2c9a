/* config.c: one YAML file (libyaml events) over the defaults into a config.
 * Every key has one entry in a table (brain's numeric ones in brain_params.h's
 * table, the rest below) giving its type and range; every error names
 * "file:line:column: section.key: what is wrong (allowed range)". */
#include "config.h"
#include "fail.h"
#include "inlog_budget.h"
#include "wire.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ---- the table of keys ------------------------------------------------ */

typedef enum {
    KEY_BOOL,
    KEY_U32,      /* uint32_t */
    KEY_U64,      /* uint64_t */
    KEY_INT,      /* int */
    KEY_I64,      /* int64_t */
    KEY_FLOAT,    /* float */
    KEY_DOUBLE,   /* double */
    KEY_STRING,   /* char[len]; may be empty */
    KEY_ENUM,     /* an enum (stored as int), one of choices */
    KEY_ENDPOINT, /* char[len]; a ZeroMQ endpoint */
    KEY_CURVE,    /* char[len]; "" or 40 Z85 characters */
    KEY_SIZE,     /* brain.size: sets size_x, size_y and size_z */
} key_type;

typedef struct {
    const char *section;
    const char *key;
    key_type type;
    size_t offset;               /* offsetof(config, ...) */
    size_t len;                  /* strings: the size of the buffer */
    double min, max;             /* numbers, inclusive */
    const char *doc;             /* one line: meaning and unit */
    const char *const *choices;  /* enums: NULL-terminated, index = value */
} config_key;

_Static_assert(sizeof(loop_mode) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(sim_mode) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(brain_backend) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(brain_precision) == sizeof(int), "enums are stored as int");
_Static_assert(offsetof(brain_params, size_y) == offsetof(brain_params, size_x) + 4 &&
               offsetof(brain_params, size_z) == offsetof(brain_params, size_x) + 8,
               "brain.size writes size_x, size_y, size_z as one array");

static const char *const backend_choices[] = {"auto", "vulkan", "cpu", NULL};
static const char *const precision_choices[] = {"f32", "f16", NULL};
static const char *const loop_mode_choices[] = {"fixed_rate", "lockstep", NULL};
static const char *const sim_mode_choices[] = {"realtime", "lockstep", NULL};

static const char *const config_sections[] = {
    "brain", "loop", "link", "telemetry", "checkpoint", "sim", "record", "control",
};
#define N_SECTIONS (sizeof config_sections / sizeof config_sections[0])

#define K_NUM(s, k, t, field, lo, hi, d) \
    { s, k, t, offsetof(config, field), 0, lo, hi, d, NULL }
#define K_BOOL(s, k, field, d) \
    { s, k, KEY_BOOL, offsetof(config, field), 0, 0, 1, d, NULL }
#define K_STR(s, k, t, field, d) \
    { s, k, t, offsetof(config, field), sizeof(((config *)0)->field), 0, 0, d, NULL }
#define K_ENUM(s, k, field, ch, d) \
    { s, k, KEY_ENUM, offsetof(config, field), 0, 0, 0, d, ch }

/* The numeric brain keys are not here: they come from brain_param_table(),
 * the one table of their ranges. brain.size takes its range from size_x. */
static const config_key config_keys[] = {
    { "brain", "size", KEY_SIZE, offsetof(config, brain.size_x), 0, 0, 0,
      "grid points along each of x, y and z (sets size_x, size_y, size_z)", NULL },
    K_ENUM("brain", "backend", brain.backend, backend_choices,
           "auto: a real GPU if there is one, else the CPU; vulkan; cpu"),
    K_ENUM("brain", "precision", brain.precision, precision_choices,
           "how the field is stored: f32; f16 (Vulkan only: half the bytes, float32 arithmetic)"),
    K_STR("brain", "device", KEY_STRING, brain.device,
          "Vulkan device: empty chooses; an index or a part of the name forces one"),
    K_BOOL("brain", "validation", brain.validation,
           "Vulkan: enable the Khronos validation layer (slow; for debugging)"),

    K_ENUM("loop", "mode", loop.mode, loop_mode_choices,
           "fixed_rate: a cycle every 1/rate_hz; lockstep: a cycle per sensor message"),
    K_NUM("loop", "rate_hz", KEY_DOUBLE, loop.rate_hz, 0.1, 100000,
          "fixed_rate: cycles per second (Hz)"),
    K_BOOL("loop", "realtime", loop.realtime,
           "SCHED_FIFO and mlockall (needs the privilege to)"),
    K_NUM("loop", "cpu", KEY_INT, loop.cpu, -1, 1023,
          "pin the loop thread to this CPU; -1: do not pin"),
    K_NUM("loop", "stats_window", KEY_U32, loop.stats_window, 1, 1000000,
          "cycles in one timing window (cycles)"),

    K_STR("link", "sensor_endpoint", KEY_ENDPOINT, link.sensor_endpoint,
          "ZeroMQ endpoint the brain binds for sensor messages"),
    K_STR("link", "motor_endpoint", KEY_ENDPOINT, link.motor_endpoint,
          "ZeroMQ endpoint the brain binds to publish motor messages"),
    K_NUM("link", "timeout_ms", KEY_U32, link.timeout_ms, 1, 3600000,
          "link lost after this long without a valid sensor message (ms)"),
    K_NUM("link", "max_message_bytes", KEY_U32, link.max_message_bytes, 64, 16777216,
          "larger sensor messages are dropped by ZeroMQ (bytes)"),
    K_NUM("link", "robot_id", KEY_U32, link.robot_id, 0, 4294967295.0,
          "the robot this brain drives"),
    K_NUM("link", "sensor_limit", KEY_FLOAT, link.sensor_limit, 1e-6, 1e30,
          "largest |value| a sensor message may carry; beyond it the message is bad input (range)"),
    K_STR("link", "curve_secret_key", KEY_CURVE, link.curve_secret_key,
          "the brain's CURVE secret key (Z85); empty: no encryption"),
    K_STR("link", "curve_public_key", KEY_CURVE, link.curve_public_key,
          "the brain's CURVE public key (Z85), which robots need"),
    K_STR("link", "curve_client_keys", KEY_STRING, link.curve_client_keys,
          "file of allowed client public keys (Z85, one a line); empty: any client"),

    K_BOOL("telemetry", "enabled", telemetry.enabled, "publish telemetry"),
    K_STR("telemetry", "endpoint", KEY_ENDPOINT, telemetry.endpoint,
          "ZeroMQ endpoint the brain binds to publish telemetry"),
    K_NUM("telemetry", "every", KEY_U32, telemetry.every, 1, 1000000,
          "cycle stats every N cycles (cycles)"),
    K_NUM("telemetry", "slice_every", KEY_U32, telemetry.slice_every, 0, 1000000,
          "a picture of a field slice every N cycles (cycles); 0: never"),
    K_NUM("telemetry", "slice_axis", KEY_U32, telemetry.slice_axis, 0, 2,
          "the axis across the slice: 0 = x, 1 = y, 2 = z"),
    K_NUM("telemetry", "slice_index", KEY_INT, telemetry.slice_index, -1, 4095,
          "where along slice_axis; -1: the middle"),
    K_NUM("telemetry", "slice_channel", KEY_INT, telemetry.slice_channel, -1, 4095,
          "which channel; -1: the mean over channels"),
    K_NUM("telemetry", "slice_robot", KEY_I64, telemetry.slice_robot, -1, 4294967295.0,
          "the robot (its id) whose field the slices show; -1: the fleet's first"),
    K_STR("telemetry", "curve_secret_key", KEY_CURVE, telemetry.curve_secret_key,
          "telemetry's own CURVE secret key (Z85); empty: link.curve_secret_key"),
    K_STR("telemetry", "curve_public_key", KEY_CURVE, telemetry.curve_public_key,
          "telemetry's own CURVE public key (Z85), which subscribers need; empty: link.curve_public_key"),
    K_STR("telemetry", "curve_client_keys", KEY_STRING, telemetry.curve_client_keys,
          "file of allowed subscriber public keys (Z85, one a line); empty: link.curve_client_keys"),
    K_BOOL("telemetry", "unencrypted", telemetry.unencrypted,
           "publish without CURVE even when the link has it: anyone who reaches the endpoint reads it"),

    K_STR("checkpoint", "path", KEY_STRING, checkpoint.path,
          "checkpoint file (PATH.json and its .npy); empty: no checkpoints"),
    K_NUM("checkpoint", "every_s", KEY_DOUBLE, checkpoint.every_s, 0, 86400,
          "save every this many seconds (s); 0: no periodic saves"),
    K_BOOL("checkpoint", "on_exit", checkpoint.on_exit, "save once at shutdown"),

    K_STR("record", "path", KEY_STRING, record.path,
          "directory of the input log for fieldbrain replay (inlog/FORMAT.md); empty: no log"),
    K_NUM("record", "max_mb", KEY_U32, record.max_mb, 1, 1048576,
          "the log directory's budget, start checkpoints included (MiB); the oldest segments go first"),

    K_ENUM("sim", "mode", sim.mode, sim_mode_choices,
           "realtime: physics at wall-clock speed; lockstep: a step per motor reply"),
    K_STR("sim", "model", KEY_STRING, sim.model, "MJCF model file; empty: the bundled rover"),
    K_NUM("sim", "sensor_hz", KEY_DOUBLE, sim.sensor_hz, 1, 10000,
          "realtime: sensor messages per second (Hz)"),
    K_NUM("sim", "motor_timeout_ms", KEY_U32, sim.motor_timeout_ms, 1, 60000,
          "stop the motors after this long without a motor message (ms)"),
    K_NUM("sim", "duration_s", KEY_DOUBLE, sim.duration_s, 0, 1e6,
          "stop after this much simulated time (s); 0: run until stopped"),
    K_STR("sim", "trajectory", KEY_STRING, sim.trajectory,
          "CSV file of the robot's pose over time; empty: none"),

    K_BOOL("control", "enabled", control.enabled,
           "answer fieldbrain-ctl on the control socket (io/CONTROL.md)"),
    K_STR("control", "endpoint", KEY_ENDPOINT, control.endpoint,
          "ZeroMQ endpoint the brain binds for control requests; CURVE with the link's keys"),
};
#define N_KEYS (sizeof config_keys / sizeof config_keys[0])

/* Key i of a section: ours, then (brain only) brain's table. Returns
 * false past the end. One way to walk every key, for lookup, suggestions,
 * duplicates and writing. */
static bool key_at(size_t section, size_t i, config_key *out)
{
    const char *name = config_sections[section];
    size_t ours = 0;
    for (size_t k = 0; k < N_KEYS; k++)
        ours += strcmp(config_keys[k].section, name) == 0;
    if (section == 0 && i >= ours) {
        i -= ours;
        size_t n;
        const brain_param_info *info = brain_param_table(&n);
        if (i < n) {
            static const key_type types[] = {
                [BRAIN_PARAM_U32] = KEY_U32,
                [BRAIN_PARAM_U64] = KEY_U64,
                [BRAIN_PARAM_FLOAT] = KEY_FLOAT,
            };
            *out = (config_key){
                .section = name, .key = info[i].key, .type = types[info[i].type],
                .offset = offsetof(config, brain) + info[i].offset,
                .min = info[i].min, .max = info[i].max, .doc = info[i].doc,
            };
            return true;
        }
        return false;
    }
    for (size_t k = 0; k < N_KEYS; k++) {
        if (strcmp(config_keys[k].section, name) != 0)
            continue;
        if (i-- == 0) {
            *out = config_keys[k];
            if (out->type == KEY_SIZE) {
                size_t n;
                const brain_param_info *info = brain_param_table(&n);
                for (size_t j = 0; j < n; j++)
                    if (strcmp(info[j].key, "size_x") == 0) {
                        out->min = info[j].min;
                        out->max = info[j].max;
                    }
            }
            return true;
        }
    }
    return false;
}

static int section_index(const char *name)
{
    for (size_t s = 0; s < N_SECTIONS; s++)
        if (strcmp(config_sections[s], name) == 0)
            return (int)s;
    return -1;
}

/* Returns the key's index in its section, or -1. */
static int key_find(size_t section, const char *name, config_key *out)
{
    config_key k;
    for (size_t i = 0; key_at(section, i, &k); i++)
        if (strcmp(k.key, name) == 0) {
            if (out)
                *out = k;
            return (int)i;
        }
    return -1;
}

/* ---- messages ---------------------------------------------------------- */

const char *config_strerror(int err)
{
    switch (err) {
    case CONFIG_OK: return "ok";
    case CONFIG_ERR_IO: return "config file could not be read";
    case CONFIG_ERR_SYNTAX: return "config file is not valid YAML of the expected shape";
    case CONFIG_ERR_KEY: return "unknown or repeated key";
    case CONFIG_ERR_TYPE: return "value of the wrong type";
    case CONFIG_ERR_RANGE: return "value out of range";
    }
    return "unknown error";
}

/* A number as people write it: integers without a fraction (up to 1e15),
 * the rest in %g. */
static void fmt_num(char *buf, size_t len, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, "%g", v);
}

static void fmt_range(char *buf, size_t len, const config_key *k)
{
    char lo[48], hi[48];
    fmt_num(lo, sizeof lo, k->min);
    if (k->type == KEY_U64 && k->max >= 18446744073709551615.0)
        snprintf(hi, sizeof hi, "%llu", (unsigned long long)UINT64_MAX);
    else
        fmt_num(hi, sizeof hi, k->max);
    snprintf(buf, len, "allowed %s to %s", lo, hi);
}

static void fmt_choices(char *buf, size_t len, const char *const *choices)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; choices[i] && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", choices[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Levenshtein distance, for "did you mean"; keys are short. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The nearest name within a third of its length (at least 1 edit, 2 from
 * four letters on, at most 3), or NULL. */
static const char *nearest(const char *word, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t best_d = 0;
    size_t limit = strlen(word) / 3;
    size_t least = strlen(word) >= 4 ? 2 : 1;
    limit = limit < least ? least : limit > 3 ? 3 : limit;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, names[i]);
        if (d <= limit && (!best || d < best_d)) {
            best = names[i];
            best_d = d;
        }
    }
    return best;
}

/* " (did you mean X?)", " (it belongs in section S)" or "". */
static void suggest_key(char *buf, size_t len, size_t section, const char *word)
{
    const char *names[128];
    size_t n = 0;
    config_key k;
    for (size_t i = 0; n < 128 && key_at(section, i, &k); i++)
        names[n++] = k.key;
    const char *best = nearest(word, names, n);
    if (best) {
        snprintf(buf, len, " (did you mean %s?)", best);
        return;
    }
    for (size_t s = 0; s < N_SECTIONS; s++)
        if (s != section && key_find(s, word, NULL) >= 0) {
            snprintf(buf, len, " (it belongs in section %s)", config_sections[s]);
            return;
        }
    buf[0] = '\0';
}

/* ---- values ------------------------------------------------------------ */

/* A scalar as the parser gave it. */
typedef struct {
    const char *text;
    size_t length;
    bool plain;        /* unquoted, untagged: may be a number, bool or null */
    bool str_ok;       /* no tag, or the !!str tag */
    const char *kind;  /* "scalar", "mapping", "sequence", "alias" */
} value;

static bool value_is_null(const value *v)
{
    return v->plain && (v->length == 0 || strcmp(v->text, "~") == 0 ||
                        strcmp(v->text, "null") == 0 || strcmp(v->text, "Null") == 0 ||
                        strcmp(v->text, "NULL") == 0);
}

/* [+-]? (digits (. digits*)? | . digits) ([eE] [+-]? digits)? */
static bool scan_number(const char *s, bool *is_int)
{
    const char *p = s;
    bool digits = false;
    *is_int = true;
    if (*p == '+' || *p == '-')
        p++;
    while (isdigit((unsigned char)*p)) {
        p++;
        digits = true;
    }
    if (*p == '.') {
        *is_int = false;
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits = true;
        }
    }
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        *is_int = false;
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return *p == '\0';
}

static bool looks_non_finite(const char *s)
{
    const char *p = s + (*s == '+' || *s == '-');
    if (*p == '.')
        p++;
    return strcasecmp(p, "inf") == 0 || strcasecmp(p, "infinity") == 0 ||
           strcasecmp(p, "nan") == 0;
}

static bool endpoint_ok(const char *s)
{
    for (const char *p = s; *p; p++)
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return false;
    if (strncmp(s, "ipc://", 6) == 0)
        return s[6] != '\0';
    if (strncmp(s, "inproc://", 9) == 0)
        return s[9] != '\0';
    if (strncmp(s, "tcp://", 6) != 0)
        return false;
    const char *host = s + 6;
    const char *colon = strrchr(host, ':');
    if (!colon || colon == host)
        return false;
    if (host[0] == '[' && colon[-1] != ']')
        return false;
    const char *port = colon + 1;
    if (strcmp(port, "*") == 0)
        return true;
    if (!*port || strlen(port) > 5)
        return false;
    for (const char *p = port; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    long n = strtol(port, NULL, 10);
    return n >= 1 && n <= 65535;
}

static bool z85_ok(const char *s)
{
    static const char z85[] =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    if (strlen(s) != 40)
        return false;
    for (const char *p = s; *p; p++)
        if (!strchr(z85, *p))
            return false;
    return true;
}

/* The character at s: returns its length (1 to 4) and puts its code point
 * in *cp, or returns 0 when s does not start a well-formed UTF-8 character
 * (a stray continuation byte, one cut short, an overlong form, a surrogate,
 * or beyond U+10FFFF). */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xC2 && s[0] <= 0xDF ? 2 :
               s[0] >= 0xE0 && s[0] <= 0xEF ? 3 : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
    if (n == 0)
        return 0;
    uint32_t v = n == 1 ? s[0] : s[0] & (0x7Fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        v = v << 6 | (s[i] & 0x3Fu);
    }
    if (v < least[n] || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF)
        return 0;
    *cp = v;
    return n;
}

/* The byte offset of the first byte of s that is not well-formed UTF-8, or
 * -1 when all of it is. */
static long utf8_invalid_at(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;
    while (*p) {
        size_t n = utf8_decode(p, &cp);
        if (n == 0)
            return (long)(p - (const unsigned char *)s);
        p += n;
    }
    return -1;
}

static const char *type_wanted(const config_key *k)
{
    switch (k->type) {
    case KEY_BOOL: return "true or false";
    case KEY_U32:
    case KEY_U64:
    case KEY_INT:
    case KEY_I64:
    case KEY_SIZE: return "an integer";
    case KEY_FLOAT:
    case KEY_DOUBLE: return "a number";
    case KEY_ENUM: return "one of its names";
    case KEY_ENDPOINT: return "a ZeroMQ endpoint";
    case KEY_CURVE: return "a Z85 key";
    case KEY_STRING: return "a string";
    }
    return "a value";
}

/* Sets key k of c from v. On error writes "what is wrong (allowed ...)"
 * (without the key) to err. */
static int set_value(config *c, const config_key *k, const value *v, char *err, size_t err_len)
{
    char *field = (char *)c + k->offset;
    char range[160];

    if (strcmp(v->kind, "scalar") != 0)
        return fb_fail(err, err_len, CONFIG_ERR_TYPE, "expected %s, got a%s %s",
                    type_wanted(k), v->kind[0] == 'a' ? "n" : "", v->kind);
    if (strlen(v->text) != v->length)
        return fb_fail(err, err_len, CONFIG_ERR_TYPE, "contains a NUL character");

    switch (k->type) {
    case KEY_BOOL: {
        static const char *const yes[] = {"true", "yes", "on"};
        static const char *const no[] = {"false", "no", "off"};
        if (!v->plain)
            return fb_fail(err, err_len, CONFIG_ERR_TYPE,
                        "expected true or false, got the string '%s'", v->text);
        for (size_t i = 0; i < 3; i++) {
            if (strcasecmp(v->text, yes[i]) == 0) {
                *(bool *)(void *)field = true;
                return 0;
            }
            if (strcasecmp(v->text, no[i]) == 0) {
                *(bool *)(void *)field = false;
                return 0;
            }
        }
        return fb_fail(err, err_len, CONFIG_ERR_TYPE, "'%s' is not true or false", v->text);
    }

    case KEY_U32:
    case KEY_U64:
    case KEY_INT:
    case KEY_I64:
    case KEY_SIZE:
    case KEY_FLOAT:
    case KEY_DOUBLE: {
        bool is_int;
        fmt_range(range, sizeof range, k);
        bool integer = k->type != KEY_FLOAT && k->type != KEY_DOUBLE;
        if (!v->plain)
            return fb_fail(err, err_len, CONFIG_ERR_TYPE, "expected %s, got the string '%s' (%s)",
                        type_wanted(k), v->text, range);
        if (value_is_null(v))
            return fb_fail(err, err_len, CONFIG_ERR_TYPE, "expected %s, got nothing (%s)",
                        type_wanted(k), range);
        if (looks_non_finite(v->text))
            return fb_fail(err, err_len, CONFIG_ERR_TYPE, "%s is not a finite number (%s)",
                        v->text, range);
        if (!scan_number(v->text, &is_int))
            return fb_fail(err, err_len, CONFIG_ERR_TYPE, "expected %s, got '%s' (%s)",
                        type_wanted(k), v->text, range);
        if (integer && !is_int)
            return fb_fail(err, err_len, CONFIG_ERR_TYPE, "expected an integer, got %s (%s)",
                        v->text, range);
        if (!integer) {
            double d = strtod(v->text, NULL);
            if (!(d >= k->min && d <= k->max))
                return fb_fail(err, err_len, CONFIG_ERR_RANGE, "%s is out of range (%s)",
                            v->text, range);
            if (k->type == KEY_FLOAT) {
                /* A bound like 1e30 or 1e-6 is no float: rounding may step
                 * just outside it, where brain_params_check would refuse
                 * what the reader let in. Step back inside. */
                float f = (float)d;
                if ((double)f > k->max)
                    f = nextafterf(f, -INFINITY);
                if ((double)f < k->min)
                    f = nextafterf(f, INFINITY);
                *(float *)(void *)field = f;
            } else {
                *(double *)(void *)field = d;
            }
            return 0;
        }
        errno = 0;
        if (v->text[0] == '-' && k->min >= 0) {
            /* "-0" is zero; anything else negative cannot be unsigned. */
            bool zero = strspn(v->text + 1, "0") == strlen(v->text + 1);
            if (!zero)
                return fb_fail(err, err_len, CONFIG_ERR_TYPE, "%s is negative (%s)", v->text, range);
        }
        if (k->min >= 0) {
            unsigned long long u = strtoull(v->text, NULL, 10);
            if (v->text[0] == '-')
                u = 0;
            if (errno == ERANGE)
                return fb_fail(err, err_len, CONFIG_ERR_TYPE,
                            "%s does not fit in 64 bits (%s)", v->text, range);
            if ((double)u < k->min || (double)u > k->max)
                return fb_fail(err, err_len, CONFIG_ERR_RANGE, "%s is out of range (%s)",
                            v->text, range);
            if (k->type == KEY_U64) {
                *(uint64_t *)(void *)field = u;
            } else if (k->type == KEY_INT) {
                *(int *)(void *)field = (int)u;
            } else {
                uint32_t *f = (uint32_t *)(void *)field;
                f[0] = (uint32_t)u;
                if (k->type == KEY_SIZE) /* size_x, size_y, size_z follow each other */
                    f[1] = f[2] = (uint32_t)u;
            }
            return 0;
        }
        long long s = strtoll(v->text, NULL, 10);
        if (errno == ERANGE)
            return fb_fail(err, err_len, CONFIG_ERR_TYPE, "%s does not fit in 64 bits (%s)",
                        v->text, range);
        if ((double)s < k->min || (double)s > k->max)
            return fb_fail(err, err_len, CONFIG_ERR_RANGE, "%s is out of range (%s)", v->text, range);
        if (k->type == KEY_I64)
            *(int64_t *)(void *)field = s;
        else
            *(int *)(void *)field = (int)s;
        return 0;
    }

    case KEY_ENUM:
        if (!v->str_ok)
            return fb_fail(err, err_len, CONFIG_ERR_TYPE, "expected one of its names");
        fmt_choices(range, sizeof range, k->choices);
        for (int i = 0; k->choices[i]; i++)
            if (strcmp(v->text, k->choices[i]) == 0) {
                *(int *)(void *)field = i;
                return 0;
            }
        return fb_fail(err, err_len, CONFIG_ERR_RANGE, "'%s' is not one of %s", v->text, range);

    case KEY_STRING:
    case KEY_ENDPOINT:
    case KEY_CURVE: {
        if (!v->str_ok)
            return fb_fail(err, err_len, CONFIG_ERR_TYPE, "expected a string");
        const char *s = value_is_null(v) ? "" : v->text;
        size_t n = strlen(s);
        /* show writes every string back, which needs it to be text. The
         * byte is named, never the string: it may be a secret key. */
        long bad = utf8_invalid_at(s);
        if (bad >= 0)
            return fb_fail(err, err_len, CONFIG_ERR_RANGE,
                        "is not UTF-8 text: byte %ld (0x%02x) does not begin a well-formed "
                        "character (strings are UTF-8)",
                        bad + 1, (unsigned)(unsigned char)s[bad]);
        if (n >= k->len)
            return fb_fail(err, err_len, CONFIG_ERR_RANGE,
                        "is %zu bytes long (allowed up to %zu)", n, k->len - 1);
        if (k->type == KEY_ENDPOINT && !endpoint_ok(s))
            return fb_fail(err, err_len, CONFIG_ERR_RANGE,
                        "'%s' is not a ZeroMQ endpoint (allowed tcp://HOST:PORT, "
                        "ipc://PATH, inproc://NAME)", s);
        /* Never echo a key: a secret one would land in logs. */
        if (k->type == KEY_CURVE && n && !z85_ok(s))
            return fb_fail(err, err_len, CONFIG_ERR_RANGE,
                        "not a CURVE key: %zu characters%s (allowed empty or exactly 40 "
                        "Z85 characters)", n, n == 40 ? ", not all of them Z85 digits" : "");
        /* Zero the whole buffer, so that equal configs compare equal. */
        memset(field, 0, k->len);
        memcpy(field, s, n);
        return 0;
    }
    }
    return fb_fail(err, err_len, CONFIG_ERR_TYPE, "unknown key type");
}

/* ---- defaults ----------------------------------------------------------- */

static void copy_str(char *dst, size_t len, const char *src)
{
    memset(dst, 0, len);
    strncpy(dst, src, len - 1);
}

void config_default(config *c)
{
    memset(c, 0, sizeof *c);
    brain_params_default(&c->brain);

    c->loop.mode = LOOP_FIXED_RATE;
    c->loop.rate_hz = 100;
    c->loop.realtime = false;
    c->loop.cpu = -1;
    c->loop.stats_window = 1000;

    copy_str(c->link.sensor_endpoint, CONFIG_STR, "tcp://127.0.0.1:5555");
    copy_str(c->link.motor_endpoint, CONFIG_STR, "tcp://127.0.0.1:5556");
    c->link.timeout_ms = 500;
    c->link.max_message_bytes = 65536;
    c->link.robot_id = 1;
    c->link.sensor_limit = 1000;

    c->telemetry.enabled = true;
    copy_str(c->telemetry.endpoint, CONFIG_STR, "tcp://127.0.0.1:5557");
    c->telemetry.every = 10;
    c->telemetry.slice_every = 100;
    c->telemetry.slice_axis = 2;
    c->telemetry.slice_index = -1;
    c->telemetry.slice_channel = -1;
    c->telemetry.slice_robot = -1;       /* the fleet's first robot */
    c->telemetry.unencrypted = false;  /* CURVE keys "": the link's */

    c->checkpoint.every_s = 0;
    c->checkpoint.on_exit = true;

    c->record.max_mb = 256;

    c->sim.mode = SIM_REALTIME;
    c->sim.sensor_hz = 100;
    c->sim.motor_timeout_ms = 300;
    c->sim.duration_s = 0;

    c->control.enabled = true;
    copy_str(c->control.endpoint, CONFIG_STR, "tcp://127.0.0.1:5558");
}

/* ---- checks between keys ------------------------------------------------ */

/* host and port of a tcp endpoint, for "two sockets on one port". */
static bool tcp_split(const char *ep, char *host, size_t host_len, const char **port)
{
    if (strncmp(ep, "tcp://", 6) != 0)
        return false;
    const char *colon = strrchr(ep + 6, ':');
    if (!colon)
        return false;
    size_t n = (size_t)(colon - (ep + 6));
    if (n >= host_len)
        n = host_len - 1;
    memcpy(host, ep + 6, n);
    host[n] = '\0';
    *port = colon + 1;
    return true;
}

static bool endpoints_clash(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return true;
    char ha[CONFIG_STR], hb[CONFIG_STR];
    const char *pa, *pb;
    if (!tcp_split(a, ha, sizeof ha, &pa) || !tcp_split(b, hb, sizeof hb, &pb))
        return false;
    if (strcmp(pa, "*") == 0 || strcmp(pa, pb) != 0)
        return false;
    bool any_a = strcmp(ha, "*") == 0 || strcmp(ha, "0.0.0.0") == 0;
    bool any_b = strcmp(hb, "*") == 0 || strcmp(hb, "0.0.0.0") == 0;
    return any_a || any_b || strcmp(ha, hb) == 0;
}

/* ---- where keys were set ------------------------------------------------ */

/* Key index of section: remembers that it was set at line:column (line 0:
 * by config_set), later than everything set before. */
static void place_record(config *c, size_t section, size_t index, uint32_t line,
                         uint32_t column)
{
    config_place *p = NULL;
    for (uint32_t i = 0; i < c->origin.count; i++)
        if (c->origin.at[i].section == section && c->origin.at[i].index == index)
            p = &c->origin.at[i];
    if (!p) {
        if (c->origin.count >= CONFIG_PLACES)
            return; /* cannot happen (a test sets every key); messages would lose the place */
        p = &c->origin.at[c->origin.count++];
    }
    *p = (config_place){.line = line, .column = column, .order = ++c->origin.sets,
                        .section = (uint16_t)section, .index = (uint16_t)index};
}

#define FULL_NAME_LEN 96

/* "section.key" of a place; "" if the place names no key. */
static void place_name(const config_place *p, char *buf)
{
    config_key k;
    buf[0] = '\0';
    if (p->section < N_SECTIONS && key_at(p->section, p->index, &k))
        snprintf(buf, FULL_NAME_LEN, "%s.%s", k.section, k.key);
}

/* The place of whichever of keys ("section.key") was set last; NULL when
 * none was set. brain.size stands for each of brain.size_x/y/z. */
static const config_place *place_last(const config *c, const char *const *keys, size_t n)
{
    const config_place *best = NULL;
    for (uint32_t i = 0; i < c->origin.count && i < CONFIG_PLACES; i++) {
        const config_place *p = &c->origin.at[i];
        char have[FULL_NAME_LEN];
        place_name(p, have);
        bool size = strcmp(have, "brain.size") == 0;
        for (size_t j = 0; j < n; j++) {
            bool match = strcmp(have, keys[j]) == 0 ||
                         (size && strncmp(keys[j], "brain.size_", 11) == 0);
            if (match && (!best || p->order > best->order))
                best = p;
        }
    }
    return best;
}

static bool key_is_set(const config *c, const char *key)
{
    return place_last(c, &key, 1) != NULL;
}

/* A failed check between keys: "name:line:column: what" at the last set
 * of the keys that decide it (see config.h for the other two forms). */
__attribute__((format(printf, 7, 8)))
static int check_fail(const config *c, const char *name, char *err, size_t err_len,
                      const char *const *keys, size_t n, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const config_place *p = place_last(c, keys, n);
    if (!p)
        return fb_fail(err, err_len, CONFIG_ERR_RANGE, "%s: %s", name, what);
    if (p->line)
        return fb_fail(err, err_len, CONFIG_ERR_RANGE, "%s:%u:%u: %s", name, p->line,
                       p->column, what);
    char who[FULL_NAME_LEN];
    place_name(p, who);
    return fb_fail(err, err_len, CONFIG_ERR_RANGE, "%s: %s [%s set on the command line]", name,
                   what, who);
}

#define N_OF(a) (sizeof (a) / sizeof (a)[0])

/* brain_params_check and brain_params_check_bounds say "key: what"; which
 * keys decide it follows from that first word. */
static int check_brain(const config *c, const char *name, char *err, size_t err_len,
                       const char *msg, bool bounds)
{
    static const char *const field[] = {
        "brain.size_x", "brain.size_y", "brain.size_z", "brain.channels",
    };
    static const char *const f16_cpu[] = {"brain.precision", "brain.backend"};
    /* Everything brain_params_check_bounds reads: the bound on |F| (and
     * with f32 the sums over the field and the motor readout, with f16 the
     * precision). */
    static const char *const overflow[] = {
        "brain.clamp_limit", "brain.init_std", "brain.sensors", "brain.sensor_gain",
        "brain.noise_std", "brain.momentum_gain", "brain.energy_std", "link.sensor_limit",
        "brain.size_x", "brain.size_y", "brain.size_z", "brain.channels", "brain.motor_gain",
    };
    static const char *const overflow_f16[] = {
        "brain.clamp_limit", "brain.init_std", "brain.sensors", "brain.sensor_gain",
        "brain.noise_std", "brain.momentum_gain", "brain.energy_std", "link.sensor_limit",
        "brain.precision",
    };
    char first[FULL_NAME_LEN];
    size_t len = strcspn(msg, ":,");
    snprintf(first, sizeof first, "brain.%.*s", (int)(len < 64 ? len : 64), msg);
    const char *one[] = {first};
    const char *const *keys = one;
    size_t n = 1;
    bool precision = strcmp(first, "brain.precision") == 0;
    if (bounds) {
        keys = precision ? overflow_f16 : overflow;
        n = precision ? N_OF(overflow_f16) : N_OF(overflow);
    } else if (strcmp(first, "brain.field") == 0) {
        keys = field;
        n = N_OF(field);
    } else if (precision && c->brain.precision == BRAIN_PRECISION_F16 &&
               c->brain.backend == BRAIN_BACKEND_CPU) {
        keys = f16_cpu;
        n = N_OF(f16_cpu);
    }
    return check_fail(c, name, err, err_len, keys, n, "brain.%s", msg);
}

/* ---- the fleet ------------------------------------------------------------ */

/* path with "-ID" before a ".json" ending, else at its end; false when it
 * does not fit. */
static bool robot_path(char *out, size_t len, const char *path, uint32_t id)
{
    size_t n = strlen(path);
    bool json = n >= 5 && strcmp(path + n - 5, ".json") == 0;
    int w = json ? snprintf(out, len, "%.*s-%u.json", (int)(n - 5), path, id)
                 : snprintf(out, len, "%s-%u", path, id);
    return w >= 0 && (size_t)w < len;
}

/* The fleet as config_fleet resolves it; false when a path does not fit
 * (then *bad is the robot's place). */
static bool fleet_resolve(const config *c, config_fleet_robot *out, uint32_t *n, uint32_t *bad)
{
    if (c->robots.count == 0) {
        out[0] = (config_fleet_robot){.id = c->link.robot_id, .seed = c->brain.seed};
        snprintf(out[0].checkpoint, CONFIG_STR, "%s", c->checkpoint.path);
        snprintf(out[0].record, CONFIG_STR, "%s", c->record.path);
        *n = 1;
        return true;
    }
    *n = c->robots.count;
    for (uint32_t i = 0; i < c->robots.count; i++) {
        const config_robot *r = &c->robots.robot[i];
        config_fleet_robot *o = &out[i];
        *o = (config_fleet_robot){.id = r->id, .seed = r->has_seed ? r->seed : c->brain.seed + i};
        bool ok = true;
        if (r->checkpoint[0])
            snprintf(o->checkpoint, CONFIG_STR, "%s", r->checkpoint);
        else if (c->checkpoint.path[0])
            ok = robot_path(o->checkpoint, CONFIG_STR, c->checkpoint.path, r->id);
        if (ok && c->record.path[0]) {
            int w = snprintf(o->record, CONFIG_STR, "%s/robot-%u", c->record.path, r->id);
            ok = w >= 0 && w < CONFIG_STR;
        }
        if (!ok) {
            *bad = i;
            return false;
        }
    }
    return true;
}

uint32_t config_fleet(const config *c, config_fleet_robot *out)
{
    uint32_t n = 0, bad = 0;
    fleet_resolve(c, out, &n, &bad);
    return n;
}

/* A failed check of robot i: "name:line:column: what" at its entry in the
 * file, "name: what" when the list was not read from one. */
__attribute__((format(printf, 6, 7)))
static int robot_fail(const config *c, uint32_t i, const char *name, char *err, size_t err_len,
                      const char *fmt, ...)
{
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (!c->origin.robot_line[i])
        return fb_fail(err, err_len, CONFIG_ERR_RANGE, "%s: %s", name, what);
    return fb_fail(err, err_len, CONFIG_ERR_RANGE, "%s:%u:%u: %s", name, c->origin.robot_line[i],
                   c->origin.robot_column[i], what);
}

/* Ids and paths each robot's own. */
static int check_robots(const config *c, const char *name, char *err, size_t err_len)
{
    config_fleet_robot *f = malloc(sizeof *f * CONFIG_MAX_ROBOTS);
    if (!f)
        return fb_fail(err, err_len, CONFIG_ERR_IO, "%s: out of memory", name);
    uint32_t n = 0, bad = 0;
    int rc = CONFIG_OK;
    if (!fleet_resolve(c, f, &n, &bad))
        rc = robot_fail(c, bad, name, err, err_len,
                        "robots[%u]: its checkpoint or input log path (from checkpoint.path, "
                        "record.path) is longer than %d bytes", bad, CONFIG_STR - 1);
    for (uint32_t i = 1; rc == CONFIG_OK && i < n; i++)
        for (uint32_t j = 0; rc == CONFIG_OK && j < i; j++) {
            if (f[i].id == f[j].id)
                rc = robot_fail(c, i, name, err, err_len,
                                "robots[%u].id: %u is also robots[%u]'s (each robot needs its own id)",
                                i, f[i].id, j);
            else if (f[i].checkpoint[0] && strcmp(f[i].checkpoint, f[j].checkpoint) == 0)
                rc = robot_fail(c, i, name, err, err_len,
                                "robots[%u].checkpoint: '%s' is also robots[%u]'s (each robot "
                                "needs its own)", i, f[i].checkpoint, j);
        }
    for (uint32_t i = 0; rc == CONFIG_OK && i < n; i++)
        if (c->checkpoint.every_s > 0 && !f[i].checkpoint[0])
            rc = robot_fail(c, i, name, err, err_len,
                            "robots[%u]: checkpoint.every_s %g needs a checkpoint for every "
                            "robot (checkpoint.path, or the robot's checkpoint)", i,
                            c->checkpoint.every_s);
    free(f);
    return rc;
}

int config_check(const config *c, const char *name, char *err, size_t err_len)
{
    char msg[512];
    if (brain_params_check(&c->brain, msg, sizeof msg))
        return check_brain(c, name, err, err_len, msg, false);

    if (brain_params_check_bounds(&c->brain, c->link.sensor_limit, NULL, msg, sizeof msg))
        return check_brain(c, name, err, err_len, msg, true);

    struct { const char *key; const char *ep; } eps[] = {
        {"link.sensor_endpoint", c->link.sensor_endpoint},
        {"link.motor_endpoint", c->link.motor_endpoint},
        {"telemetry.endpoint", c->telemetry.endpoint},
        {"control.endpoint", c->control.endpoint},
    };
    bool in_use[] = {true, true, c->telemetry.enabled, c->control.enabled};
    for (size_t i = 1; i < sizeof eps / sizeof eps[0]; i++)
        for (size_t j = 0; j < i; j++) {
            if (!in_use[i] || !in_use[j] || !endpoints_clash(eps[i].ep, eps[j].ep))
                continue;
            /* The message is about the later of the two. */
            const config_place *pi = place_last(c, &eps[i].key, 1);
            const config_place *pj = place_last(c, &eps[j].key, 1);
            size_t later = pj && (!pi || pj->order > pi->order) ? j : i;
            size_t other = later == i ? j : i;
            const char *later_key[] = {eps[later].key};
            return check_fail(c, name, err, err_len, later_key, 1,
                              "%s: '%s' takes the same address as %s '%s' (%seach socket "
                              "needs its own)",
                              eps[later].key, eps[later].ep, eps[other].key, eps[other].ep,
                              key_is_set(c, eps[other].key) ? "" : "its default; ");
        }

    bool secret = c->link.curve_secret_key[0] != '\0';
    bool public = c->link.curve_public_key[0] != '\0';
    if (secret != public) {
        const char *set[] = {secret ? "link.curve_secret_key" : "link.curve_public_key"};
        return check_fail(c, name, err, err_len, set, 1,
                          "%s: missing: CURVE needs both link.curve_secret_key and "
                          "link.curve_public_key (or neither)",
                          secret ? "link.curve_public_key" : "link.curve_secret_key");
    }
    if (c->link.curve_client_keys[0] && !secret) {
        static const char *const set[] = {"link.curve_client_keys"};
        return check_fail(c, name, err, err_len, set, 1,
                          "link.curve_client_keys: needs link.curve_secret_key and "
                          "link.curve_public_key (without them the link is not encrypted)");
    }

    const uint32_t sizes[3] = {c->brain.size_x, c->brain.size_y, c->brain.size_z};
    uint32_t axis = c->telemetry.slice_axis;
    if (axis <= 2 && c->telemetry.slice_index >= 0 &&
        (uint32_t)c->telemetry.slice_index >= sizes[axis]) {
        char size_key[32];
        snprintf(size_key, sizeof size_key, "brain.size_%c", "xyz"[axis]);
        const char *keys[] = {"telemetry.slice_index", "telemetry.slice_axis", size_key};
        return check_fail(c, name, err, err_len, keys, N_OF(keys),
                          "telemetry.slice_index: %d is outside the field (allowed -1 to %u: "
                          "%s is %u%s)",
                          c->telemetry.slice_index, sizes[axis] - 1, size_key, sizes[axis],
                          key_is_set(c, size_key) ? "" : ", its default");
    }
    if (c->telemetry.slice_channel >= 0 &&
        (uint32_t)c->telemetry.slice_channel >= c->brain.channels) {
        static const char *const keys[] = {"telemetry.slice_channel", "brain.channels"};
        return check_fail(c, name, err, err_len, keys, N_OF(keys),
                          "telemetry.slice_channel: %d is outside the field (allowed -1 to %u: "
                          "brain.channels is %u%s)",
                          c->telemetry.slice_channel, c->brain.channels - 1, c->brain.channels,
                          key_is_set(c, "brain.channels") ? "" : ", its default");
    }

    /* Telemetry's CURVE keys: the same rules as the link's, and none with
     * unencrypted, which would silently win over them. */
    bool t_secret = c->telemetry.curve_secret_key[0] != '\0';
    bool t_public = c->telemetry.curve_public_key[0] != '\0';
    if (t_secret != t_public) {
        const char *set[] = {t_secret ? "telemetry.curve_secret_key" : "telemetry.curve_public_key"};
        return check_fail(c, name, err, err_len, set, 1,
                          "%s: missing: telemetry's own CURVE keys need both "
                          "telemetry.curve_secret_key and telemetry.curve_public_key (or "
                          "neither: the link's)",
                          t_secret ? "telemetry.curve_public_key" : "telemetry.curve_secret_key");
    }
    if (c->telemetry.curve_client_keys[0] && !t_secret && !secret) {
        static const char *const set[] = {"telemetry.curve_client_keys"};
        return check_fail(c, name, err, err_len, set, 1,
                          "telemetry.curve_client_keys: needs telemetry.curve_secret_key and "
                          "telemetry.curve_public_key, or the link's (without them telemetry "
                          "is not encrypted)");
    }
    if (c->telemetry.unencrypted && (t_secret || c->telemetry.curve_client_keys[0])) {
        const char *keys[] = {t_secret ? "telemetry.curve_secret_key" : "telemetry.curve_client_keys",
                              "telemetry.unencrypted"};
        return check_fail(c, name, err, err_len, keys, N_OF(keys),
                          "telemetry.unencrypted: true contradicts %s (choose one)", keys[0]);
    }

    if (c->telemetry.slice_robot >= 0) {
        /* The ids config_fleet resolves: the list's, or link.robot_id. */
        uint32_t want = (uint32_t)c->telemetry.slice_robot;
        bool found = c->robots.count == 0 && c->link.robot_id == want;
        for (uint32_t i = 0; i < c->robots.count && !found; i++)
            found = c->robots.robot[i].id == want;
        if (!found) {
            static const char *const keys[] = {"telemetry.slice_robot"};
            char ids[96] = "";
            if (c->robots.count == 0)
                snprintf(ids, sizeof ids, "link.robot_id %u", c->link.robot_id);
            for (uint32_t i = 0, used = 0; i < c->robots.count && used + 16 < sizeof ids; i++) {
                int n = snprintf(ids + used, sizeof ids - used, "%s%u", i ? ", " : "robots ",
                                 c->robots.robot[i].id);
                used += n > 0 ? (uint32_t)n : 0;
                if (i == 5 && c->robots.count > 6) {
                    snprintf(ids + used, sizeof ids - used, ", ...");
                    break;
                }
            }
            return check_fail(c, name, err, err_len, keys, N_OF(keys),
                              "telemetry.slice_robot: %lld is no robot of the fleet (%s; -1: the "
                              "first)", (long long)c->telemetry.slice_robot, ids);
        }
    }
    const size_t frame = wire_message_bytes(c->brain.sensors);
    if (c->link.max_message_bytes < frame) {
        static const char *const keys[] = {"link.max_message_bytes", "brain.sensors"};
        return check_fail(c, name, err, err_len, keys, N_OF(keys),
                          "link.max_message_bytes: %u is less than one sensor message of this brain "
                          "(48 + 4 x brain.sensors = %zu bytes): every message would be dropped",
                          c->link.max_message_bytes, frame);
    }
    const uint64_t elements =
        (uint64_t)c->brain.size_x * c->brain.size_y * c->brain.size_z * c->brain.channels;
    const uint64_t budget = inlog_min_budget_bytes(elements);
    if (c->record.path[0] && ((uint64_t)c->record.max_mb << 20) < budget) {
        static const char *const keys[] = {"record.max_mb", "record.path"};
        return check_fail(c, name, err, err_len, keys, N_OF(keys),
                          "record.max_mb: %u MiB cannot hold a few segments of this brain (each "
                          "starts with a %.1f MiB checkpoint): allowed at least %llu",
                          c->record.max_mb, (double)inlog_checkpoint_bytes(elements) / (1 << 20),
                          (unsigned long long)((budget + (1u << 20) - 1) >> 20));
    }
    if (c->robots.count > 0)
        return check_robots(c, name, err, err_len);
    if (c->checkpoint.every_s > 0 && c->checkpoint.path[0] == '\0') {
        static const char *const keys[] = {"checkpoint.every_s", "checkpoint.path"};
        return check_fail(c, name, err, err_len, keys, N_OF(keys),
                          "checkpoint.every_s: %g needs checkpoint.path (it is %s)",
                          c->checkpoint.every_s,
                          key_is_set(c, "checkpoint.path") ? "empty" : "not set");
    }
    return CONFIG_OK;
}

int config_warnings(const config *c, char *warn, size_t warn_len)
{
    int count = 0;
    size_t used = 0;
    char line[512];
    if (warn && warn_len)
        warn[0] = '\0';
    for (int w = 0; w < 6; w++) {
        bool on = false;
        if (w == 0) {
            char why[400];
            on = brain_params_unstable(&c->brain, why, sizeof why);
            if (on)
                snprintf(line, sizeof line, "brain.momentum_gain: %s", why);
        } else if (w == 1 && c->sim.mode == SIM_LOCKSTEP && c->loop.mode != LOOP_LOCKSTEP) {
            /* A warning, not an error: the sim and the brain are separate
             * programs, often started from separate files and flags. */
            on = true;
            snprintf(line, sizeof line,
                     "sim.mode: lockstep but loop.mode: fixed_rate: the sim waits for each "
                     "answer, so a fixed-rate brain paces it at loop.rate_hz instead of "
                     "stepping with it (set loop.mode: lockstep for the brain)");
        } else if (w == 2 && c->brain.validation && c->brain.backend == BRAIN_BACKEND_CPU) {
            on = true;
            snprintf(line, sizeof line,
                     "brain.validation: true has no effect with brain.backend: cpu");
        } else if (w == 3 && c->telemetry.enabled && c->telemetry.unencrypted) {
            on = true;
            snprintf(line, sizeof line,
                     "telemetry.unencrypted: true: telemetry (motors, link state, the field) "
                     "goes out on %s without CURVE, to anyone who reaches it",
                     c->telemetry.endpoint);
        } else if (w == 4 && !c->link.curve_secret_key[0]) {
            /* the link's endpoints off this machine without CURVE (the first) */
            const bool sensor_off = !io_endpoint_is_local(c->link.sensor_endpoint);
            on = sensor_off || !io_endpoint_is_local(c->link.motor_endpoint);
            if (on)
                snprintf(line, sizeof line,
                         "link.%s_endpoint: %s is not a loopback address and CURVE is off: anyone "
                         "who reaches it can drive the robot (set link.curve_secret_key)",
                         sensor_off ? "sensor" : "motor",
                         sensor_off ? c->link.sensor_endpoint : c->link.motor_endpoint);
        } else if (w == 5 && c->control.enabled && !c->link.curve_secret_key[0] &&
                   !io_endpoint_is_local(c->control.endpoint)) {
            on = true;
            snprintf(line, sizeof line,
                     "control.endpoint: %s is not on loopback and the link has no CURVE keys: "
                     "anyone who reaches it can change the brain", c->control.endpoint);
        }
        if (!on)
            continue;
        count++;
        if (warn && used < warn_len) {
            int n = snprintf(warn + used, warn_len - used, "%s%s", used ? "\n" : "", line);
            if (n > 0)
                used += (size_t)n;
        }
    }
    return count;
}

/* ---- the reader --------------------------------------------------------- */

typedef struct {
    yaml_parser_t parser;
    const char *input;   /* the whole text, for the place of a reader error */
    const char *name;
    char *err;
    size_t err_len;
} reader;

#define NAME_MAX_LEN 64

/* The line and column (1-based, columns in characters as libyaml counts
 * them) of byte offset of text, which has at least that many bytes. */
static void text_place(const char *text, size_t offset, size_t *line, size_t *column)
{
    *line = 1;
    *column = 1;
    /* A byte inside a character is at that character's place. */
    while (offset > 0 && ((unsigned char)text[offset] & 0xC0) == 0x80)
        offset--;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *column = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            (*column)++;
        }
    }
}

/* The next event; a libyaml error becomes "file:line:column: YAML syntax
 * error: problem (context)". */
static int next_event(reader *r, yaml_event_t *ev)
{
    if (yaml_parser_parse(&r->parser, ev)) {
        /* Tags would make a value other than it reads (!!int 8 a string to
         * a reader that goes by style): none is taken, so none misleads. */
        const yaml_char_t *tag = ev->type == YAML_SCALAR_EVENT           ? ev->data.scalar.tag
                               : ev->type == YAML_MAPPING_START_EVENT  ? ev->data.mapping_start.tag
                               : ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.tag
                                                                       : NULL;
        if (!tag)
            return 0;
        static const char core[] = "tag:yaml.org,2002:";
        const char *t = (const char *)tag;
        const bool short_form = strncmp(t, core, sizeof core - 1) == 0;
        yaml_mark_t m = ev->start_mark;
        int rc = fb_fail(r->err, r->err_len, CONFIG_ERR_TYPE,
                         "%s:%zu:%zu: the YAML tag %s%.64s is not read: write the value alone "
                         "(quotes make a string)", r->name, m.line + 1, m.column + 1,
                         short_form ? "!!" : "", short_form ? t + sizeof core - 1 : t);
        yaml_event_delete(ev);
        return rc;
    }
    const yaml_parser_t *p = &r->parser;
    if (p->error == YAML_MEMORY_ERROR)
        return fb_fail(r->err, r->err_len, CONFIG_ERR_IO, "%s: out of memory", r->name);
    yaml_mark_t m = p->problem_mark;
    if (p->error == YAML_READER_ERROR) {
        /* The reader knows only a byte offset: count lines up to it. */
        size_t line, column, n = strlen(r->input);
        text_place(r->input, p->problem_offset < n ? p->problem_offset : n, &line, &column);
        return fb_fail(r->err, r->err_len, CONFIG_ERR_SYNTAX,
                    "%s:%zu:%zu: YAML syntax error: %s (byte 0x%02x)", r->name, line, column,
                    p->problem ? p->problem : "unreadable input", (unsigned)p->problem_value & 0xFF);
    }
    if (p->context)
        return fb_fail(r->err, r->err_len, CONFIG_ERR_SYNTAX,
                    "%s:%zu:%zu: YAML syntax error: %s (%s at line %zu)", r->name,
                    m.line + 1, m.column + 1, p->problem ? p->problem : "?", p->context,
                    p->context_mark.line + 1);
    return fb_fail(r->err, r->err_len, CONFIG_ERR_SYNTAX, "%s:%zu:%zu: YAML syntax error: %s",
                r->name, m.line + 1, m.column + 1, p->problem ? p->problem : "?");
}

static const char *event_kind(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT: return "scalar";
    case YAML_MAPPING_START_EVENT: return "mapping";
    case YAML_SEQUENCE_START_EVENT: return "sequence";
    case YAML_ALIAS_EVENT: return "alias";
    default: return "event";
    }
}

static value event_value(const yaml_event_t *ev)
{
    value v = {.text = "", .kind = event_kind(ev)};
    if (ev->type == YAML_SCALAR_EVENT) {
        const char *tag = (const char *)ev->data.scalar.tag;
        v.text = (const char *)ev->data.scalar.value;
        v.length = ev->data.scalar.length;
        v.plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag;
        v.str_ok = !tag || strcmp(tag, YAML_STR_TAG) == 0;
    }
    return v;
}

/* A key as a C string, cut to fit messages; "" if it is not a scalar.
 * Returns false when buf is not the whole name (too long, or a NUL inside),
 * which then matches no key even if its start does. */
static bool event_name(const yaml_event_t *ev, char *buf)
{
    buf[0] = '\0';
    if (ev->type != YAML_SCALAR_EVENT)
        return false;
    const char *v = (const char *)ev->data.scalar.value;
    snprintf(buf, NAME_MAX_LEN, "%s", v);
    return ev->data.scalar.length < NAME_MAX_LEN && strlen(v) == ev->data.scalar.length;
}

/* The next key of a mapping: *end at the mapping's end, else the key's
 * name (*whole: all of it, see event_name) and place. A key that is not a
 * scalar is "file:line:column: <expected>, got a <kind>". */
static int next_key(reader *r, const char *expected, char *name, bool *whole, yaml_mark_t *mark,
                    bool *end)
{
    yaml_event_t ev;
    int rc = next_event(r, &ev);
    if (rc)
        return rc;
    *end = ev.type == YAML_MAPPING_END_EVENT;
    *mark = ev.start_mark;
    *whole = event_name(&ev, name);
    bool scalar = ev.type == YAML_SCALAR_EVENT;
    const char *kind = event_kind(&ev);
    yaml_event_delete(&ev);
    if (!*end && !scalar)
        return fb_fail(r->err, r->err_len, CONFIG_ERR_SYNTAX, "%s:%zu:%zu: %s, got a %s", r->name,
                       mark->line + 1, mark->column + 1, expected, kind);
    return 0;
}

/* The value of key k (named `label` in messages, "brain.decay") into c; a
 * value it refuses is "file:line:column: label: what is wrong". */
static int read_value(reader *r, config *c, const config_key *k, const char *label)
{
    yaml_event_t ev;
    int rc = next_event(r, &ev);
    if (rc)
        return rc;
    yaml_mark_t vm = ev.start_mark;
    value v = event_value(&ev);
    char what[400];
    rc = set_value(c, k, &v, what, sizeof what);
    yaml_event_delete(&ev);
    if (rc)
        return fb_fail(r->err, r->err_len, rc, "%s:%zu:%zu: %s: %s", r->name, vm.line + 1,
                       vm.column + 1, label, what);
    return 0;
}

/* Reads one section's mapping (the MAPPING_START is consumed). */
static int read_section(reader *r, config *c, size_t section, size_t *size_line)
{
    const char *sname = config_sections[section];
    size_t seen_line[160] = {0};   /* 1-based line where key i was set */
    int rc;
    char expected[64];
    snprintf(expected, sizeof expected, "%s: expected a key name", sname);
    for (;;) {
        yaml_mark_t km;
        char key[NAME_MAX_LEN];
        bool whole, end;
        if ((rc = next_key(r, expected, key, &whole, &km, &end)))
            return rc;
        if (end)
            return 0;

        config_key k;
        int idx = whole ? key_find(section, key, &k) : -1;
        if (idx < 0) {
            char hint[96] = " (too long, or a NUL inside)";
            if (whole)
                suggest_key(hint, sizeof hint, section, key);
            return fb_fail(r->err, r->err_len, CONFIG_ERR_KEY, "%s:%zu:%zu: %s.%s: unknown key%s",
                        r->name, km.line + 1, km.column + 1, sname, key, hint);
        }
        if ((size_t)idx < sizeof seen_line / sizeof seen_line[0]) {
            if (seen_line[idx])
                return fb_fail(r->err, r->err_len, CONFIG_ERR_KEY,
                            "%s:%zu:%zu: %s.%s: duplicate key (first set at line %zu)",
                            r->name, km.line + 1, km.column + 1, sname, key, seen_line[idx]);
            seen_line[idx] = km.line + 1;
        }
        /* size and size_x/y/z both: which wins would depend on the order. */
        if (section == 0) {
            bool is_size = k.type == KEY_SIZE;
            bool is_axis = strncmp(key, "size_", 5) == 0;
            if ((is_size || is_axis) && size_line[is_size] == 0)
                size_line[is_size] = km.line + 1;
            if ((is_size && size_line[0]) || (is_axis && size_line[1]))
                return fb_fail(r->err, r->err_len, CONFIG_ERR_KEY,
                            "%s:%zu:%zu: brain.%s: not with brain.%s at line %zu "
                            "(size sets all three of size_x, size_y, size_z)",
                            r->name, km.line + 1, km.column + 1, key,
                            is_size ? "size_x/size_y/size_z" : "size",
                            size_line[!is_size]);
        }

        char label[2 * NAME_MAX_LEN];
        snprintf(label, sizeof label, "%s.%s", sname, key);
        if ((rc = read_value(r, c, &k, label)))
            return rc;
        place_record(c, section, (size_t)idx, (uint32_t)km.line + 1, (uint32_t)km.column + 1);
        /* A mapping or sequence value was refused above, so nothing nested
         * is left to skip. */
    }
}

/* ---- the robots list ------------------------------------------------------ */

/* The keys of one entry of robots, stored in c->robots.robot[i]. */
static const struct {
    const char *key;
    key_type type;
    size_t offset, len;
    const char *doc;
} robot_keys[] = {
    {"id", KEY_U32, offsetof(config_robot, id), 0, "its robot id on the wire"},
    {"seed", KEY_U64, offsetof(config_robot, seed), 0,
     "its brain's seed; default brain.seed + its place in the list"},
    {"checkpoint", KEY_STRING, offsetof(config_robot, checkpoint), CONFIG_STR,
     "its checkpoint; default checkpoint.path with -ID before .json"},
};
#define N_ROBOT_KEYS (sizeof robot_keys / sizeof robot_keys[0])

static config_key robot_key(size_t robot, size_t k)
{
    return (config_key){
        .section = "robots", .key = robot_keys[k].key, .type = robot_keys[k].type,
        .offset = offsetof(config, robots.robot) + robot * sizeof(config_robot) + robot_keys[k].offset,
        .len = robot_keys[k].len, .min = 0,
        /* 4294967295 names the whole fleet in events (LOOP_FLEET_ROBOT). */
        .max = robot_keys[k].type == KEY_U32 ? 4294967294.0 : 18446744073709551615.0,
        .doc = robot_keys[k].doc,
    };
}

/* Reads robots' sequence of mappings (the SEQUENCE_START is consumed). */
static int read_robots(reader *r, config *c)
{
    yaml_event_t ev;
    int rc;
    for (;;) {
        if ((rc = next_event(r, &ev)))
            return rc;
        yaml_mark_t em = ev.start_mark;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        bool mapping = ev.type == YAML_MAPPING_START_EVENT;
        const char *kind = event_kind(&ev);
        yaml_event_delete(&ev);
        if (!mapping)
            return fb_fail(r->err, r->err_len, CONFIG_ERR_TYPE,
                           "%s:%zu:%zu: robots: each robot is a mapping (id, seed, checkpoint), "
                           "got a %s", r->name, em.line + 1, em.column + 1, kind);
        uint32_t i = c->robots.count;
        if (i >= CONFIG_MAX_ROBOTS)
            return fb_fail(r->err, r->err_len, CONFIG_ERR_RANGE,
                           "%s:%zu:%zu: robots: more than %u robots (a larger fleet is split "
                           "over several fieldbrain processes)", r->name, em.line + 1,
                           em.column + 1, CONFIG_MAX_ROBOTS);
        c->robots.count = i + 1;
        c->origin.robot_line[i] = (uint32_t)em.line + 1;
        c->origin.robot_column[i] = (uint32_t)em.column + 1;
        size_t seen_line[N_ROBOT_KEYS] = {0};
        char expected[64];
        snprintf(expected, sizeof expected, "robots[%u]: expected a key name", i);
        for (;;) {
            yaml_mark_t km;
            char key[NAME_MAX_LEN];
            bool whole, end;
            if ((rc = next_key(r, expected, key, &whole, &km, &end)))
                return rc;
            if (end)
                break;
            size_t k = 0;
            while (k < N_ROBOT_KEYS && !(whole && strcmp(robot_keys[k].key, key) == 0))
                k++;
            if (k == N_ROBOT_KEYS)
                return fb_fail(r->err, r->err_len, CONFIG_ERR_KEY,
                               "%s:%zu:%zu: robots[%u].%s: unknown key (allowed id, seed, "
                               "checkpoint)", r->name, km.line + 1, km.column + 1, i, key);
            if (seen_line[k])
                return fb_fail(r->err, r->err_len, CONFIG_ERR_KEY,
                               "%s:%zu:%zu: robots[%u].%s: duplicate key (first set at line %zu)",
                               r->name, km.line + 1, km.column + 1, i, key, seen_line[k]);
            seen_line[k] = km.line + 1;
            config_key ck = robot_key(i, k);
            char label[NAME_MAX_LEN + 24];
            snprintf(label, sizeof label, "robots[%u].%s", i, key);
            if ((rc = read_value(r, c, &ck, label)))
                return rc;
            if (k == 1)
                c->robots.robot[i].has_seed = true;
        }
        if (!seen_line[0])
            return fb_fail(r->err, r->err_len, CONFIG_ERR_KEY,
                           "%s:%zu:%zu: robots[%u]: missing id (each robot needs its robot id)",
                           r->name, em.line + 1, em.column + 1, i);
    }
}

static int read_document(reader *r, config *c)
{
    yaml_event_t ev;
    int rc;
    size_t section_line[N_SECTIONS] = {0};
    size_t size_line[2] = {0, 0}; /* brain.size_x/y/z, brain.size */

    if ((rc = next_event(r, &ev)))
        return rc;
    yaml_event_delete(&ev); /* STREAM_START */
    if ((rc = next_event(r, &ev)))
        return rc;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return fb_fail(r->err, r->err_len, CONFIG_ERR_SYNTAX,
                    "%s:1:1: the file is empty (expected a mapping of sections: brain, loop, "
                    "link, telemetry, checkpoint, sim, record, control, robots)", r->name);
    }
    yaml_event_delete(&ev); /* DOCUMENT_START */

    if ((rc = next_event(r, &ev)))
        return rc;
    yaml_mark_t rm = ev.start_mark;
    if (ev.type != YAML_MAPPING_START_EVENT) {
        value v = event_value(&ev);
        bool empty = ev.type == YAML_SCALAR_EVENT && value_is_null(&v);
        if (empty) /* "---" alone: no place in it is more wrong than another */
            rm.line = rm.column = 0;
        rc = fb_fail(r->err, r->err_len, CONFIG_ERR_SYNTAX,
                  "%s:%zu:%zu: %s (expected a mapping of sections: brain, loop, link, "
                  "telemetry, checkpoint, sim, record, control, robots)", r->name, rm.line + 1, rm.column + 1,
                  empty ? "the file is empty" :
                  ev.type == YAML_SCALAR_EVENT ? "the file is a single scalar" :
                  ev.type == YAML_SEQUENCE_START_EVENT ? "the file is a sequence" :
                  "the file is an alias");
        yaml_event_delete(&ev);
        return rc;
    }
    yaml_event_delete(&ev);

    for (;;) {
        yaml_mark_t sm;
        char name[NAME_MAX_LEN];
        bool whole, end;
        if ((rc = next_key(r, "expected a section name", name, &whole, &sm, &end)))
            return rc;
        if (end)
            break;
        if (whole && strcmp(name, "robots") == 0) {
            if (c->origin.robots_line)
                return fb_fail(r->err, r->err_len, CONFIG_ERR_KEY,
                               "%s:%zu:%zu: robots: duplicate section (first at line %u)", r->name,
                               sm.line + 1, sm.column + 1, c->origin.robots_line);
            c->origin.robots_line = (uint32_t)sm.line + 1;
            c->origin.robots_column = (uint32_t)sm.column + 1;
            if ((rc = next_event(r, &ev)))
                return rc;
            yaml_mark_t vm = ev.start_mark;
            value v = event_value(&ev);
            bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
            bool empty = ev.type == YAML_SCALAR_EVENT && value_is_null(&v);
            yaml_event_delete(&ev);
            if (seq && (rc = read_robots(r, c)))
                return rc;
            if (!seq && !empty)
                return fb_fail(r->err, r->err_len, CONFIG_ERR_TYPE,
                               "%s:%zu:%zu: robots: expected a list of robots (- id: 1), got a%s %s",
                               r->name, vm.line + 1, vm.column + 1, v.kind[0] == 'a' ? "n" : "",
                               v.kind);
            continue;
        }
        int s = whole ? section_index(name) : -1;
        if (s < 0) {
            static const char *const all_sections[] = {
                "brain", "loop", "link", "telemetry", "checkpoint", "sim", "record", "control",
                "robots",
            };
            _Static_assert(N_OF(all_sections) == N_SECTIONS + 1, "every section and robots");
            const char *best = nearest(name, all_sections, N_OF(all_sections));
            char hint[96] = "";
            if (best)
                snprintf(hint, sizeof hint, " (did you mean %s?)", best);
            else
                snprintf(hint, sizeof hint,
                         " (allowed brain, loop, link, telemetry, checkpoint, sim, record, control, "
                         "robots)");
            return fb_fail(r->err, r->err_len, CONFIG_ERR_KEY, "%s:%zu:%zu: %s: unknown section%s",
                        r->name, sm.line + 1, sm.column + 1, name, hint);
        }
        if (section_line[s])
            return fb_fail(r->err, r->err_len, CONFIG_ERR_KEY,
                        "%s:%zu:%zu: %s: duplicate section (first at line %zu)", r->name,
                        sm.line + 1, sm.column + 1, name, section_line[s]);
        section_line[s] = sm.line + 1;

        if ((rc = next_event(r, &ev)))
            return rc;
        yaml_mark_t vm = ev.start_mark;
        value v = event_value(&ev);
        if (ev.type == YAML_MAPPING_START_EVENT) {
            yaml_event_delete(&ev);
            if ((rc = read_section(r, c, (size_t)s, size_line)))
                return rc;
        } else {
            /* "sim:" with nothing under it sets nothing. */
            bool empty = ev.type == YAML_SCALAR_EVENT && value_is_null(&v);
            yaml_event_delete(&ev);
            if (!empty)
                return fb_fail(r->err, r->err_len, CONFIG_ERR_TYPE,
                            "%s:%zu:%zu: %s: expected a mapping of keys, got a%s %s",
                            r->name, vm.line + 1, vm.column + 1, name,
                            v.kind[0] == 'a' ? "n" : "", v.kind);
        }
    }

    if ((rc = next_event(r, &ev)))
        return rc;
    yaml_event_delete(&ev); /* DOCUMENT_END */
    if ((rc = next_event(r, &ev)))
        return rc;
    yaml_mark_t dm = ev.start_mark;
    bool more = ev.type != YAML_STREAM_END_EVENT;
    yaml_event_delete(&ev);
    if (more)
        return fb_fail(r->err, r->err_len, CONFIG_ERR_SYNTAX,
                    "%s:%zu:%zu: a second YAML document (a config file holds one)",
                    r->name, dm.line + 1, dm.column + 1);
    return 0;
}

int config_load_string(const char *yaml, const char *name, config *c, char *err, size_t err_len)
{
    reader r = {.input = yaml, .name = name ? name : "<string>", .err = err, .err_len = err_len};
    if (err && err_len)
        err[0] = '\0';
    config_default(c);
    if (!yaml_parser_initialize(&r.parser))
        return fb_fail(err, err_len, CONFIG_ERR_IO, "%s: out of memory", r.name);
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)yaml, strlen(yaml));
    int rc = read_document(&r, c);
    yaml_parser_delete(&r.parser);
    if (rc)
        return rc;
    return config_check(c, r.name, err, err_len);
}

/* A config file is small; more than this is a mistake (a wrong path). */
#define CONFIG_FILE_MAX (1 << 20)

int config_load(const char *path, config *c, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fb_fail(err, err_len, CONFIG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = malloc(CONFIG_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        return fb_fail(err, err_len, CONFIG_ERR_IO, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
    int rc = 0;
    const char *nul = memchr(buf, '\0', n);
    size_t line, column;
    if (ferror(f)) {
        rc = fb_fail(err, err_len, CONFIG_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    } else if (n > CONFIG_FILE_MAX) {
        /* At the first byte over the limit: where an editor should look. */
        text_place(buf, CONFIG_FILE_MAX, &line, &column);
        rc = fb_fail(err, err_len, CONFIG_ERR_IO,
                  "%s:%zu:%zu: larger than %d bytes: not a config file", path, line, column,
                  CONFIG_FILE_MAX);
    } else if (nul) {
        text_place(buf, (size_t)(nul - buf), &line, &column);
        rc = fb_fail(err, err_len, CONFIG_ERR_SYNTAX,
                  "%s:%zu:%zu: contains a NUL byte: not a text file", path, line, column);
    }
    fclose(f);
    if (rc == 0) {
        buf[n] = '\0';
        rc = config_load_string(buf, path, c, err, err_len);
    }
    free(buf);
    return rc;
}

/* "section.key" to its section and table entry; returns the key's index in
 * the section, or a negative config_err with a sentence. */
static int key_lookup(const char *key, int *section_out, config_key *k, char *err, size_t err_len)
{
    const char *dot = strchr(key, '.');
    char section[NAME_MAX_LEN];
    size_t n = dot ? (size_t)(dot - key) : 0;
    if (!dot || n >= sizeof section)
        return fb_fail(err, err_len, CONFIG_ERR_KEY, "%s: expected section.key (e.g. brain.size)",
                    key);
    memcpy(section, key, n);
    section[n] = '\0';
    int s = section_index(section);
    if (s < 0)
        return fb_fail(err, err_len, CONFIG_ERR_KEY, "%s: unknown section '%s'", key, section);
    int idx = key_find((size_t)s, dot + 1, k);
    if (idx < 0) {
        char hint[96];
        suggest_key(hint, sizeof hint, (size_t)s, dot + 1);
        return fb_fail(err, err_len, CONFIG_ERR_KEY, "%s: unknown key%s", key, hint);
    }
    *section_out = s;
    return idx;
}

int config_set(config *c, const char *key, const char *text, char *err, size_t err_len)
{
    config_key k;
    int s, idx = key_lookup(key, &s, &k, err, err_len);
    if (idx < 0)
        return idx;
    /* the text as a plain scalar of the file reads: without the spaces
     * around it */
    char trimmed[2 * CONFIG_STR];
    size_t n = strlen(text);
    while (n && (*text == ' ' || *text == '\t'))
        text++, n--;
    while (n && (text[n - 1] == ' ' || text[n - 1] == '\t'))
        n--;
    if (n < sizeof trimmed) {
        memcpy(trimmed, text, n);
        trimmed[n] = '\0';
        text = trimmed;
    }
    value v = {.text = text, .length = strlen(text), .plain = true, .str_ok = true,
               .kind = "scalar"};
    char what[400];
    int rc = set_value(c, &k, &v, what, sizeof what);
    if (rc)
        return fb_fail(err, err_len, rc, "%s: %s", key, what);
    place_record(c, (size_t)s, (size_t)idx, 0, 0);
    return 0;
}

/* ---- the writer ---------------------------------------------------------- */

/* The shortest decimal that reads back to the same float or double. */
static void fmt_exact(char *buf, size_t len, double v, bool is_float)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, len, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (is_float ? (float)back == (float)v : back == v)
            break;
    }
}

int config_get(const config *c, const char *key, char *out, size_t out_len, char *err,
               size_t err_len)
{
    config_key k;
    int s, idx = key_lookup(key, &s, &k, err, err_len);
    if (idx < 0)
        return idx;
    const char *field = (const char *)c + k.offset;
    switch (k.type) {
    case KEY_BOOL: snprintf(out, out_len, "%s", *(const bool *)(const void *)field ? "true" : "false"); break;
    case KEY_U32:
    case KEY_SIZE: snprintf(out, out_len, "%u", *(const uint32_t *)(const void *)field); break;
    case KEY_U64: snprintf(out, out_len, "%llu", (unsigned long long)*(const uint64_t *)(const void *)field); break;
    case KEY_INT: snprintf(out, out_len, "%d", *(const int *)(const void *)field); break;
    case KEY_I64: snprintf(out, out_len, "%lld", (long long)*(const int64_t *)(const void *)field); break;
    case KEY_FLOAT: fmt_exact(out, out_len, *(const float *)(const void *)field, true); break;
    case KEY_DOUBLE: fmt_exact(out, out_len, *(const double *)(const void *)field, false); break;
    case KEY_ENUM: {
        int e = *(const int *)(const void *)field, n = 0;
        while (k.choices[n])
            n++;
        snprintf(out, out_len, "%s", e >= 0 && e < n ? k.choices[e] : "?");
        break;
    }
    case KEY_CURVE:
        if (strcmp(k.key, "curve_secret_key") == 0) {
            snprintf(out, out_len, "%s", field[0] ? "(set, not shown)" : "");
            break;
        }
        /* fall through */
    case KEY_STRING:
    case KEY_ENDPOINT: snprintf(out, out_len, "%s", field); break;
    }
    return CONFIG_OK;
}

/* s as a YAML double-quoted scalar that libyaml reads back to the same
 * bytes: printable characters raw, everything else escaped. Raw, YAML
 * refuses C0 controls, DEL, C1 controls, U+FFFE and U+FFFF; libyaml folds the
 * line breaks (\n, \r, U+0085, U+2028, U+2029) into spaces and may take
 * U+FEFF for a byte order mark; a tab would be kept, but is escaped too. */
static void write_string(FILE *out, const char *s)
{
    fputc('"', out);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        size_t n = utf8_decode(p, &cp);
        if (n == 0) {
            /* Not UTF-8 (see config.h): the byte as a character, so the
             * output still loads. */
            fprintf(out, "\\x%02x", *p);
            p++;
            continue;
        }
        if (cp == '"' || cp == '\\')
            fprintf(out, "\\%c", (int)cp);
        else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            fprintf(out, "\\x%02x", (unsigned)cp);
        else if (cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF || cp == 0xFFFE || cp == 0xFFFF)
            fprintf(out, "\\u%04x", (unsigned)cp);
        else
            fwrite(p, 1, n, out);
        p += n;
    }
    fputc('"', out);
}

int config_write_yaml(const config *c, FILE *out)
{
    fprintf(out, "# fieldbrain configuration: every key, as resolved.\n");
    /* A cube is written as brain.size, anything else as size_x, size_y,
     * size_z; the other form is a comment (setting both is refused). */
    bool cube = c->brain.size_x == c->brain.size_y && c->brain.size_y == c->brain.size_z;
    for (size_t s = 0; s < N_SECTIONS; s++) {
        fprintf(out, "%s%s:\n", s ? "\n" : "", config_sections[s]);
        config_key k;
        for (size_t i = 0; key_at(s, i, &k); i++) {
            const char *field = (const char *)c + k.offset;
            char num[64], range[160] = "";
            bool axis = s == 0 && strncmp(k.key, "size_", 5) == 0;
            bool hide = (k.type == KEY_SIZE && !cube) || (axis && cube);
            /* The line is built in memory first so that the comments line up. */
            char line[CONFIG_STR * 4 + 128]; /* room for a string of escapes (4 bytes a byte) */
            FILE *lf = fmemopen(line, sizeof line, "w");
            if (!lf)
                return CONFIG_ERR_IO;
            fprintf(lf, "  %s%s: ", hide ? "# " : "", k.key);
            switch (k.type) {
            case KEY_BOOL:
                fputs(*(const bool *)(const void *)field ? "true" : "false", lf);
                break;
            case KEY_U32:
                fprintf(lf, "%u", *(const uint32_t *)(const void *)field);
                fmt_range(range, sizeof range, &k);
                break;
            case KEY_SIZE:
                if (cube) {
                    fprintf(lf, "%u", *(const uint32_t *)(const void *)field);
                    fmt_range(range, sizeof range, &k);
                } else {
                    fputs("(not a cube)", lf);
                }
                break;
            case KEY_U64:
                fprintf(lf, "%llu", (unsigned long long)*(const uint64_t *)(const void *)field);
                fmt_range(range, sizeof range, &k);
                break;
            case KEY_INT:
                fprintf(lf, "%d", *(const int *)(const void *)field);
                fmt_range(range, sizeof range, &k);
                break;
            case KEY_I64:
                fprintf(lf, "%lld", (long long)*(const int64_t *)(const void *)field);
                fmt_range(range, sizeof range, &k);
                break;
            case KEY_FLOAT:
                fmt_exact(num, sizeof num, *(const float *)(const void *)field, true);
                fputs(num, lf);
                fmt_range(range, sizeof range, &k);
                break;
            case KEY_DOUBLE:
                fmt_exact(num, sizeof num, *(const double *)(const void *)field, false);
                fputs(num, lf);
                fmt_range(range, sizeof range, &k);
                break;
            case KEY_ENUM: {
                int e = *(const int *)(const void *)field;
                int n = 0;
                while (k.choices[n])
                    n++;
                fputs(e >= 0 && e < n ? k.choices[e] : "?", lf);
                char ch[120];
                fmt_choices(ch, sizeof ch, k.choices);
                snprintf(range, sizeof range, "one of %s", ch);
                break;
            }
            case KEY_CURVE:
                if (field[0] && strcmp(k.key, "curve_secret_key") == 0) {
                    fputs("\"\"", lf);
                    snprintf(range, sizeof range, "SET in the file, not shown here");
                    break;
                }
                /* fall through */
            case KEY_STRING:
            case KEY_ENDPOINT:
                write_string(lf, field);
                break;
            }
            bool cut = ftell(lf) >= (long)sizeof line - 1;
            fclose(lf);
            if (cut)
                return CONFIG_ERR_IO;
            fprintf(out, "%-36s # %s%s%s%s%s\n", line, k.doc, range[0] ? " (" : "", range,
                    range[0] ? ")" : "", axis && cube ? "; set by size" : "");
        }
    }
    fprintf(out, "\n# the fleet: one brain per robot; [] = one robot, link.robot_id\n");
    if (c->robots.count == 0)
        fprintf(out, "robots: []\n");
    else
        fprintf(out, "robots:\n");
    /* what each robot resolves to (config_fleet), as comments where the
     * entry leaves it to the defaults */
    config_fleet_robot *resolved = c->robots.count ? calloc(CONFIG_MAX_ROBOTS, sizeof *resolved) : NULL;
    if (c->robots.count && !resolved)
        return CONFIG_ERR_IO;
    if (resolved)
        config_fleet(c, resolved);
    for (uint32_t i = 0; i < c->robots.count; i++) {
        const config_robot *r = &c->robots.robot[i];
        const config_fleet_robot *f = &resolved[i];
        fprintf(out, "  - id: %u\n", r->id);
        if (r->has_seed)
            fprintf(out, "    seed: %llu\n", (unsigned long long)r->seed);
        else
            fprintf(out, "    # seed: %llu (brain.seed plus its place)\n", (unsigned long long)f->seed);
        if (r->checkpoint[0]) {
            fputs("    checkpoint: ", out);
            write_string(out, r->checkpoint);
            fputc('\n', out);
        } else if (f->checkpoint[0]) {
            fputs("    # checkpoint: ", out);
            write_string(out, f->checkpoint);
            fputs(" (from checkpoint.path)\n", out);
        }
        if (f->record[0]) {
            fputs("    # its input log: ", out);
            write_string(out, f->record);
            fputc('\n', out);
        }
    }
    free(resolved);
    return ferror(out) ? CONFIG_ERR_IO : CONFIG_OK;
}
