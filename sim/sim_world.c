/* sim_world.c: the rover's physics through MuJoCo's C API: load the MJCF,
 * map motor commands onto actuators, step one control tick, and turn the
 * state into the 16 scaled sensor values of SENSORS.md. Range and floor
 * sensors are rays cast here (so they see only the world, never the robot).
 */
#include "sim.h"
#include "sim_internal.h"

#include "fail.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mujoco/mujoco.h>

/* Floor sensors look at a small spot, not a point: rays across it give an
 * analog reading at the line's edge, as a real reflectance sensor does. */
#define FLOOR_RAYS 5
#define FLOOR_SPOT_HALF_M 0.006
/* A bump event ends when the force falls below this (hysteresis, so one
 * push that flickers around the threshold counts once). */
#define BUMP_RELEASE_N 0.05

static const char *const sensor_names[SIM_SENSORS] = {
    "range_head", "range_front_left", "range_front_right", "range_left", "range_right",
    "range_rear", "wheel_left_speed", "wheel_right_speed", "gyro_z", "accel_x", "accel_y",
    "bump_front", "bump_rear", "floor_left", "floor_center", "floor_right",
};
static const char *const motor_names[SIM_MOTORS] = {"wheel_left", "wheel_right", "steer", "pan", "tilt"};
static const char *const range_sites[SIM_RANGES] = {
    "range_head", "range_front_left", "range_front_right", "range_left", "range_right", "range_rear",
};
static const char *const floor_sites[SIM_FLOORS] = {"floor_left", "floor_center", "floor_right"};

struct sim_world {
    mjModel *m;
    mjData *d;
    int substeps;            /* physics steps per tick */
    int chassis;             /* body id */
    int root_qpos, root_dof; /* the free joint's addresses */
    int actuator[SIM_MOTORS];
    int range_site[SIM_RANGES];
    int floor_site[SIM_FLOORS];
    int adr_wheel[2], adr_gyro, adr_accel, adr_bump[2]; /* into sensordata */
    float cmd[SIM_MOTORS];   /* commands in force, [-1, 1] */
    int bump_on[2];
    sim_stats stats;
};

const char *sim_strerror(int err)
{
    switch (err) {
    case SIM_OK: return "ok";
    case SIM_ERR_MODEL: return "the model did not load";
    case SIM_ERR_SHAPE: return "the model lacks a part the rover needs";
    case SIM_ERR_NOMEM: return "out of memory";
    case SIM_ERR_ARG: return "argument out of range";
    case SIM_ERR_NONFINITE: return "motor command is not finite";
    case SIM_ERR_UNSTABLE: return "the physics diverged and was reset";
    default: return "unknown error";
    }
}

const char *sim_sensor_name(int i)
{
    return i >= 0 && i < SIM_SENSORS ? sensor_names[i] : NULL;
}

const char *sim_motor_name(int i)
{
    return i >= 0 && i < SIM_MOTORS ? motor_names[i] : NULL;
}

static int load_bundled(mjModel **out, char *err, size_t err_len)
{
    /* mjVFS holds 2000 file names inline (megabytes): heap, never stack. */
    mjVFS *vfs = calloc(1, sizeof *vfs);
    if (!vfs)
        return fb_fail(err, err_len, SIM_ERR_NOMEM, "out of memory for the model");
    mj_defaultVFS(vfs);
    int rc = SIM_OK;
    if (mj_makeEmptyFileVFS(vfs, "rover.xml", (int)sim_rover_xml_len) != 0) {
        rc = fb_fail(err, err_len, SIM_ERR_MODEL, "bundled rover: cannot make its in-memory file");
        goto out_vfs;
    }
    int idx = mj_findFileVFS(vfs, "rover.xml");
    memcpy(vfs->filedata[idx], sim_rover_xml, sim_rover_xml_len);
    char merr[512] = "";
    *out = mj_loadXML("rover.xml", vfs, merr, sizeof merr);
    if (!*out)
        rc = fb_fail(err, err_len, SIM_ERR_MODEL, "bundled rover: %s", merr);
    mj_deleteVFS(vfs);
out_vfs:
    free(vfs);
    return rc;
}

/* The id of the model's part `name` of kind `type` into *id. */
static int find(const mjModel *m, int type, const char *name, const char *what, int *id, char *err,
                size_t err_len)
{
    *id = mj_name2id(m, type, name);
    if (*id < 0)
        return fb_fail(err, err_len, SIM_ERR_SHAPE, "model has no %s named '%s' (see sim/SENSORS.md)", what, name);
    return SIM_OK;
}

static int find_sensor(const mjModel *m, const char *name, int type, int dim, int *adr, char *err, size_t err_len)
{
    int id, rc = find(m, mjOBJ_SENSOR, name, "sensor", &id, err, err_len);
    if (rc)
        return rc;
    if (m->sensor_type[id] != type || m->sensor_dim[id] != dim)
        return fb_fail(err, err_len, SIM_ERR_SHAPE, "model sensor '%s' has the wrong type or size (see sim/SENSORS.md)",
                       name);
    *adr = m->sensor_adr[id];
    return SIM_OK;
}

static int bind_parts(sim_world *w, char *err, size_t err_len)
{
    const mjModel *m = w->m;
    int rc;
    if ((rc = find(m, mjOBJ_BODY, "chassis", "body", &w->chassis, err, err_len)))
        return rc;
    int root = m->body_jntadr[w->chassis];
    if (root < 0 || m->jnt_type[root] != mjJNT_FREE)
        return fb_fail(err, err_len, SIM_ERR_SHAPE, "model body 'chassis' must have a free joint first");
    w->root_qpos = m->jnt_qposadr[root];
    w->root_dof = m->jnt_dofadr[root];
    for (int i = 0; i < SIM_MOTORS; i++) {
        int a;
        if ((rc = find(m, mjOBJ_ACTUATOR, motor_names[i], "actuator", &a, err, err_len)))
            return rc;
        /* Servos hold by their joint's position, so every motor drives one
         * joint and has a finite control range. */
        if (m->actuator_trntype[a] != mjTRN_JOINT || !m->actuator_ctrllimited[a] ||
            !(m->actuator_ctrlrange[2 * a] < m->actuator_ctrlrange[2 * a + 1]))
            return fb_fail(err, err_len, SIM_ERR_SHAPE, "model actuator '%s' must drive a joint and have a ctrlrange",
                           motor_names[i]);
        w->actuator[i] = a;
    }
    for (int i = 0; i < SIM_RANGES; i++)
        if ((rc = find(m, mjOBJ_SITE, range_sites[i], "site", &w->range_site[i], err, err_len)))
            return rc;
    for (int i = 0; i < SIM_FLOORS; i++)
        if ((rc = find(m, mjOBJ_SITE, floor_sites[i], "site", &w->floor_site[i], err, err_len)))
            return rc;
    if ((rc = find_sensor(m, "wheel_left_speed", mjSENS_JOINTVEL, 1, &w->adr_wheel[0], err, err_len)) ||
        (rc = find_sensor(m, "wheel_right_speed", mjSENS_JOINTVEL, 1, &w->adr_wheel[1], err, err_len)) ||
        (rc = find_sensor(m, "gyro", mjSENS_GYRO, 3, &w->adr_gyro, err, err_len)) ||
        (rc = find_sensor(m, "accel", mjSENS_ACCELEROMETER, 3, &w->adr_accel, err, err_len)) ||
        (rc = find_sensor(m, "bump_front", mjSENS_TOUCH, 1, &w->adr_bump[0], err, err_len)) ||
        (rc = find_sensor(m, "bump_rear", mjSENS_TOUCH, 1, &w->adr_bump[1], err, err_len)))
        return rc;
    return SIM_OK;
}

int sim_world_new(const char *model_path, double tick_s, sim_world **out, char *err, size_t err_len)
{
    *out = NULL;
    if (!(tick_s > 0 && tick_s <= 1.0))
        return fb_fail(err, err_len, SIM_ERR_ARG, "tick of %g s: must be in (0, 1]", tick_s);
    sim_world *w = calloc(1, sizeof *w);
    if (!w)
        return fb_fail(err, err_len, SIM_ERR_NOMEM, "out of memory");
    int rc;
    if (!model_path || !model_path[0]) {
        rc = load_bundled(&w->m, err, err_len);
    } else {
        char merr[512] = "";
        w->m = mj_loadXML(model_path, NULL, merr, sizeof merr);
        rc = w->m ? SIM_OK : fb_fail(err, err_len, SIM_ERR_MODEL, "%s: %s", model_path, merr);
    }
    if (rc)
        goto fail;
    if ((rc = bind_parts(w, err, err_len)) != SIM_OK)
        goto fail;
    w->d = mj_makeData(w->m);
    if (!w->d) {
        rc = fb_fail(err, err_len, SIM_ERR_NOMEM, "out of memory for the simulation data");
        goto fail;
    }
    double steps = round(tick_s / w->m->opt.timestep);
    w->substeps = steps < 1 ? 1 : (int)steps;
    const double *q0 = w->m->qpos0 + w->root_qpos;
    double yaw = atan2(2 * (q0[3] * q0[6] + q0[4] * q0[5]), 1 - 2 * (q0[5] * q0[5] + q0[6] * q0[6]));
    sim_world_place(w, q0[0], q0[1], yaw);
    *out = w;
    return SIM_OK;
fail:
    sim_world_destroy(&w);
    return rc;
}

void sim_world_destroy(sim_world **pw)
{
    if (!pw || !*pw)
        return;
    sim_world *w = *pw;
    if (w->d)
        mj_deleteData(w->d);
    if (w->m)
        mj_deleteModel(w->m);
    free(w);
    *pw = NULL;
}

/* ctrl of actuator a for a command in [-1, 1]. */
static double ctrl_of(const mjModel *m, int a, float cmd)
{
    double lo = m->actuator_ctrlrange[2 * a], hi = m->actuator_ctrlrange[2 * a + 1];
    return lo + 0.5 * ((double)cmd + 1.0) * (hi - lo);
}

static float cmd_of(const mjModel *m, int a, double ctrl)
{
    double lo = m->actuator_ctrlrange[2 * a], hi = m->actuator_ctrlrange[2 * a + 1];
    double c = 2.0 * (ctrl - lo) / (hi - lo) - 1.0;
    return (float)(c < -1 ? -1 : c > 1 ? 1 : c);
}

static void apply(sim_world *w)
{
    for (int i = 0; i < SIM_MOTORS; i++)
        w->d->ctrl[w->actuator[i]] = ctrl_of(w->m, w->actuator[i], w->cmd[i]);
}

int sim_world_set_motors(sim_world *w, const float cmd[SIM_MOTORS])
{
    for (int i = 0; i < SIM_MOTORS; i++)
        if (!isfinite(cmd[i])) {
            w->stats.refused++;
            return SIM_ERR_NONFINITE;
        }
    for (int i = 0; i < SIM_MOTORS; i++) {
        float c = cmd[i];
        if (c < -1.0f || c > 1.0f) {
            w->stats.clamped++;
            c = c < -1.0f ? -1.0f : 1.0f;
        }
        w->cmd[i] = c;
    }
    apply(w);
    return SIM_OK;
}

void sim_world_safety_stop(sim_world *w)
{
    /* Wheels: zero speed, whatever the range (a wheel range need not be
     * symmetric). Servos: their joint's present position. */
    for (int i = 0; i < SIM_MOTORS; i++) {
        int a = w->actuator[i];
        double target = 0.0;
        if (i != SIM_MOTOR_WHEEL_LEFT && i != SIM_MOTOR_WHEEL_RIGHT)
            target = w->d->qpos[w->m->jnt_qposadr[w->m->actuator_trnid[2 * a]]];
        w->cmd[i] = cmd_of(w->m, a, target);
    }
    apply(w);
}

void sim_world_motors(const sim_world *w, float cmd[SIM_MOTORS])
{
    memcpy(cmd, w->cmd, sizeof w->cmd);
}

static void planar(const sim_world *w, double *x, double *y)
{
    *x = w->d->qpos[w->root_qpos];
    *y = w->d->qpos[w->root_qpos + 1];
}

int sim_world_tick(sim_world *w)
{
    mjData *d = w->d;
    int resets_before = d->warning[mjWARN_BADQACC].number;
    double x0, y0;
    planar(w, &x0, &y0);
    for (int i = 0; i < w->substeps; i++)
        mj_step(w->m, d);
    /* mj_step leaves positions and sensors one integration behind; the
     * sensors sent must describe the state the brain will act on. */
    mj_forward(w->m, d);
    int rc = SIM_OK;
    w->stats.ticks++;
    if (d->warning[mjWARN_BADQACC].number != resets_before) {
        /* MuJoCo reset the state (and zeroed ctrl): put our commands back. */
        w->stats.resets++;
        apply(w);
        rc = SIM_ERR_UNSTABLE;
    } else {
        double x1, y1;
        planar(w, &x1, &y1);
        w->stats.distance_m += hypot(x1 - x0, y1 - y0);
    }
    for (int b = 0; b < 2; b++) {
        double f = d->sensordata[w->adr_bump[b]];
        if (!w->bump_on[b] && f > SIM_BUMP_EVENT_N) {
            w->bump_on[b] = 1;
            w->stats.collisions++;
        } else if (w->bump_on[b] && f < BUMP_RELEASE_N) {
            w->bump_on[b] = 0;
        }
    }
    return rc;
}

static double cast(const sim_world *w, const double pnt[3], const double dir[3], const mjtByte groups[mjNGROUP], int *geom)
{
    return mj_ray(w->m, w->d, pnt, dir, groups, 1, -1, geom);
}

void sim_world_raw(const sim_world *w, sim_raw *raw)
{
    const mjModel *m = w->m;
    const mjData *d = w->d;
    /* Ranges see the world (group 0) only; floor sensors the world and the line (group 2). */
    static const mjtByte world_only[mjNGROUP] = {1, 0, 0, 0, 0, 0};
    static const mjtByte world_and_line[mjNGROUP] = {1, 0, 1, 0, 0, 0};
    for (int i = 0; i < SIM_RANGES; i++) {
        int s = w->range_site[i], geom = -1;
        const double *mat = d->site_xmat + 9 * s;
        double dir[3] = {mat[2], mat[5], mat[8]};
        double r = cast(w, d->site_xpos + 3 * s, dir, world_only, &geom);
        raw->range_m[i] = (r < 0 || r > SIM_RANGE_MAX_M) ? -1.0 : r;
    }
    for (int i = 0; i < SIM_FLOORS; i++) {
        int s = w->floor_site[i];
        const double *mat = d->site_xmat + 9 * s;
        const double *body = d->xmat + 9 * m->site_bodyid[s];
        double dir[3] = {mat[2], mat[5], mat[8]};
        int dark = 0;
        for (int k = 0; k < FLOOR_RAYS; k++) {
            double off = FLOOR_SPOT_HALF_M * (2.0 * k / (FLOOR_RAYS - 1) - 1.0);
            double p[3];
            for (int j = 0; j < 3; j++)
                p[j] = d->site_xpos[3 * s + j] + off * body[3 * j + 1];
            int geom = -1;
            double r = cast(w, p, dir, world_and_line, &geom);
            /* Over the line, or over nothing near (lifted, tipped): no
             * light comes back, as with a real reflectance sensor. */
            if (r < 0 || r > SIM_FLOOR_MAX_M || (geom >= 0 && m->geom_group[geom] == 2))
                dark++;
        }
        raw->floor_dark[i] = (double)dark / FLOOR_RAYS;
    }
    for (int b = 0; b < 2; b++) {
        raw->wheel_rad_s[b] = d->sensordata[w->adr_wheel[b]];
        raw->bump_n[b] = d->sensordata[w->adr_bump[b]];
    }
    raw->gyro_z_rad_s = d->sensordata[w->adr_gyro + 2];
    raw->accel_m_s2[0] = d->sensordata[w->adr_accel];
    raw->accel_m_s2[1] = d->sensordata[w->adr_accel + 1];
}

static float clamp_unit(double v)
{
    /* A diverged state must never put a NaN on the wire: it reads as 0. */
    if (!isfinite(v))
        return 0.0f;
    return (float)(v < -1 ? -1 : v > 1 ? 1 : v);
}

void sim_world_sensors(const sim_world *w, float out[SIM_SENSORS])
{
    sim_raw raw;
    sim_world_raw(w, &raw);
    for (int i = 0; i < SIM_RANGES; i++)
        out[SIM_SENSOR_RANGE_HEAD + i] = raw.range_m[i] < 0 ? 0.0f : clamp_unit(1.0 - raw.range_m[i] / SIM_RANGE_MAX_M);
    out[SIM_SENSOR_WHEEL_LEFT] = clamp_unit(raw.wheel_rad_s[0] / SIM_WHEEL_SCALE_RAD_S);
    out[SIM_SENSOR_WHEEL_RIGHT] = clamp_unit(raw.wheel_rad_s[1] / SIM_WHEEL_SCALE_RAD_S);
    out[SIM_SENSOR_GYRO_Z] = clamp_unit(raw.gyro_z_rad_s / SIM_GYRO_SCALE_RAD_S);
    out[SIM_SENSOR_ACCEL_X] = clamp_unit(raw.accel_m_s2[0] / SIM_ACCEL_SCALE_M_S2);
    out[SIM_SENSOR_ACCEL_Y] = clamp_unit(raw.accel_m_s2[1] / SIM_ACCEL_SCALE_M_S2);
    out[SIM_SENSOR_BUMP_FRONT] = clamp_unit(raw.bump_n[0] / SIM_BUMP_SCALE_N);
    out[SIM_SENSOR_BUMP_REAR] = clamp_unit(raw.bump_n[1] / SIM_BUMP_SCALE_N);
    for (int i = 0; i < SIM_FLOORS; i++)
        out[SIM_SENSOR_FLOOR_LEFT + i] = clamp_unit(raw.floor_dark[i]);
}

void sim_world_pose(const sim_world *w, sim_pose *pose)
{
    const double *q = w->d->qpos + w->root_qpos;
    const double *v = w->d->qvel + w->root_dof; /* free joint: linear velocity in the world frame */
    pose->time_s = w->d->time;
    pose->x = q[0];
    pose->y = q[1];
    pose->yaw = atan2(2 * (q[3] * q[6] + q[4] * q[5]), 1 - 2 * (q[5] * q[5] + q[6] * q[6]));
    pose->speed = v[0] * cos(pose->yaw) + v[1] * sin(pose->yaw);
}

void sim_world_stats(const sim_world *w, sim_stats *stats)
{
    *stats = w->stats;
    stats->time_s = w->d->time;
}

int sim_world_place(sim_world *w, double x, double y, double yaw)
{
    if (!isfinite(x) || !isfinite(y) || !isfinite(yaw))
        return SIM_ERR_ARG;
    mj_resetData(w->m, w->d);
    double *q = w->d->qpos + w->root_qpos;
    q[0] = x;
    q[1] = y; /* z stays the model's: the wheels on the floor */
    q[3] = cos(0.5 * yaw);
    q[4] = 0;
    q[5] = 0;
    q[6] = sin(0.5 * yaw);
    memset(&w->stats, 0, sizeof w->stats);
    memset(w->bump_on, 0, sizeof w->bump_on);
    /* At rest: wheels stopped, servos centred. */
    for (int i = 0; i < SIM_MOTORS; i++)
        w->cmd[i] = cmd_of(w->m, w->actuator[i], 0.0);
    apply(w);
    mj_forward(w->m, w->d);
    return SIM_OK;
}
