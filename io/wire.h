/* wire.h: the fieldbrain wire protocol (io/PROTOCOL.md) as pure encode and
 * decode of byte buffers. No ZeroMQ, no allocation, no I/O: the brain's link,
 * the bundled simulation and any test link this codec alone (fb_wire).
 *
 * A message is one frame: a 48-byte little-endian header, then `count`
 * float32 values, little-endian. On the motor socket a message is preceded by
 * a 4-byte topic frame (wire_topic) so robots subscribe to their own id.
 */
#ifndef FIELDBRAIN_WIRE_H
#define FIELDBRAIN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC 0x4E524246u    /* the bytes "FBRN", read as a little-endian u32 */
#define WIRE_VERSION 1u
#define WIRE_HEADER_BYTES 48u
#define WIRE_TOPIC_BYTES 4u
/* The most values one message may carry, whatever the buffer sizes: keeps
 * every size computation far away from overflow. */
#define WIRE_MAX_VALUES (1u << 20)

typedef enum {
    WIRE_KIND_SENSORS = 1,  /* robot -> brain */
    WIRE_KIND_MOTORS = 2,   /* brain -> robot */
} wire_kind;

/* Flags of a motor message; a robot sets none in a sensor message, and every
 * receiver ignores bits it does not know (room for later versions). */
#define WIRE_FLAG_STOP 0x01u       /* the brain is shutting down: hold still */
#define WIRE_FLAG_LINK_LOST 0x02u  /* no valid sensors for link.timeout_ms: motors are zero */
#define WIRE_FLAG_FAULT 0x04u      /* the brain's cycle failed (a device fault): motors are zero */

typedef enum {
    WIRE_OK = 0,
    WIRE_ERR_TRUNCATED = -1,  /* shorter than the header, or than its values */
    WIRE_ERR_MAGIC = -2,      /* not a fieldbrain message */
    WIRE_ERR_VERSION = -3,    /* another protocol version */
    WIRE_ERR_KIND = -4,       /* not the kind expected here */
    WIRE_ERR_TRAILING = -5,   /* longer than header + count values */
    WIRE_ERR_COUNT = -6,      /* more values than the caller can take (or WIRE_MAX_VALUES) */
    WIRE_ERR_NONFINITE = -7,  /* a value is NaN or infinite */
    WIRE_ERR_SPACE = -8,      /* encode: the output buffer is too small */
} wire_err;

/* One sentence ("wrong protocol version"). */
const char *wire_strerror(int err);

/* Why a received frame was dropped: the one table of reasons that the brain's
 * link, the simulation and every log and counter share (PROTOCOL.md, "Bad
 * input"). The names are the keys of the counters in telemetry and in the
 * exit summaries. */
typedef enum {
    WIRE_BAD_TRUNCATED = 0,  /* shorter than the header, or than its values */
    WIRE_BAD_MAGIC,          /* not a fieldbrain message */
    WIRE_BAD_VERSION,        /* another protocol version */
    WIRE_BAD_KIND,           /* not the kind expected on this socket */
    WIRE_BAD_TRAILING,       /* longer than header + count values */
    WIRE_BAD_LENGTH,         /* count is not the receiver's vector length */
    WIRE_BAD_NONFINITE,      /* a value is NaN or infinite */
    WIRE_BAD_ROBOT,          /* robot_id is not the receiver's robot */
    WIRE_BAD_FRAMES,         /* not the expected number of frames */
    WIRE_BAD_RANGE,          /* a value beyond the receiver's bound (link.sensor_limit) */
    WIRE_BAD_REASONS
} wire_bad_reason;

/* "truncated", "magic", ... ("unknown" outside the table). */
const char *wire_bad_name(int reason);

/* The reason for a negative wire_decode result (WIRE_ERR_COUNT is "length"). */
wire_bad_reason wire_bad_reason_of(int err);

typedef struct {
    uint16_t version;        /* WIRE_VERSION */
    uint8_t kind;            /* wire_kind */
    uint8_t flags;           /* WIRE_FLAG_* */
    uint32_t robot_id;
    uint32_t count;          /* number of float32 values that follow */
    uint64_t seq;            /* sender's own sequence number, from 1 */
    uint64_t time_ns;        /* sender's clock (CLOCK_MONOTONIC on the brain) */
    uint64_t answer_seq;     /* motors: seq of the sensor message answered; 0 = none */
    uint64_t answer_time_ns; /* motors: time_ns of that sensor message, echoed; 0 = none */
} wire_header;

/* Bytes of a message carrying `count` values. */
static inline size_t wire_message_bytes(uint32_t count)
{
    return WIRE_HEADER_BYTES + 4u * (size_t)count;
}

/* Encodes h (h->count values from `values`) into buf. h->version and
 * h->kind are written as given, so tests can make bad messages; values are
 * written as they are (the link never sends a non-finite one). Writes the
 * number of bytes to *len. WIRE_ERR_SPACE if cap is too small,
 * WIRE_ERR_COUNT if h->count > WIRE_MAX_VALUES. */
int wire_encode(const wire_header *h, const float *values, void *buf, size_t cap, size_t *len);

/* Decodes the header of a frame: checks that the frame holds a header, the
 * magic and the version. Neither the kind nor the frame size against count
 * is checked here (wire_decode does). */
int wire_decode_header(const void *buf, size_t len, wire_header *h);

/* Decodes a whole message of kind `kind` into h and values (capacity
 * max_values). Checks, in this order: truncated, magic, version, kind,
 * trailing bytes, count > max_values, then every value finite. On error
 * nothing is promised about values; h is filled as far as it was read. */
int wire_decode(const void *buf, size_t len, wire_kind kind, wire_header *h,
                float *values, uint32_t max_values);

/* The 4-byte topic frame of a robot's motor messages (its id, little-endian). */
void wire_topic(uint32_t robot_id, uint8_t out[WIRE_TOPIC_BYTES]);

#endif
