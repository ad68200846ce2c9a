/* telemetry_loop.h: telemetry attached to the control loop (io/loop.h). One
 * call makes the publisher from the config and hooks it to the loop; the
 * hooks copy each report into the publisher's slots on the loop's thread and
 * read the field for a slice only on the cycles that take one.
 */
#ifndef FIELDBRAIN_TELEMETRY_LOOP_H
#define FIELDBRAIN_TELEMETRY_LOOP_H

#include <stddef.h>

#include "brain.h"
#include "config.h"
#include "loop.h"
#include "telemetry.h"

/* c->telemetry and the field shape of c->brain, the device and backend of b,
 * the rate of c->loop and the bad-input reasons of the link. */
void telemetry_options_from_config(const config *c, const brain *b, telemetry_options *o);

typedef struct telemetry_attachment telemetry_attachment;

/* Creates the publisher (binds c->telemetry.endpoint) and sets both loop
 * hooks. b and lp are borrowed and must outlive the attachment. */
int telemetry_attach(const config *c, brain *b, loop *lp, telemetry_attachment **out,
                     char *err, size_t err_len);

/* Unhooks, sends what is queued and closes; sets *a to NULL; NULL harmless. */
void telemetry_detach(telemetry_attachment **a);

/* The publisher inside (counters, endpoint). */
telemetry *telemetry_attachment_publisher(telemetry_attachment *a);

#endif
