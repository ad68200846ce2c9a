/* app_inlog.c: every loop cycle into the input log (app_inlog.h), each
 * robot of a fleet into its own. Runs on the loop's thread: a copy into the
 * robot's writer's ring, and a snapshot of its brain when a segment starts. */
#include "app_inlog.h"
#include "fail.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One robot's log. */
typedef struct {
    inlog_writer *w;
    brain *b;
    bool reset_pending;   /* a requested reset before the cycle now running */
} app_inlog_robot;

struct app_inlog {
    loop *lp;
    uint32_t n;
    app_inlog_robot *robots;  /* n, in the fleet's order */
};

static void on_cycle(const loop_cycle_report *r, void *user)
{
    app_inlog *a = user;
    if (r->robot >= a->n)
        return;
    app_inlog_robot *ar = &a->robots[r->robot];
    inlog_cycle c = {
        .cycle = r->cycle, .brain_cycle = brain_get_cycle(ar->b), .answer_seq = r->answer_seq,
        .time_ns = r->time_ns,
        .flags = (r->stepped ? INLOG_STEPPED : 0u) | (r->link_lost ? INLOG_LINK_LOST : 0u) |
                 (r->fault ? INLOG_FAULT : 0u) | (ar->reset_pending ? INLOG_RESET : 0u),
        .sensors = r->sensors, .motors = r->motors,
        .energy = r->stepped ? r->brain.energy : NAN,
        .saturated = r->stepped ? r->brain.saturated : NAN,
    };
    ar->reset_pending = false;
    inlog_writer_push(ar->w, ar->b, &c);
}

/* Changes made between two cycles (the control socket): new brain
 * parameters start a segment whose checkpoint holds them; a reset marks
 * the cycle's record. Both on the loop's thread, before the cycle runs,
 * each for the robot the event names (a fleet's own events name none). */
static void on_event(const loop_event *e, void *user)
{
    app_inlog *a = user;
    int place = a->n == 1 ? 0 : loop_robot_index(a->lp, e->robot_id);
    if (place < 0 || (uint32_t)place >= a->n)
        return;
    app_inlog_robot *ar = &a->robots[place];
    if (e->kind == LOOP_EVENT_PARAM_CHANGED && strncmp(e->key, "brain.", 6) == 0)
        inlog_writer_roll(ar->w, ar->b, e->cycle);
    else if (e->kind == LOOP_EVENT_RESET)
        ar->reset_pending = true;
}

/* Robot i's writer in dir, its first segment started from its brain now. */
static int attach_robot(const config *c, app_inlog_robot *ar, brain *b, const char *dir,
                        uint32_t robot_id, char *err, size_t err_len)
{
    inlog_options o = {.max_bytes = (uint64_t)c->record.max_mb << 20, .robot_id = robot_id};
    snprintf(o.dir, sizeof o.dir, "%s", dir);
    snprintf(o.backend, sizeof o.backend, "%s", brain_backend_name(brain_get_backend(b)));
    snprintf(o.device, sizeof o.device, "%s", brain_device_name(b));
    ar->b = b;
    int rc = inlog_writer_create(&o, b, &ar->w, err, err_len);
    if (rc == 0 && inlog_writer_begin(ar->w, b, 1) != 0)
        rc = fb_fail(err, err_len, INLOG_ERR_IO, "record: cannot take the first snapshot of the brain");
    return rc;
}

int app_inlog_attach(const config *c, brain_fleet *f, loop *lp, app_inlog **out, char *err,
                     size_t err_len)
{
    *out = NULL;
    app_inlog *a = calloc(1, sizeof *a);
    config_fleet_robot *fleet = calloc(CONFIG_MAX_ROBOTS, sizeof *fleet);
    uint32_t n = fleet ? config_fleet(c, fleet) : 0;
    int rc = 0;
    if (a && fleet) {
        a->lp = lp;
        a->robots = calloc(n, sizeof *a->robots);
    }
    if (!a || !fleet || !a->robots) {
        rc = fb_fail(err, err_len, INLOG_ERR_NOMEM, "record: out of memory");
        goto fail;
    }
    if (n != brain_fleet_size(f) || n != loop_robot_count(lp)) {
        rc = fb_fail(err, err_len, INLOG_ERR_PARAM, "record: the config, the fleet and the loop "
                     "disagree on the number of robots (%u, %u, %u)", n, brain_fleet_size(f),
                     loop_robot_count(lp));
        goto fail;
    }
    /* The robots' logs are directories in record.path, which the writers
     * do not make. */
    if (strcmp(fleet[0].record, c->record.path) != 0 && mkdir(c->record.path, 0777) != 0 &&
        errno != EEXIST) {
        rc = fb_fail(err, err_len, INLOG_ERR_IO, "record.path: cannot create %s: %s", c->record.path,
                     strerror(errno));
        goto fail;
    }
    for (; a->n < n; a->n++) {
        char why[768];
        const config_fleet_robot *r = &fleet[a->n];
        rc = attach_robot(c, &a->robots[a->n], brain_fleet_brain(f, a->n), r->record, r->id, why,
                          sizeof why);
        if (rc) {
            if (n == 1)
                fb_fail(err, err_len, rc, "%s", why);
            else
                fb_fail(err, err_len, rc, "robot %u: %s", r->id, why);
            a->n++;  /* its writer, if made, goes with the others */
            goto fail;
        }
    }
    if (loop_add_cycle_hook(lp, on_cycle, a) != 0 || loop_add_event_hook(lp, on_event, a) != 0) {
        loop_remove_cycle_hook(lp, on_cycle, a);
        rc = fb_fail(err, err_len, INLOG_ERR_PARAM, "record: the loop has no free hook");
        goto fail;
    }
    free(fleet);
    *out = a;
    return 0;
fail:
    free(fleet);
    if (a) {
        for (uint32_t i = a->n; i-- > 0;)
            inlog_writer_destroy(&a->robots[i].w);
        free(a->robots);
        free(a);
    }
    return rc;
}

void app_inlog_detach(app_inlog **ap)
{
    if (!ap || !*ap)
        return;
    app_inlog *a = *ap;
    loop_remove_cycle_hook(a->lp, on_cycle, a);
    loop_remove_event_hook(a->lp, on_event, a);
    for (uint32_t i = a->n; i-- > 0;)
        inlog_writer_destroy(&a->robots[i].w);
    free(a->robots);
    free(a);
    *ap = NULL;
}
