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
 *   telemetry: endpoint, every, slice_every, slice axis/index/channel, curve keys
 *   checkpoint: path, every_s, on_exit
 *   sim:       the bundled MuJoCo robot
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
        /* CURVE: each "" takes the link's (so telemetry is encrypted, with
         * the link's server key and allow-list, whenever the link is). */
        char curve_secret_key[CONFIG_STR];  /* Z85; "" = link.curve_secret_key */
        char curve_public_key[CONFIG_STR];  /* Z85; "" = link.curve_public_key */
        char curve_client_keys[CONFIG_STR]; /* allow-list file; "" = link.curve_client_keys */
        bool unencrypted;            /* no CURVE even when the link has it (a warning) */
    } telemetry;

    loop_checkpoint_options checkpoint;  /* io_options.h: the loop saves them */

    struct {
        sim_mode mode;               /* realtime | lockstep */
        char model[CONFIG_STR];      /* MJCF file; "" = the bundled rover */
        double sensor_hz;            /* realtime: sensor messages per second */
        uint32_t motor_timeout_ms;   /* safety stop after this long without motors */
        double duration_s;           /* 0 = until stopped */
        char trajectory[CONFIG_STR]; /* CSV of the robot's pose over time; "" = none */
    } sim;
} config;

/* The defaults of every key (those of config/default.yaml). */
void config_default(config *c);

/* Reads path over the defaults. On error writes "file:line:column: key: what
 * is wrong (allowed range)" to err; *c is then unspecified. */
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
 * written in the file, with the same type and range checks (command-line
 * overrides). On error writes "section.key: what is wrong (allowed range)".
 * Run config_check after the last one. */
int config_set(config *c, const char *key, const char *value, char *err, size_t err_len);

/* The checks between keys (the field size limit, endpoints used twice, CURVE
 * keys given in pairs, a telemetry slice inside the field, periodic
 * checkpoints with a path); on error writes "name: key: what is wrong". */
int config_check(const config *c, const char *name, char *err, size_t err_len);

/* Writes c as YAML with every key, each with its meaning and range as a
 * comment; config_load reads it back to an equal config, except that the
 * CURVE secret key is never written (a comment says whether it is set). */
int config_write_yaml(const config *c, FILE *out);

#endif
