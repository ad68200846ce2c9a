/* app_telemetry.c: the loop's hooks feeding the publisher (app_telemetry.h).
 * Everything here runs on the loop's thread: plain copies into slots, and a
 * read of one plane of the field only on slice cycles, only when the last
 * slice is done.
 */
#include "app_telemetry.h"
#include "fail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(LOOP_FLEET_ROBOT == TELEMETRY_FLEET_ROBOT, "one id for the whole fleet");

struct app_telemetry {
    telemetry *t;
    brain_fleet *f;
    loop *lp;
    uint32_t n_robots;
};

/* The robots' ids as config_fleet resolves them: the list's, or the one
 * robot link.robot_id. */
static uint32_t fleet_ids(const config *c, uint32_t *ids)
{
    if (c->robots.count == 0) {
        ids[0] = c->link.robot_id;
        return 1;
    }
    uint32_t n = c->robots.count < TELEMETRY_MAX_ROBOTS ? c->robots.count : TELEMETRY_MAX_ROBOTS;
    for (uint32_t i = 0; i < n; i++)
        ids[i] = c->robots.robot[i].id;
    return n;
}

void app_telemetry_options(const config *c, const brain *b, telemetry_options *o)
{
    telemetry_options_default(o);
    snprintf(o->endpoint, sizeof o->endpoint, "%s", c->telemetry.endpoint);
    o->every = c->telemetry.every;
    o->slice_every = c->telemetry.slice_every;
    o->slice_axis = c->telemetry.slice_axis;
    o->slice_index = c->telemetry.slice_index;
    o->slice_channel = c->telemetry.slice_channel;
    o->size_x = c->brain.size_x;
    o->size_y = c->brain.size_y;
    o->size_z = c->brain.size_z;
    o->channels = c->brain.channels;
    o->motors = c->brain.motors;
    o->rate_hz = c->loop.mode == LOOP_FIXED_RATE ? c->loop.rate_hz : 0;
    if (b) {
        snprintf(o->device, sizeof o->device, "%s", brain_device_name(b));
        snprintf(o->backend, sizeof o->backend, "%s", brain_backend_name(brain_get_backend(b)));
    }
    /* CURVE: each of telemetry's keys that is empty is the link's, so
     * telemetry is as closed as the link unless the file says otherwise. */
    if (!c->telemetry.unencrypted) {
        bool own = c->telemetry.curve_secret_key[0] != '\0';
        snprintf(o->curve_secret_key, sizeof o->curve_secret_key, "%s",
                 own ? c->telemetry.curve_secret_key : c->link.curve_secret_key);
        snprintf(o->curve_public_key, sizeof o->curve_public_key, "%s",
                 own ? c->telemetry.curve_public_key : c->link.curve_public_key);
        snprintf(o->curve_client_keys, sizeof o->curve_client_keys, "%s",
                 c->telemetry.curve_client_keys[0] ? c->telemetry.curve_client_keys
                                                   : c->link.curve_client_keys);
    }
    o->n_robots = fleet_ids(c, o->robot_ids);
    o->slice_robot = c->telemetry.slice_robot >= 0 ? (uint32_t)c->telemetry.slice_robot
                                                   : o->robot_ids[0];
    o->n_bad = WIRE_BAD_REASONS < TELEMETRY_MAX_BAD ? WIRE_BAD_REASONS : TELEMETRY_MAX_BAD;
    for (uint32_t i = 0; i < o->n_bad; i++)
        snprintf(o->bad_names[i], TELEMETRY_NAME, "%s", wire_bad_name((int)i));
}

static void on_cycle(const loop_cycle_report *r, void *user)
{
    app_telemetry *a = user;
    telemetry_cycle c = {
        .cycle = r->cycle, .time_ns = r->time_ns, .lateness_ns = r->lateness_ns,
        .work_ns = r->work_ns, .gpu_ms = r->gpu_ms,
        .lateness = {r->lateness.min_ns, r->lateness.p50_ns, r->lateness.p99_ns, r->lateness.max_ns},
        .work = {r->work.min_ns, r->work.p50_ns, r->work.p99_ns, r->work.max_ns},
        .lateness_hist = r->lateness_hist,
        .overruns = r->overruns, .skipped_ticks = r->skipped_ticks,
        .motors = r->motors, .n_motors = r->n_motors, .stepped = r->stepped,
        .fault = r->fault, .brain_faults = r->brain_faults,
        .brain_cycle = r->brain.cycle, .energy = r->brain.energy,
        .saturated = r->brain.saturated, .activity = r->brain.activity,
        .diffused = r->brain.diffused, .noised = r->brain.noised,
        .energized = r->brain.energized, .sensor_age_ns = r->sensor_age_ns,
        .robot_id = r->robot_id, .link_lost = r->link_lost, .answer_seq = r->answer_seq,
        .received = r->link.received, .skipped = r->link.skipped,
        .bad_total = r->link.bad_total, .published = r->link.published,
        .publish_failed = r->link.publish_failed, .peers_cut = r->link.peers_cut,
        .peers_refused = r->link.peers_refused,
    };
    _Static_assert(WIRE_BAD_REASONS <= TELEMETRY_MAX_BAD, "bad-input reasons fit telemetry");
    _Static_assert(LOOP_HIST_BINS == TELEMETRY_HIST_BINS, "histogram bins agree");
    memcpy(c.bad, r->link.bad, sizeof r->link.bad);
    telemetry_push_cycle(a->t, &c);
    /* The one costly step, and only on slice cycles: reading the one plane
     * shown (never the whole field). A brain that cannot read a plane (an
     * error, or a backend without it) costs a counted, skipped slice and
     * nothing else. Averaging, colouring and PNG happen on the telemetry
     * thread. */
    /* One robot: its cycles, whatever id the loop gives them. */
    bool slice_robot = a->n_robots == 1 || r->robot_id == telemetry_slice_robot(a->t);
    if (r->stepped && slice_robot && telemetry_slice_due(a->t, r->cycle)) {
        /* The report's robot is brain_fleet_brain(f, r->robot): the loop's
         * order is config_fleet's, the fleet's. */
        brain *b = brain_fleet_brain(a->f, a->n_robots == 1 ? 0 : r->robot);
        float *dst = b ? telemetry_slice_acquire_robot(a->t, r->robot_id) : NULL;
        if (dst) {
            /* The plane is the one fixed at acquire (the rates may change
             * from the control socket at any time); the brain writes that
             * axis's plane count, which must be the slice's. */
            uint32_t axis = telemetry_slice_axis(a->t);
            int rc = brain_slab_count(b, axis) == telemetry_slice_count(a->t)
                         ? brain_read_slab(b, axis, telemetry_slice_index(a->t), dst)
                         : BRAIN_ERR_PARAM;
            telemetry_slice_commit(a->t, r->cycle, rc == 0);
        }
    }
}

static void on_event(const loop_event *e, void *user)
{
    app_telemetry *a = user;
    telemetry_event ev = {.cycle = e->cycle, .time_ns = e->time_ns,
                          .robot_id = e->robot_id == LOOP_FLEET_ROBOT ? TELEMETRY_FLEET_ROBOT
                                                                      : e->robot_id,
                          .count = e->count};
    snprintf(ev.kind, sizeof ev.kind, "%s", loop_event_name(e->kind));
    if (e->kind == LOOP_EVENT_BAD_INPUT_BURST)
        snprintf(ev.reason, sizeof ev.reason, "%s", wire_bad_name(e->reason));
    else if (e->kind == LOOP_EVENT_BRAIN_FAULT)
        snprintf(ev.reason, sizeof ev.reason, "%s",
                 e->reason == BRAIN_ERR_NONFINITE ? "nonfinite" : "device");
    else if (e->kind == LOOP_EVENT_PEERS_CUT)
        snprintf(ev.reason, sizeof ev.reason, "motor");
    else if (e->kind == LOOP_EVENT_PARAM_CHANGED)
        snprintf(ev.detail, sizeof ev.detail, "%s %s -> %s", e->key, e->old_value, e->new_value);
    telemetry_push_event(a->t, &ev);
}

int app_telemetry_attach(const config *c, brain_fleet *f, loop *lp, app_telemetry **out,
                         char *err, size_t err_len)
{
    *out = NULL;
    app_telemetry *a = calloc(1, sizeof *a);
    telemetry_options *o = malloc(sizeof *o);  /* 4 KiB of robot ids: not on the stack */
    if (!a || !o) {
        free(o);
        free(a);
        return fb_fail(err, err_len, TELEMETRY_ERR_NOMEM, "telemetry: out of memory");
    }
    brain *b = brain_fleet_brain(f, 0);
    app_telemetry_options(c, b, o);
    snprintf(o->device, sizeof o->device, "%s", brain_fleet_device_name(f));
    if (o->n_robots != brain_fleet_size(f)) {
        int rc = fb_fail(err, err_len, TELEMETRY_ERR_PARAM,
                         "telemetry: the config names %u robots but the fleet has %u brains",
                         o->n_robots, brain_fleet_size(f));
        free(o);
        free(a);
        return rc;
    }
    a->n_robots = o->n_robots;
    int rc = telemetry_create(o, &a->t, err, err_len);
    free(o);
    if (rc < 0) {
        free(a);
        return rc;
    }
    /* The slot must hold exactly what the brain writes for the plane (made
     * whether or not slices are on at start: the control socket may turn
     * them on). */
    uint64_t want = brain_slab_count(b, telemetry_slice_axis(a->t));
    if (telemetry_slice_count(a->t) != want) {
        rc = fb_fail(err, err_len, TELEMETRY_ERR_PARAM,
                     "telemetry: the slice plane holds %llu floats but the brain's has %llu "
                     "(brain and telemetry shapes differ)",
                     (unsigned long long)telemetry_slice_count(a->t), (unsigned long long)want);
        telemetry_destroy(&a->t);
        free(a);
        return rc;
    }
    a->f = f;
    a->lp = lp;
    if (loop_add_event_hook(lp, on_event, a) || loop_add_cycle_hook(lp, on_cycle, a)) {
        loop_remove_event_hook(lp, on_event, a);
        telemetry_destroy(&a->t);
        free(a);
        return fb_fail(err, err_len, TELEMETRY_ERR_PARAM, "telemetry: the loop has no free hook");
    }
    *out = a;
    return 0;
}

void app_telemetry_detach(app_telemetry **ap)
{
    if (!ap || !*ap)
        return;
    app_telemetry *a = *ap;
    loop_remove_cycle_hook(a->lp, on_cycle, a);
    loop_remove_event_hook(a->lp, on_event, a);
    telemetry_destroy(&a->t);
    free(a);
    *ap = NULL;
}

telemetry *app_telemetry_publisher(app_telemetry *a) { return a->t; }
