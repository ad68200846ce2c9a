/* fleet.c: many brains of one shape stepped together (brain.h, Fleets).
 * This first version makes each brain with brain_create and steps them one
 * after another; the batched paths (one Vulkan submission, the CPU's
 * workers shared over the brains) build on it. */
#include "brain_internal.h"

#include <stdlib.h>

struct brain_fleet {
    uint32_t n;
    brain **brains;
};

int brain_fleet_create(const brain_params *p, const uint64_t *seeds, uint32_t n,
                       brain_fleet **out, char *err, size_t err_len)
{
    *out = NULL;
    if (n < 1 || n > BRAIN_FLEET_MAX || !seeds)
        return fb_fail(err, err_len, BRAIN_ERR_PARAM, "a fleet holds 1 to %u brains, not %u",
                       BRAIN_FLEET_MAX, n);
    brain_fleet *f = calloc(1, sizeof *f);
    if (!f || !(f->brains = calloc(n, sizeof *f->brains))) {
        free(f);
        return fb_fail(err, err_len, BRAIN_ERR_NOMEM, "out of memory");
    }
    f->n = n;
    for (uint32_t i = 0; i < n; i++) {
        brain_params pi = *p;
        pi.seed = seeds[i];
        int rc = brain_create(&pi, &f->brains[i], err, err_len);
        if (rc) {
            brain_fleet_destroy(&f);
            return rc;
        }
    }
    *out = f;
    return BRAIN_OK;
}

void brain_fleet_destroy(brain_fleet **fp)
{
    brain_fleet *f = fp ? *fp : NULL;
    if (!f)
        return;
    for (uint32_t i = f->n; i-- > 0;)
        brain_destroy(&f->brains[i]);
    free(f->brains);
    free(f);
    *fp = NULL;
}

uint32_t brain_fleet_size(const brain_fleet *f) { return f->n; }
brain *brain_fleet_brain(brain_fleet *f, uint32_t i) { return i < f->n ? f->brains[i] : NULL; }

int brain_fleet_step(brain_fleet *f, const bool *step, const float *const *sensors,
                     float *const *motors, brain_stats *stats, int *rc)
{
    for (uint32_t i = 0; i < f->n; i++) {
        rc[i] = 0;
        if (step[i])
            rc[i] = brain_step(f->brains[i], sensors[i], brain_get_params(f->brains[i])->sensors,
                               motors[i], stats ? &stats[i] : NULL);
    }
    return BRAIN_OK;
}
