/* sim.h: the door to sim/'s physics: the bundled MuJoCo rover (or another
 * MJCF model with the same named parts) as a plain C object. Motor commands
 * in [-1, 1] go in, SIM_SENSORS values scaled to about [-1, 1] come out;
 * sim/SENSORS.md documents every one. No sockets here: sim_main.c speaks the
 * wire protocol, tests drive this API directly.
 */
#ifndef FIELDBRAIN_SIM_H
#define FIELDBRAIN_SIM_H

#include <stddef.h>
#include <stdint.h>

#define SIM_SENSORS 16
#define SIM_MOTORS 5
#define SIM_RANGES 6   /* head, front-left, front-right, left, right, rear */
#define SIM_FLOORS 3   /* left, center, right */

/* Motor order (the wire protocol's motor vector). */
enum { SIM_MOTOR_WHEEL_LEFT, SIM_MOTOR_WHEEL_RIGHT, SIM_MOTOR_STEER, SIM_MOTOR_PAN, SIM_MOTOR_TILT };

/* Sensor order (the wire protocol's sensor vector). */
enum {
    SIM_SENSOR_RANGE_HEAD, SIM_SENSOR_RANGE_FRONT_LEFT, SIM_SENSOR_RANGE_FRONT_RIGHT,
    SIM_SENSOR_RANGE_LEFT, SIM_SENSOR_RANGE_RIGHT, SIM_SENSOR_RANGE_REAR,
    SIM_SENSOR_WHEEL_LEFT, SIM_SENSOR_WHEEL_RIGHT, SIM_SENSOR_GYRO_Z,
    SIM_SENSOR_ACCEL_X, SIM_SENSOR_ACCEL_Y, SIM_SENSOR_BUMP_FRONT, SIM_SENSOR_BUMP_REAR,
    SIM_SENSOR_FLOOR_LEFT, SIM_SENSOR_FLOOR_CENTER, SIM_SENSOR_FLOOR_RIGHT,
};

/* Scales of the sensor vector (SENSORS.md says the same). */
#define SIM_RANGE_MAX_M 2.0        /* proximity 0 at or beyond this */
#define SIM_WHEEL_SCALE_RAD_S 15.0
#define SIM_GYRO_SCALE_RAD_S 3.14159265358979
#define SIM_ACCEL_SCALE_M_S2 10.0
#define SIM_BUMP_SCALE_N 2.0
#define SIM_BUMP_EVENT_N 0.3       /* a bump event starts above this force */
#define SIM_FLOOR_MAX_M 0.1        /* a floor ray longer than this sees nothing (dark) */

typedef enum {
    SIM_OK = 0,
    SIM_ERR_MODEL = -1,     /* the MJCF file did not load */
    SIM_ERR_SHAPE = -2,     /* the model lacks a named part the rover needs */
    SIM_ERR_NOMEM = -3,
    SIM_ERR_ARG = -4,       /* an argument out of range */
    SIM_ERR_NONFINITE = -5, /* a motor command is NaN or infinite: refused */
    SIM_ERR_UNSTABLE = -6,  /* the physics diverged and MuJoCo reset it */
} sim_err;

const char *sim_strerror(int err);

typedef struct sim_world sim_world;

typedef struct {
    double time_s;   /* simulated time */
    double x, y;     /* chassis origin in the arena (m) */
    double yaw;      /* heading (rad, 0 = +x, counter-clockwise positive) */
    double speed;    /* forward speed (m/s, along the heading) */
} sim_pose;

/* Readings in physical units, before scaling (tests, logs). */
typedef struct {
    double range_m[SIM_RANGES];   /* distance to the world along the ray; -1 = nothing in SIM_RANGE_MAX_M */
    double wheel_rad_s[2];        /* rear left, rear right (positive drives forward) */
    double gyro_z_rad_s;          /* yaw rate, counter-clockwise positive */
    double accel_m_s2[2];         /* body frame x (forward), y (left) */
    double bump_n[2];             /* front, rear: normal contact force on the bumper */
    double floor_dark[SIM_FLOORS];/* fraction of the spot over the line (or over nothing) */
} sim_raw;

typedef struct {
    uint64_t ticks;          /* control ticks stepped */
    double time_s;           /* simulated time */
    double distance_m;       /* path length of the chassis on the floor */
    uint64_t collisions;     /* bump events: a bumper force rising past SIM_BUMP_EVENT_N */
    uint64_t refused;        /* motor vectors refused (non-finite values) */
    uint64_t clamped;        /* motor values outside [-1, 1], clamped */
    uint64_t resets;         /* physics divergences (MuJoCo reset the state) */
} sim_stats;

/* Loads the model (model_path; NULL or "" = the bundled rover, built into
 * the program) and puts the robot at its start pose. tick_s is the
 * simulated time of one control tick (a whole number of physics steps, at
 * least one). On error writes a sentence to err. */
int sim_world_new(const char *model_path, double tick_s, sim_world **out, char *err, size_t err_len);

/* Frees everything; *w becomes NULL. NULL and *w == NULL are harmless. */
void sim_world_destroy(sim_world **w);

/* Sets the motor commands, each in [-1, 1] mapped linearly onto its
 * actuator's range; values outside are clamped (and counted). A vector
 * with any NaN or infinity is refused whole (SIM_ERR_NONFINITE, counted)
 * and the previous commands stay. */
int sim_world_set_motors(sim_world *w, const float cmd[SIM_MOTORS]);

/* Robot-side safety stop: wheels to zero speed, steering and head servos hold
 * where they are now. Stays until the next sim_world_set_motors. */
void sim_world_safety_stop(sim_world *w);

/* The commands now in force, in [-1, 1] (after a safety stop: the wheels 0,
 * the servos their held position). */
void sim_world_motors(const sim_world *w, float cmd[SIM_MOTORS]);

/* Advances the simulation by one tick. SIM_ERR_UNSTABLE if the physics
 * diverged on the way (MuJoCo then restarted it at the model's start pose,
 * and the tick still counts). */
int sim_world_tick(sim_world *w);

/* The sensor vector of the present state (SENSORS.md). */
void sim_world_sensors(const sim_world *w, float out[SIM_SENSORS]);
void sim_world_raw(const sim_world *w, sim_raw *raw);
void sim_world_pose(const sim_world *w, sim_pose *pose);
void sim_world_stats(const sim_world *w, sim_stats *stats);

/* Puts the robot at rest at (x, y) with heading yaw; time and stats restart. */
int sim_world_place(sim_world *w, double x, double y, double yaw);

/* Names for documents and logs ("range_head", "wheel_left"); NULL if out of range. */
const char *sim_sensor_name(int i);
const char *sim_motor_name(int i);

#endif
