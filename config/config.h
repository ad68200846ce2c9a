/* config.h: the door to config/. One YAML file (libyaml) becomes one plain
 * struct holding every setting of every fieldbrain program; every key is
 * checked against its type and range, and an error names
 * "file:line:column: key: what is wrong (allowed range)".
 *
 * The file is a mapping of sections; see config/default.yaml for every key
 * with its meaning and default:
 *   brain:     the field (field-brain.md), backend, device, seed, threads
 *   loop:      mode, rate_hz, realtime, cpu, stats_window
 *   link:      endpoints, timeout_ms, max_message_bytes, robot_id, curve keys
 *   telemetry: endpoint, every, slice_every, slice axis/index/channel/robot, curve keys
 *   checkpoint: path, every_s, on_exit
 *   record:    the input log for replays (path, max_mb)
 *   sim:       the bundled MuJoCo robot
 *   control:   the control socket fieldbrain-ctl talks to (enabled, endpoint)
 *   robots:    the fleet: a list of robots, each {id, seed, checkpoint}
 */
#ifndef FIELDBRAIN_CONFIG_H
#define FIELDBRAIN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "brain_params.h"
#include "io_options.h"

#define CONFIG_STR 256
_Static_assert(CONFIG_STR == IO_STR, "one string size for every key");

typedef enum {
    CONFIG_OK = 0,
    CONFIG_ERR_IO = -1,       /* file could not be opened or read */
    CONFIG_ERR_SYNTAX = -2,   /* not YAML, or not the expected shape */
    CONFIG_ERR_KEY = -3,      /* unknown key */
    CONFIG_ERR_TYPE = -4,     /* wrong type */
    CONFIG_ERR_RANGE = -5,    /* value outside its allowed range */
} config_err;

const char *config_strerror(int err);

typedef enum { SIM_REALTIME = 0, SIM_LOCKSTEP = 1 } sim_mode;

/* Where one key got its value, so that config_check can point at the key
 * that decides an error. Key i of section s is the i-th key the writer
 * writes in that section (brain.size counts for size_x, size_y, size_z). */
typedef struct {
    uint32_t line, column;     /* 1-based, in the file; line 0: set by config_set */
    uint32_t order;            /* set later than an entry with a smaller order */
    uint16_t section, index;
} config_place;

/* The most robots one process serves (a larger fleet is split over
 * several processes: README, "A fleet"). */
#define CONFIG_MAX_ROBOTS 256

/* One entry of the robots list. */
typedef struct {
    uint32_t id;                     /* its robot id on the wire */
    uint64_t seed;                   /* valid when has_seed */
    bool has_seed;                   /* else brain.seed + its place in the list */
    char checkpoint[CONFIG_STR];     /* "" = from checkpoint.path (config_fleet) */
} config_robot;

/* More than the number of keys (a test checks that every key fits). */
#define CONFIG_PLACES 72

typedef struct {
    brain_params brain;   /* brain.size sets size_x = size_y = size_z */

    loop_options loop;    /* io_options.h: the loop's own settings */
    link_options link;    /* io_options.h: the link's own settings */

    struct {
        bool enabled;
        char endpoint[CONFIG_STR];   /* XPUB, brain binds */
        uint32_t every;              /* stats every N cycles */
        uint32_t slice_every;        /* a field slice every N cycles; 0 = never */
        uint32_t slice_axis;         /* 0 = x, 1 = y, 2 = z */
        int slice_index;             /* -1 = the middle */
        int slice_channel;           /* -1 = mean over channels */
        int64_t slice_robot;         /* the robot id whose field slices show; -1 = the fleet's first */
        /* CURVE: each "" takes the link's (so telemetry is encrypted, with
         * the link's server key and allow-list, whenever the link is). */
        char curve_secret_key[CONFIG_STR];  /* Z85; "" = link.curve_secret_key */
        char curve_public_key[CONFIG_STR];  /* Z85; "" = link.curve_public_key */
        char curve_client_keys[CONFIG_STR]; /* allow-list file; "" = link.curve_client_keys */
        bool unencrypted;            /* no CURVE even when the link has it (a warning) */
    } telemetry;

    loop_checkpoint_options checkpoint;  /* io_options.h: the loop saves them */

    struct {
        char path[CONFIG_STR];       /* the input log's directory; "" = no log */
        uint32_t max_mb;             /* the whole directory's budget (MiB) */
    } record;

    struct {
        sim_mode mode;               /* realtime | lockstep */
        char model[CONFIG_STR];      /* MJCF file; "" = the bundled rover */
        double sensor_hz;            /* realtime: sensor messages per second */
        uint32_t motor_timeout_ms;   /* safety stop after this long without motors */
        double duration_s;           /* 0 = until stopped */
        char trajectory[CONFIG_STR]; /* CSV of the robot's pose over time; "" = none */
    } sim;

    struct {
        bool enabled;
        char endpoint[CONFIG_STR];   /* ROUTER, brain binds; CURVE as the link */
    } control;

    /* The fleet; count 0 = one robot: link.robot_id with brain.seed. */
    struct {
        uint32_t count;
        config_robot robot[CONFIG_MAX_ROBOTS];
    } robots;

    /* Not a setting: where each key was set (config_default clears it, the
     * loaders and config_set fill it). It comes last so that two configs
     * compare equal as settings over offsetof(config, origin) bytes. */
    struct {
        uint32_t count;            /* entries in at[] */
        uint32_t sets;             /* the order of the last one set */
        config_place at[CONFIG_PLACES];
        uint32_t robots_line, robots_column;        /* of the robots key; 0: not in the file */
        uint32_t robot_line[CONFIG_MAX_ROBOTS];     /* of each entry */
        uint32_t robot_column[CONFIG_MAX_ROBOTS];
    } origin;
} config;

/* The defaults of every key (those of config/default.yaml). */
void config_default(config *c);

/* Reads path over the defaults. On error writes "file:line:column: key: what
 * is wrong (allowed range)" to err; *c is then unspecified. Strings must be
 * UTF-8 (libyaml reads nothing else). A file with a NUL byte, or over 1 MiB,
 * is refused at the place of the NUL, or of the first byte over the limit. */
int config_load(const char *path, config *c, char *err, size_t err_len);

/* Same, from a string (tests); name stands for the file in messages. */
int config_load_string(const char *yaml, const char *name, config *c, char *err, size_t err_len);

/* Both loaders end with config_check. Warnings are not errors: a config that
 * will run but probably not as meant (brain_params_unstable: the field will
 * saturate; a lockstep sim with a fixed-rate loop) loads fine, and
 * config_warnings says so. Programs print it. */

/* Writes the warnings about c, one "key: what" a line, to warn (if not NULL)
 * and returns how many there are (0: none). */
int config_warnings(const config *c, char *warn, size_t warn_len);

/* Sets one key ("section.key", e.g. "brain.backend") from text as it would be
 * written in the file unquoted (the spaces and tabs around it dropped), with
 * the same type and range checks (command-line overrides; strings must be
 * valid UTF-8). On error writes "section.key:
 * what is wrong (allowed range)". The key counts as set on the command line
 * in config_check's messages. Run config_check after the last one. */
int config_set(config *c, const char *key, const char *value, char *err, size_t err_len);

/* Writes the value of one key ("section.key") to out as text that
 * config_set takes back (numbers exactly, enums by name, strings raw); the
 * CURVE secret key is never shown, only whether it is set. Unknown key:
 * CONFIG_ERR_KEY and a sentence. */
int config_get(const config *c, const char *key, char *out, size_t out_len, char *err,
               size_t err_len);

/* The checks between keys (the field size limit, f16 on the CPU, the
 * overflow bound, endpoints used twice, CURVE keys given in pairs, a
 * telemetry slice inside the field, periodic checkpoints with a path). On
 * error writes "name:line:column: key: what is wrong", placed at the last
 * set of the keys that decide it (of two clashing endpoints, the later one;
 * of brain.size, size_x, size_y, size_z and channels for the field size).
 * When that key was set by config_set the message reads "name: key: what
 * is wrong [section.key set on the command line]"; when no key that decides
 * it was set at all, "name: key: what is wrong". */
int config_check(const config *c, const char *name, char *err, size_t err_len);

/* The robots a fieldbrain with config c serves, each with everything
 * resolved: its id, its seed, the path of its checkpoint and the directory
 * of its input log. Without a robots list: one robot, link.robot_id, with
 * brain.seed, checkpoint.path and record.path, exactly as without fleets.
 * With a list: each entry's id; its seed, or brain.seed plus its place in
 * the list (0, 1, ...); its checkpoint, or checkpoint.path with "-ID"
 * before a ".json" ending (else at the end), "" when checkpoint.path is "";
 * its input log in record.path/robot-ID ("" when record.path is ""). A
 * list of one robot is resolved as a list (its paths as given). */
typedef struct {
    uint32_t id;
    uint64_t seed;
    char checkpoint[CONFIG_STR];
    char record[CONFIG_STR];
} config_fleet_robot;

/* Fills out[0 .. n) (room for CONFIG_MAX_ROBOTS) and returns n >= 1. A
 * config that passed config_check resolves without cutting a path. */
uint32_t config_fleet(const config *c, config_fleet_robot *out);

/* Writes c as YAML with every key, each with its meaning and range as a
 * comment; config_load reads it back to an equal config, except that the
 * CURVE secret key is never written (a comment says whether it is set).
 * Strings are written double-quoted, with every character that YAML does not
 * take raw there, or that libyaml would read back otherwise (controls, DEL,
 * C1 controls, line and paragraph separators, U+FEFF, U+FFFE, U+FFFF), as an
 * escape. (A string that is not UTF-8, which neither loader nor config_set
 * lets in, has its stray bytes written as \xNN: it loads, but not equal.) */
int config_write_yaml(const config *c, FILE *out);

#endif
