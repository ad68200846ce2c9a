/* app_telemetry.h: the program's wiring of telemetry (telemetry/) to the
 * control loop (io/loop.h), which know nothing of each other. One call makes
 * the publisher from the config and hooks it to the loop; the hooks copy each
 * report into the publisher's slots on the loop's thread and read the field
 * for a slice only on the cycles that take one.
 */
#ifndef FIELDBRAIN_APP_TELEMETRY_H
#define FIELDBRAIN_APP_TELEMETRY_H

#include <stddef.h>

#include "brain.h"
#include "config.h"
#include "loop.h"
#include "telemetry.h"

/* c->telemetry and the field shape of c->brain, the device and backend of b,
 * the rate of c->loop and the bad-input reasons of the link; the CURVE keys
 * of c->telemetry, each empty one taken from c->link (none at all with
 * telemetry.unencrypted); the fleet's robot ids in the order of
 * config_fleet, and the slice robot (telemetry.slice_robot, -1: the first). */
void app_telemetry_options(const config *c, const brain *b, telemetry_options *o);

typedef struct app_telemetry app_telemetry;

/* Creates the publisher (binds c->telemetry.endpoint) and sets both loop
 * hooks. f holds the brains of the robots of config_fleet(c), in its order
 * (brain_fleet_brain(f, i) is robot i's); slices are read from the brain of
 * the slice robot on that robot's cycles. f and lp are borrowed and must
 * outlive the attachment. */
int app_telemetry_attach(const config *c, brain_fleet *f, loop *lp, app_telemetry **out,
                         char *err, size_t err_len);

/* Unhooks, sends what is queued and closes; sets *a to NULL; NULL harmless. */
void app_telemetry_detach(app_telemetry **a);

/* The publisher inside (counters, endpoint; telemetry_set_rates and
 * telemetry_set_slice_robot for changes while running, called on the
 * loop's thread through LOOP_CMD_CALL). */
telemetry *app_telemetry_publisher(app_telemetry *a);

#endif
