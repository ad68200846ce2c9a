/* app_inlog.h: the program's wiring of the input log (inlog/) to the
 * control loop (io/loop.h): a cycle hook that hands every cycle to the
 * log's writer. */
#ifndef FIELDBRAIN_APP_INLOG_H
#define FIELDBRAIN_APP_INLOG_H

#include <stddef.h>

#include "brain.h"
#include "config.h"
#include "inlog.h"
#include "loop.h"

typedef struct app_inlog app_inlog;

/* Creates the writer for c->record (its directory), starts the first
 * segment from b as it is now and hooks it to the loop. b and lp are
 * borrowed and must outlive it. */
int app_inlog_attach(const config *c, brain *b, loop *lp, app_inlog **out, char *err, size_t err_len);

/* Unhooks, writes what is queued and closes; sets *a to NULL; NULL harmless. */
void app_inlog_detach(app_inlog **a);

#endif
