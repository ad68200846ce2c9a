/* app_inlog.h: the program's wiring of the input log (inlog/) to the
 * control loop (io/loop.h): a cycle hook that hands every cycle to its
 * robot's log writer, one log for each robot of a fleet. */
#ifndef FIELDBRAIN_APP_INLOG_H
#define FIELDBRAIN_APP_INLOG_H

#include <stddef.h>

#include "brain.h"
#include "config.h"
#include "inlog.h"
#include "loop.h"

typedef struct app_inlog app_inlog;

/* Creates a writer for each robot of the fleet, in its directory
 * (config_fleet's record: record.path itself with one robot and no robots
 * list, record.path/robot-ID otherwise), each within record.max_mb of its
 * own; starts each robot's first segment from its brain as it is now and
 * hooks them to the loop, which feeds each robot's writer its own cycles
 * and events. f (the loop's fleet) and lp are borrowed and must outlive it. */
int app_inlog_attach(const config *c, brain_fleet *f, loop *lp, app_inlog **out, char *err,
                     size_t err_len);

/* Unhooks, writes what is queued and closes; sets *a to NULL; NULL harmless. */
void app_inlog_detach(app_inlog **a);

#endif
