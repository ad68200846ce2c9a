/* test_sim.c: the rover's physics through the fb_sim C API, with real
 * MuJoCo and the bundled model: driving, bumping into a wall, steering, the
 * safety stop, refused and clamped commands, sensor ranges, the floor line.
 */
#include "harness.h"
#include "sim.h"

#include <stdlib.h>
#include <unistd.h>

#define TICK_S 0.02

/* MuJoCo writes MUJOCO_LOG.TXT into the working directory: keep it out of
 * the build tree. */
static void enter_temp_dir(void)
{
    char dir[64];
    if (harness_temp_dir("sim", dir, sizeof dir) < 0 || chdir(dir) != 0)
        abort();
}

static sim_world *make_world(void)
{
    enter_temp_dir();
    char err[512] = "";
    sim_world *w = NULL;
    int rc = sim_world_new(NULL, TICK_S, &w, err, sizeof err);
    if (rc != SIM_OK)
        fprintf(stderr, "sim_world_new: %s\n", err);
    return w;
}

static void run(sim_world *w, double seconds)
{
    int ticks = (int)(seconds / TICK_S + 0.5);
    for (int i = 0; i < ticks; i++)
        sim_world_tick(w);
}

static void drive(sim_world *w, float left, float right, float steer)
{
    float cmd[SIM_MOTORS] = {left, right, steer, 0, 0};
    sim_world_set_motors(w, cmd);
}

/* Open floor south of the central obstacle, heading east (+x). */
#define OPEN_X (-0.6)
#define OPEN_Y (-0.55)

TEST(both_wheels_forward_moves_the_car_forward)
{
    sim_world *w = make_world();
    CHECK(w);
    CHECK_EQ_INT(sim_world_place(w, OPEN_X, OPEN_Y, 0.0), SIM_OK);
    sim_pose p0, p1;
    sim_world_pose(w, &p0);
    drive(w, 0.6f, 0.6f, 0.0f);
    run(w, 2.0);
    sim_world_pose(w, &p1);
    /* 0.6 of 15 rad/s on 33 mm wheels is 0.3 m/s: most of 0.6 m in 2 s. */
    CHECK_MSG(p1.x - p0.x > 0.4 && p1.x - p0.x < 0.65, "moved %.3f m along x", p1.x - p0.x);
    CHECK_NEAR(p1.y, p0.y, 0.03);
    CHECK_NEAR(p1.yaw, 0.0, 0.05);
    CHECK(p1.speed > 0.2);
    float s[SIM_SENSORS];
    sim_world_sensors(w, s);
    CHECK_NEAR(s[SIM_SENSOR_WHEEL_LEFT], 0.6, 0.05);
    CHECK_NEAR(s[SIM_SENSOR_WHEEL_RIGHT], 0.6, 0.05);
    sim_stats st;
    sim_world_stats(w, &st);
    CHECK_EQ_INT(st.ticks, 100);
    CHECK_NEAR(st.time_s, 2.0, 1e-9);
    CHECK_NEAR(st.distance_m, p1.x - p0.x, 0.02);
    CHECK_EQ_INT(st.collisions, 0);

    /* And backwards is backwards. */
    drive(w, -0.6f, -0.6f, 0.0f);
    run(w, 3.0);
    sim_pose p2;
    sim_world_pose(w, &p2);
    CHECK_MSG(p2.x < p1.x - 0.4, "reversed from %.3f to %.3f", p1.x, p2.x);
    sim_world_destroy(&w);
    CHECK(w == NULL);
    sim_world_destroy(&w); /* harmless */
    sim_world_destroy(NULL);
}

TEST(driving_into_a_wall_raises_the_bump_sensor_and_shortens_the_front_distance)
{
    sim_world *w = make_world();
    CHECK(w);
    /* Facing the east wall (inner face at x = 2.0), 0.8 m of it ahead. */
    sim_world_place(w, 1.1, 0.4, 0.0);
    sim_raw r0, r1;
    float s0[SIM_SENSORS], s1[SIM_SENSORS];
    sim_world_raw(w, &r0);
    sim_world_sensors(w, s0);
    /* The head sensor sits 53 mm ahead of the chassis origin. */
    CHECK_NEAR(r0.range_m[0], 2.0 - 1.1 - 0.053, 0.01);
    CHECK_NEAR(r0.bump_n[0], 0.0, 1e-9);
    CHECK_NEAR(s0[SIM_SENSOR_BUMP_FRONT], 0.0, 1e-9);
    drive(w, 0.7f, 0.7f, 0.0f);
    run(w, 5.0);
    sim_world_raw(w, &r1);
    sim_world_sensors(w, s1);
    CHECK_MSG(r1.range_m[0] >= 0 && r1.range_m[0] < 0.1, "head range %.3f m at the wall", r1.range_m[0]);
    CHECK_MSG(r1.bump_n[0] > SIM_BUMP_EVENT_N, "front bumper force %.3f N", r1.bump_n[0]);
    CHECK(s1[SIM_SENSOR_BUMP_FRONT] > 0.5f);
    CHECK(s1[SIM_SENSOR_RANGE_HEAD] > s0[SIM_SENSOR_RANGE_HEAD]);
    CHECK_NEAR(r1.bump_n[1], 0.0, 1e-9);
    sim_pose p;
    sim_world_pose(w, &p);
    /* Stopped by the wall: the bumper's face (120 mm ahead) at x = 2.0. */
    CHECK_NEAR(p.x, 2.0 - 0.12, 0.01);
    sim_stats st;
    sim_world_stats(w, &st);
    CHECK_EQ_INT(st.collisions, 1);
    sim_world_destroy(&w);
}

TEST(steering_turns_the_car)
{
    sim_world *w = make_world();
    CHECK(w);
    sim_world_place(w, OPEN_X, OPEN_Y, 0.0);
    drive(w, 0.5f, 0.5f, 1.0f);   /* full left */
    run(w, 1.5);
    sim_pose left;
    sim_world_pose(w, &left);
    CHECK_MSG(left.yaw > 0.5, "yaw %.3f after steering left", left.yaw);
    CHECK(left.y > OPEN_Y);

    sim_world_place(w, OPEN_X, OPEN_Y, 0.0);
    drive(w, 0.5f, 0.5f, -1.0f);  /* full right */
    run(w, 1.5);
    sim_pose right;
    sim_world_pose(w, &right);
    CHECK_MSG(right.yaw < -0.5, "yaw %.3f after steering right", right.yaw);
    CHECK(right.y < OPEN_Y);
    /* The gyro sees the turn. */
    float s[SIM_SENSORS];
    sim_world_sensors(w, s);
    CHECK(s[SIM_SENSOR_GYRO_Z] < -0.05f);
    sim_world_destroy(&w);
}

TEST(safety_stop_stops_the_wheels_and_holds_the_servos)
{
    sim_world *w = make_world();
    CHECK(w);
    sim_world_place(w, OPEN_X, OPEN_Y, 0.0);
    float cmd[SIM_MOTORS] = {0.6f, 0.6f, 0.5f, 0.8f, -0.5f};
    sim_world_set_motors(w, cmd);
    run(w, 1.0);
    sim_pose p;
    sim_world_pose(w, &p);
    CHECK(p.speed > 0.2);
    sim_world_safety_stop(w);
    float held[SIM_MOTORS];
    sim_world_motors(w, held);
    CHECK_NEAR(held[SIM_MOTOR_WHEEL_LEFT], 0.0, 1e-6);
    CHECK_NEAR(held[SIM_MOTOR_WHEEL_RIGHT], 0.0, 1e-6);
    /* The servos had a second to get there: they hold about where they were sent. */
    CHECK_NEAR(held[SIM_MOTOR_STEER], 0.5, 0.1);
    CHECK_NEAR(held[SIM_MOTOR_PAN], 0.8, 0.1);
    CHECK_NEAR(held[SIM_MOTOR_TILT], -0.5, 0.1);
    run(w, 1.0);
    sim_world_pose(w, &p);
    CHECK_NEAR(p.speed, 0.0, 0.01);
    sim_pose q;
    run(w, 1.0);
    sim_world_pose(w, &q);
    CHECK_NEAR(q.x, p.x, 0.005);
    CHECK_NEAR(q.y, p.y, 0.005);
    sim_world_destroy(&w);
}

TEST(nan_commands_are_refused_and_out_of_range_ones_clamped)
{
    sim_world *w = make_world();
    CHECK(w);
    float good[SIM_MOTORS] = {0.3f, 0.3f, 0.0f, 0.0f, 0.0f};
    CHECK_EQ_INT(sim_world_set_motors(w, good), SIM_OK);
    float bad[SIM_MOTORS] = {0.9f, 0.9f, NAN, 0.0f, 0.0f};
    CHECK_EQ_INT(sim_world_set_motors(w, bad), SIM_ERR_NONFINITE);
    float inf[SIM_MOTORS] = {INFINITY, 0.9f, 0.0f, 0.0f, 0.0f};
    CHECK_EQ_INT(sim_world_set_motors(w, inf), SIM_ERR_NONFINITE);
    float now[SIM_MOTORS];
    sim_world_motors(w, now);
    for (int i = 0; i < SIM_MOTORS; i++)
        CHECK_NEAR(now[i], good[i], 0.0);
    float big[SIM_MOTORS] = {7.0f, -3.0f, 1.0f, -1.0f, 0.5f};
    CHECK_EQ_INT(sim_world_set_motors(w, big), SIM_OK);
    sim_world_motors(w, now);
    CHECK_NEAR(now[0], 1.0, 0.0);
    CHECK_NEAR(now[1], -1.0, 0.0);
    sim_stats st;
    sim_world_stats(w, &st);
    CHECK_EQ_INT(st.refused, 2);
    CHECK_EQ_INT(st.clamped, 2);
    run(w, 0.5);
    sim_pose p;
    sim_world_pose(w, &p);
    CHECK(isfinite(p.x) && isfinite(p.y) && isfinite(p.yaw));
    sim_world_destroy(&w);
}

TEST(every_sensor_stays_finite_and_in_range_while_driving_around)
{
    sim_world *w = make_world();
    CHECK(w);
    /* A wandering drive with hits on walls and obstacles, head moving. */
    float lo[SIM_SENSORS], hi[SIM_SENSORS];
    for (int i = 0; i < SIM_SENSORS; i++) {
        lo[i] = 1e9f;
        hi[i] = -1e9f;
    }
    for (int t = 0; t < 1500; t++) {
        float phase = (float)t * 0.01f;
        float cmd[SIM_MOTORS] = {1.0f, 0.9f, sinf(phase * 1.3f), sinf(phase * 2.0f), cosf(phase * 0.7f)};
        if ((t / 250) % 3 == 2) {
            cmd[0] = -0.8f;
            cmd[1] = -1.0f;
        }
        sim_world_set_motors(w, cmd);
        sim_world_tick(w);
        float s[SIM_SENSORS];
        sim_world_sensors(w, s);
        for (int i = 0; i < SIM_SENSORS; i++) {
            CHECK_MSG(isfinite(s[i]) && s[i] >= -1.0f && s[i] <= 1.0f, "sensor %d (%s) = %g", i,
                      sim_sensor_name(i), s[i]);
            lo[i] = fminf(lo[i], s[i]);
            hi[i] = fmaxf(hi[i], s[i]);
        }
    }
    /* Not dead either: the drive moved every wheel, range and IMU reading. */
    for (int i = SIM_SENSOR_RANGE_HEAD; i <= SIM_SENSOR_ACCEL_Y; i++)
        CHECK_MSG(hi[i] - lo[i] > 0.05f, "sensor %d (%s) stayed within [%g, %g]", i, sim_sensor_name(i), lo[i], hi[i]);
    sim_stats st;
    sim_world_stats(w, &st);
    CHECK_EQ_INT(st.resets, 0);
    CHECK(st.distance_m > 2.0);
    sim_world_destroy(&w);
}

TEST(floor_sensors_see_the_line)
{
    sim_world *w = make_world();
    CHECK(w);
    /* The start pose sits on the line's east straight (x = 0.9), along it. */
    float s[SIM_SENSORS];
    sim_world_sensors(w, s);
    CHECK_NEAR(s[SIM_SENSOR_FLOOR_CENTER], 1.0, 1e-6);
    CHECK(s[SIM_SENSOR_FLOOR_LEFT] < 0.5f);
    CHECK(s[SIM_SENSOR_FLOOR_RIGHT] < 0.5f);
    /* Shifted 18 mm to the right of the line (heading +y: right is +x), the
     * left sensor is over it. */
    sim_world_place(w, 0.9 + 0.018, 0.0, 1.5708);
    sim_world_sensors(w, s);
    CHECK_NEAR(s[SIM_SENSOR_FLOOR_LEFT], 1.0, 1e-6);
    CHECK_NEAR(s[SIM_SENSOR_FLOOR_RIGHT], 0.0, 1e-6);
    /* Open floor: no line anywhere under it. */
    sim_world_place(w, OPEN_X, OPEN_Y, 0.0);
    sim_world_sensors(w, s);
    for (int i = SIM_SENSOR_FLOOR_LEFT; i <= SIM_SENSOR_FLOOR_RIGHT; i++)
        CHECK_NEAR(s[i], 0.0, 1e-6);
    sim_world_destroy(&w);
}

TEST(the_same_commands_give_the_same_trajectory)
{
    sim_world *a = make_world(), *b = make_world();
    CHECK(a && b);
    for (int t = 0; t < 300; t++) {
        float cmd[SIM_MOTORS] = {0.8f, 0.5f + 0.001f * (float)t, 0.3f, 0.0f, 0.0f};
        sim_world_set_motors(a, cmd);
        sim_world_set_motors(b, cmd);
        sim_world_tick(a);
        sim_world_tick(b);
    }
    sim_pose pa, pb;
    sim_world_pose(a, &pa);
    sim_world_pose(b, &pb);
    CHECK(pa.x == pb.x && pa.y == pb.y && pa.yaw == pb.yaw);
    sim_world_destroy(&a);
    sim_world_destroy(&b);
}

TEST(a_bad_model_is_a_clear_error)
{
    enter_temp_dir();
    char err[512] = "";
    sim_world *w = (sim_world *)1;
    CHECK_EQ_INT(sim_world_new("no-such-model.xml", TICK_S, &w, err, sizeof err), SIM_ERR_MODEL);
    CHECK(w == NULL);
    CHECK_MSG(strstr(err, "no-such-model.xml") != NULL, "%s", err);

    /* Valid MJCF, but not a rover: the message names what is missing. */
    FILE *f = fopen("box.xml", "w");
    CHECK(f);
    fputs("<mujoco><worldbody><body name=\"chassis\"><freejoint/><geom type=\"box\" size=\".1 .1 .1\"/>"
          "</body></worldbody></mujoco>\n", f);
    fclose(f);
    err[0] = '\0';
    CHECK_EQ_INT(sim_world_new("box.xml", TICK_S, &w, err, sizeof err), SIM_ERR_SHAPE);
    CHECK_MSG(strstr(err, "wheel_left") != NULL, "%s", err);
    CHECK_EQ_INT(sim_world_new(NULL, 0.0, &w, err, sizeof err), SIM_ERR_ARG);
    CHECK(strcmp(sim_strerror(SIM_ERR_SHAPE), "unknown error") != 0);
    CHECK(sim_sensor_name(SIM_SENSORS) == NULL && sim_motor_name(-1) == NULL);
}
