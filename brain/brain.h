/* brain.h: the tensor-field brain, the door to brain/.
 *
 * One API over two backends: Vulkan compute (the product) and plain C (the
 * reference the shaders are tested against, and the fast path without a GPU).
 * The arithmetic of a cycle is ../shared/design/field-brain.md, step by step.
 *
 * Every function that can fail returns 0 or a negative brain_err, and where it
 * takes (err, err_len) it writes one sentence for people there.
 */
#ifndef FIELDBRAIN_BRAIN_H
#define FIELDBRAIN_BRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brain_params.h"

/* What one cycle did, besides the motors. */
typedef struct {
    uint64_t cycle;       /* t of this cycle, starting at 1 */
    float energy;         /* mean |F| after the clamp; NaN when not measured (Vulkan lazy cycles) */
    float saturated;      /* fraction of elements at +-clamp_limit */
    float activity;       /* mean |F| measured by step 6 (when it ran), else -1 */
    bool diffused;        /* step 3 ran */
    bool noised;          /* step 4 ran */
    bool energized;       /* step 6 found low activity and injected energy */
    double gpu_ms;        /* device time of the cycle (timestamps), -1 if unknown */
} brain_stats;

typedef struct brain brain;

/* Creates a brain: validates p, chooses the backend and device, allocates
 * the field and draws its initial state from p->seed. Prints nothing: the
 * choice and its reason are brain_device_name and brain_device_reason, for
 * the program to show. */
int brain_create(const brain_params *p, brain **out, char *err, size_t err_len);

/* Destroys *b and sets *b to NULL; harmless on NULL. */
void brain_destroy(brain **b);

/* One cycle. `sensors` holds n_sensors values (n_sensors <= sensors; the rest
 * is left out). Non-finite sensor values are refused (BRAIN_ERR_PARAM) before
 * anything changes. Writes p.motors floats to motors and, if stats is not
 * NULL, the cycle's stats. No allocation and one device wait. A cycle that
 * produced a non-finite motor or momentum (a device fault: no input within
 * the bounds brain_params_check_bounds accepts can) returns
 * BRAIN_ERR_NONFINITE and leaves the cycle counter where it was; the state is
 * then unusable until brain_reset or brain_load. */
int brain_step(brain *b, const float *sensors, uint32_t n_sensors,
               float *motors, brain_stats *stats);

/* Resets the brain to a fresh field: the field and momentum as brain_create
 * drew them from p.seed. The cycle counter runs on (the next step is cycle
 * brain_get_cycle + 1), so random draws never repeat a cycle's. What the
 * control loop does after a failed cycle. */
int brain_reset(brain *b);

/* Changes the parameters while the brain runs: the next brain_step uses p.
 * Only the numbers of the arithmetic may differ from brain_get_params (the
 * gains, decay, diffusion, noise, momentum, activity, energy, motor gain,
 * clamp limit, init_std for the next reset, the *_every periods); a change
 * of the shape, sensors, motors, seed, backend, precision, device, threads
 * or validation is refused (BRAIN_ERR_PARAM) with a sentence that says why,
 * as is a value out of range (brain_params_check). On error nothing
 * changed. No allocation and no device wait: a control loop calls it
 * between two steps. A brain so changed steps bit for bit as one created
 * with p and loaded from a checkpoint of it (on Vulkan, a checkpoint taken
 * after a dense cycle: one taken during lazy cycles holds the field
 * materialised, within rounding of the stored a * F + b). */
int brain_set_params(brain *b, const brain_params *p, char *err, size_t err_len);

/* The field as [X][Y][Z][C] float32 (count = brain_field_count). */
int brain_read_field(brain *b, float *dst);
/* One plane of the field with all its channels, for pictures: axis 0 is the
 * plane x = index ([Y][Z][C] floats), axis 1 is y = index ([X][Z][C]), axis 2
 * is z = index ([X][Y][C]). Moves only that plane off the device. */
int brain_read_slab(brain *b, uint32_t axis, uint32_t index, float *dst);
uint64_t brain_slab_count(const brain *b, uint32_t axis);

/* Replaces the field (tests, checkpoints). */
int brain_write_field(brain *b, const float *src);
uint64_t brain_field_count(const brain *b);

const brain_params *brain_get_params(const brain *b);
uint64_t brain_get_cycle(const brain *b);
/* Momentum M, p.channels floats; replacing it is for tests and checkpoints. */
int brain_read_momentum(brain *b, float *dst);
int brain_write_momentum(brain *b, const float *src);

/* Sensor and motor spots: n x 3 (x, y, z) each. */
const uint32_t *brain_sensor_spots(const brain *b);
const uint32_t *brain_motor_spots(const brain *b);

/* Which backend runs, and on what device ("cpu: 2 threads", "NVIDIA H100 ..."),
 * and why it was chosen. */
brain_backend brain_get_backend(const brain *b);
const char *brain_device_name(const brain *b);
const char *brain_device_reason(const brain *b);

/* The device's measured copy bandwidth (bytes read + written per second) on
 * a buffer of about `bytes`: the floor a cycle is compared with. CPU: an
 * in-place scale on the backend's threads, of the field itself (by 1, so it
 * is left as it was) unless `bytes` exceeds it; Vulkan: vkCmdCopyBuffer
 * timed by timestamps. Best of several runs. */
int brain_measure_bandwidth(brain *b, uint64_t bytes, double *bytes_per_s);

/* Checkpoints: PATH.json (sidecar: parameters, seed, cycle, momentum, spots,
 * the name and checksum of the field file) and the field as a NumPy .npy
 * file beside it. Written atomically: the field goes to a new file, then the
 * sidecar is replaced by rename, so a crash leaves the previous checkpoint
 * whole. PATH may end in ".json" or not. */
int brain_save(brain *b, const char *path, char *err, size_t err_len);

/* Reads the parameters stored in a checkpoint's sidecar (to create a brain
 * that matches it). Backend, device, threads and validation are left as they
 * are in *p. */
int brain_checkpoint_params(const char *path, brain_params *p, char *err, size_t err_len);

/* Restores field, momentum, cycle and spots from a checkpoint into b, whose
 * shape (X, Y, Z, C, sensors, motors) must match. The file is verified in
 * full (size, checksum) before b is touched: on error b is unchanged. */
int brain_load(brain *b, const char *path, char *err, size_t err_len);

/* For saving without stalling a control loop: take a host copy of the state
 * (one readback, on the loop's thread), then write it from any thread. A
 * snapshot holds its own buffers, allocated once, and takes the state of any
 * brain of the shape it was created for (BRAIN_ERR_MISMATCH otherwise). */
typedef struct brain_snapshot brain_snapshot;
int brain_snapshot_create(const brain *b, brain_snapshot **out);
int brain_snapshot_take(brain *b, brain_snapshot *s);
uint64_t brain_snapshot_cycle(const brain_snapshot *s);
int brain_snapshot_save(const brain_snapshot *s, const char *path, char *err, size_t err_len);
void brain_snapshot_destroy(brain_snapshot **s);

/* Saving without opening a file: the files of checkpoint PATH (both field
 * files, the sidecar and its spare PATH.json.next, the directory) opened
 * once, so that a later save needs no new file descriptor even when all are
 * taken (by idle connections). The same checkpoint as brain_snapshot_save
 * writes, as atomic: the field goes into the file the sidecar does not name,
 * the new sidecar replaces the old by rename. Open creates what is missing
 * (an empty field file is never named by a sidecar). */
typedef struct brain_ckpt_files brain_ckpt_files;
int brain_ckpt_files_open(const char *path, brain_ckpt_files **out, char *err, size_t err_len);
int brain_snapshot_save_held(const brain_snapshot *s, brain_ckpt_files *f, char *err, size_t err_len);
void brain_ckpt_files_close(brain_ckpt_files **f);

/* ---- Fleets: many brains stepped together ----
 * n brains of one shape and one set of parameters, each with its own seed
 * (so its own spots, field and random draws), on one device. Each is a whole
 * brain: every function above (save, load, reset, set_params, read_slab,
 * snapshots) takes brain_fleet_brain(f, i), and steps it bit for bit as a
 * brain made alone by brain_create with that seed. What the fleet adds is
 * brain_fleet_step: on Vulkan the cycles of every brain stepped go to the
 * device in one queue submission with one fence wait, and every brain's
 * motors come back in that one wait; on the CPU the brains are spread over
 * the worker threads (p->threads), each brain stepped by one thread. A
 * fleet of one is exactly brain_create's brain (its threads, its device).
 * Use a fleet and its brains from one thread at a time (on Vulkan the
 * brains share one device queue). gpu_ms of a Vulkan fleet step is each
 * brain's own timestamps; in one submission a brain's start stamp may be
 * taken while the brain before it still runs, so the sum over the brains
 * can exceed the step's device time.
 *
 * A fleet too large for the device's memory (Vulkan: the device-local
 * heap; CPU: physical memory) is refused by create with BRAIN_ERR_TOO_BIG
 * and a sentence giving the bytes it needs and the bytes there are. */
#define BRAIN_FLEET_MAX 1024

typedef struct brain_fleet brain_fleet;

/* seeds: n seeds (p->seed is not used); 1 <= n <= BRAIN_FLEET_MAX. */
int brain_fleet_create(const brain_params *p, const uint64_t *seeds, uint32_t n,
                       brain_fleet **out, char *err, size_t err_len);
void brain_fleet_destroy(brain_fleet **f);
uint32_t brain_fleet_size(const brain_fleet *f);
/* What the fleet runs on, for people: a CPU fleet of several brains "cpu: 2
 * workers for 64 one-thread brains", else its first brain's device name. */
const char *brain_fleet_device_name(const brain_fleet *f);
brain *brain_fleet_brain(brain_fleet *f, uint32_t i);

/* Steps brain i for every i with step[i] true, with sensors[i] (p.sensors
 * values each); writes its motors to motors[i] (p.motors floats), its stats
 * to stats[i] (may be NULL) and its result to rc[i]: 0, or the negative
 * brain_err brain_step would have returned (BRAIN_ERR_NONFINITE: that brain
 * only is unusable until reset or load; the others stepped). Brains not
 * stepped are untouched (rc[i] = 0). No allocation. Returns 0, or a
 * negative brain_err when the call itself could not run (then rc says which
 * brains failed). */
int brain_fleet_step(brain_fleet *f, const bool *step, const float *const *sensors,
                     float *const *motors, brain_stats *stats, int *rc);

#endif
