/* app_inlog.c: every loop cycle into the input log (app_inlog.h). Runs on
 * the loop's thread: a copy into the writer's ring, and a snapshot when a
 * segment starts. */
#include "app_inlog.h"
#include "fail.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct app_inlog {
    inlog_writer *w;
    brain *b;
    loop *lp;
    bool reset_pending;   /* a requested reset before the cycle now running */
};

static void on_cycle(const loop_cycle_report *r, void *user)
{
    app_inlog *a = user;
    inlog_cycle c = {
        .cycle = r->cycle, .brain_cycle = brain_get_cycle(a->b), .answer_seq = r->answer_seq,
        .time_ns = r->time_ns,
        .flags = (r->stepped ? INLOG_STEPPED : 0u) | (r->link_lost ? INLOG_LINK_LOST : 0u) |
                 (r->fault ? INLOG_FAULT : 0u) | (a->reset_pending ? INLOG_RESET : 0u),
        .sensors = r->sensors, .motors = r->motors,
        .energy = r->stepped ? r->brain.energy : NAN,
        .saturated = r->stepped ? r->brain.saturated : NAN,
    };
    a->reset_pending = false;
    inlog_writer_push(a->w, a->b, &c);
}

/* Changes made between two cycles (the control socket): new brain
 * parameters start a segment whose checkpoint holds them; a reset marks
 * the cycle's record. Both on the loop's thread, before the cycle runs. */
static void on_event(const loop_event *e, void *user)
{
    app_inlog *a = user;
    if (e->kind == LOOP_EVENT_PARAM_CHANGED && strncmp(e->key, "brain.", 6) == 0)
        inlog_writer_roll(a->w, a->b, e->cycle);
    else if (e->kind == LOOP_EVENT_RESET)
        a->reset_pending = true;
}

int app_inlog_attach(const config *c, brain *b, loop *lp, app_inlog **out, char *err, size_t err_len)
{
    *out = NULL;
    app_inlog *a = calloc(1, sizeof *a);
    if (!a)
        return fb_fail(err, err_len, INLOG_ERR_NOMEM, "record: out of memory");
    inlog_options o = {.max_bytes = (uint64_t)c->record.max_mb << 20, .robot_id = c->link.robot_id};
    snprintf(o.dir, sizeof o.dir, "%s", c->record.path);
    snprintf(o.backend, sizeof o.backend, "%s", brain_backend_name(brain_get_backend(b)));
    snprintf(o.device, sizeof o.device, "%s", brain_device_name(b));
    int rc = inlog_writer_create(&o, b, &a->w, err, err_len);
    if (rc == 0 && inlog_writer_begin(a->w, b, 1) != 0)
        rc = fb_fail(err, err_len, INLOG_ERR_IO, "record: cannot take the first snapshot of the brain");
    if (rc == 0 && (loop_add_cycle_hook(lp, on_cycle, a) != 0 || loop_add_event_hook(lp, on_event, a) != 0)) {
        loop_remove_cycle_hook(lp, on_cycle, a);
        rc = fb_fail(err, err_len, INLOG_ERR_PARAM, "record: the loop has no free hook");
    }
    if (rc) {
        inlog_writer_destroy(&a->w);
        free(a);
        return rc;
    }
    a->b = b;
    a->lp = lp;
    *out = a;
    return 0;
}

void app_inlog_detach(app_inlog **ap)
{
    if (!ap || !*ap)
        return;
    app_inlog *a = *ap;
    loop_remove_cycle_hook(a->lp, on_cycle, a);
    loop_remove_event_hook(a->lp, on_event, a);
    inlog_writer_destroy(&a->w);
    free(a);
    *ap = NULL;
}
