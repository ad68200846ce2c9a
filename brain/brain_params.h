/* brain_params.h: the parameters of a brain (field-brain.md) and their
 * rules: the table of allowed ranges, the defaults, the checks and the
 * stability rule, and the error codes every brain function returns. A
 * library of its own (fb_brain_params, libm only) so that the config reader
 * and programs that never step a brain (the simulator) need no backend.
 * brain.h includes it; include it alone where no brain is stepped.
 */
#ifndef FIELDBRAIN_BRAIN_PARAMS_H
#define FIELDBRAIN_BRAIN_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    BRAIN_OK = 0,
    BRAIN_ERR_PARAM = -1,     /* a parameter out of range */
    BRAIN_ERR_NOMEM = -2,     /* host memory */
    BRAIN_ERR_DEVICE = -3,    /* no usable device, or a Vulkan call failed */
    BRAIN_ERR_TOO_BIG = -4,   /* the field does not fit the device */
    BRAIN_ERR_IO = -5,        /* a file could not be read or written */
    BRAIN_ERR_FORMAT = -6,    /* a checkpoint is malformed, truncated or corrupt */
    BRAIN_ERR_MISMATCH = -7,  /* a checkpoint is for another shape or seed */
    BRAIN_ERR_NONFINITE = -8, /* a cycle produced a non-finite motor or state (a device fault),
                                 or a state to be saved holds one */
} brain_err;

const char *brain_strerror(int err);

typedef enum {
    BRAIN_BACKEND_AUTO = 0,   /* a real GPU if there is one, else the CPU */
    BRAIN_BACKEND_VULKAN = 1,
    BRAIN_BACKEND_CPU = 2,
} brain_backend;

const char *brain_backend_name(brain_backend backend);

#define BRAIN_DEVICE_LEN 128

/* How the field is stored; the arithmetic is float32 either way. */
typedef enum {
    BRAIN_PRECISION_F32 = 0,
    BRAIN_PRECISION_F16 = 1,  /* Vulkan only: half the bytes; each stored element rounded to half */
} brain_precision;

/* Every parameter of field-brain.md plus how to run it. */
typedef struct {
    uint32_t size_x, size_y, size_z; /* spatial grid */
    uint32_t channels;               /* C */
    uint32_t sensors;                /* length of the sensor vector */
    uint32_t motors;                 /* number of motors */
    uint64_t seed;

    float init_std;
    float sensor_gain;
    float decay;
    uint32_t diffusion_every;
    float diffusion_rate;
    uint32_t noise_every;
    float noise_fraction;
    float noise_std;
    float momentum_keep;
    float momentum_gain;
    uint32_t activity_every;
    float activity_threshold;
    float energy_fraction;
    float energy_std;
    float motor_gain;
    float clamp_limit;

    brain_backend backend;
    brain_precision precision;
    /* Vulkan device: "" chooses (discrete, integrated, virtual, cpu), a
     * decimal index or a case-insensitive substring of the name forces one. */
    char device[BRAIN_DEVICE_LEN];
    uint32_t threads;   /* CPU backend worker threads; 0 = one per core */
    bool validation;    /* Vulkan: enable VK_LAYER_KHRONOS_validation */
} brain_params;

/* The numeric parameters with their allowed ranges (inclusive), in one table
 * that brain_params_check and the config reader both use. */
typedef enum { BRAIN_PARAM_U32, BRAIN_PARAM_U64, BRAIN_PARAM_FLOAT } brain_param_type;
typedef struct {
    const char *key;        /* as in field-brain.md and the config file */
    brain_param_type type;
    size_t offset;          /* offsetof(brain_params, ...) */
    double min, max;
    const char *doc;        /* one line */
} brain_param_info;

const brain_param_info *brain_param_table(size_t *count);

/* The defaults of field-brain.md (16 sensors, 5 motors, a 32^3 x 64 field). */
void brain_params_default(brain_params *p);

/* Checks every value against its allowed range; on failure writes
 * "key: what is wrong (allowed range)" to err. */
int brain_params_check(const brain_params *p, char *err, size_t err_len);

/* The largest |value| a standard normal draw of brain/rng.h can take
 * (Box-Muller from 24-bit uniforms: sqrt(-2 ln 2^-24) = 5.77). */
#define BRAIN_NORMAL_MAX 5.8

/* Whether any input within +-sensor_limit can make the state overflow:
 * computes a bound on |F| and |M| within a cycle (the clamp, or the initial
 * draws, plus every sensor injected at one spot at the limit, noise, the
 * momentum gain and energy), and fails with a sentence naming the keys when
 * that bound times the number of elements (the sums a cycle forms) could
 * leave float32, or, for precision f16, when the bound leaves half precision.
 * *bound (may be NULL) gets the bound. */
int brain_params_check_bounds(const brain_params *p, double sensor_limit, double *bound,
                              char *err, size_t err_len);

/* d * (1 + g) >= 1 makes the channel means grow (field-brain.md, Stability).
 * Returns true and writes a warning naming both keys when that is so. */
bool brain_params_unstable(const brain_params *p, char *warn, size_t warn_len);

#endif
