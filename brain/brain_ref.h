/* brain_ref.h: the reference brain, field-brain.md read literally.
 *
 * One cycle is the eight steps of field-brain.md, "One cycle", each a plain
 * loop over the field in the order the document gives them: no threads, no
 * vectors, no fused passes, no prediction. It is slow (diffusion alone is 27
 * reads per element) and meant to be read beside the document line by line.
 * tests/test_brain_cpu.c runs the CPU backend against it element by element
 * (and the Vulkan backend is tested against the CPU backend); a tool that
 * replays a run to check it can use it the same way.
 */
#ifndef FIELDBRAIN_BRAIN_REF_H
#define FIELDBRAIN_BRAIN_REF_H

#include "brain.h"

typedef struct brain_ref brain_ref;

/* A reference brain for p (checked as brain_create checks it) with the given
 * spots (p->sensors x 3 and p->motors x 3, copied): the field drawn from
 * p->seed as field-brain.md says, momentum 0, cycle 0. Backend, device and
 * threads in p are ignored. */
int brain_ref_create(const brain_params *p, const uint32_t *sensor_spots, const uint32_t *motor_spots,
                     brain_ref **out, char *err, size_t err_len);

/* Destroys *r and sets *r to NULL; harmless on NULL. */
void brain_ref_destroy(brain_ref **r);

/* One cycle. sensors: p->sensors values (a shorter vector is the caller's
 * to pad with zeros). Writes p->motors floats to motors and the stats
 * (gpu_ms -1, activity -1 unless step 6 ran). Allocates nothing. */
void brain_ref_step(brain_ref *r, const float *sensors, float *motors, brain_stats *stats);

/* The field F, [X][Y][Z][C] floats, and the momentum M, C floats: to read,
 * or to write before a step. */
float *brain_ref_field(brain_ref *r);
float *brain_ref_momentum(brain_ref *r);
/* t of the last cycle (0 before the first). */
uint64_t brain_ref_cycle(const brain_ref *r);

#endif
