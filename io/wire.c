/* wire.c: encode and decode of the fieldbrain wire protocol (PROTOCOL.md).
 * Byte by byte little-endian, so it is right on any host and never reads
 * past the buffer it is given.
 */
#include "wire.h"

#include <math.h>
#include <string.h>

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

const char *wire_strerror(int err)
{
    switch (err) {
    case WIRE_OK: return "no error";
    case WIRE_ERR_TRUNCATED: return "message shorter than its header or values";
    case WIRE_ERR_MAGIC: return "not a fieldbrain message (bad magic)";
    case WIRE_ERR_VERSION: return "wrong protocol version";
    case WIRE_ERR_KIND: return "wrong message kind";
    case WIRE_ERR_TRAILING: return "message longer than its header and values";
    case WIRE_ERR_COUNT: return "more values than expected";
    case WIRE_ERR_NONFINITE: return "a value is NaN or infinite";
    case WIRE_ERR_SPACE: return "output buffer too small";
    default: return "unknown wire error";
    }
}

const char *wire_bad_name(int reason)
{
    static const char *const names[WIRE_BAD_REASONS] = {
        "truncated", "magic", "version", "kind", "trailing",
        "length", "nonfinite", "robot", "frames", "range",
    };
    return reason >= 0 && reason < WIRE_BAD_REASONS ? names[reason] : "unknown";
}

wire_bad_reason wire_bad_reason_of(int err)
{
    switch (err) {
    case WIRE_ERR_TRUNCATED: return WIRE_BAD_TRUNCATED;
    case WIRE_ERR_MAGIC: return WIRE_BAD_MAGIC;
    case WIRE_ERR_VERSION: return WIRE_BAD_VERSION;
    case WIRE_ERR_KIND: return WIRE_BAD_KIND;
    case WIRE_ERR_TRAILING: return WIRE_BAD_TRAILING;
    case WIRE_ERR_NONFINITE: return WIRE_BAD_NONFINITE;
    default: return WIRE_BAD_LENGTH;  /* WIRE_ERR_COUNT: more values than the receiver takes */
    }
}

int wire_encode(const wire_header *h, const float *values, void *buf, size_t cap, size_t *len)
{
    if (h->count > WIRE_MAX_VALUES)
        return WIRE_ERR_COUNT;
    size_t need = wire_message_bytes(h->count);
    if (cap < need)
        return WIRE_ERR_SPACE;
    uint8_t *p = buf;
    put_u32(p + 0, WIRE_MAGIC);
    put_u16(p + 4, h->version);
    p[6] = h->kind;
    p[7] = h->flags;
    put_u32(p + 8, h->robot_id);
    put_u32(p + 12, h->count);
    put_u64(p + 16, h->seq);
    put_u64(p + 24, h->time_ns);
    put_u64(p + 32, h->answer_seq);
    put_u64(p + 40, h->answer_time_ns);
    for (uint32_t i = 0; i < h->count; i++)
        put_u32(p + WIRE_HEADER_BYTES + 4 * (size_t)i, float_bits(values[i]));
    *len = need;
    return WIRE_OK;
}

int wire_decode_header(const void *buf, size_t len, wire_header *h)
{
    const uint8_t *p = buf;
    memset(h, 0, sizeof *h);
    if (len < WIRE_HEADER_BYTES)
        return WIRE_ERR_TRUNCATED;
    if (get_u32(p) != WIRE_MAGIC)
        return WIRE_ERR_MAGIC;
    h->version = get_u16(p + 4);
    h->kind = p[6];
    h->flags = p[7];
    h->robot_id = get_u32(p + 8);
    h->count = get_u32(p + 12);
    h->seq = get_u64(p + 16);
    h->time_ns = get_u64(p + 24);
    h->answer_seq = get_u64(p + 32);
    h->answer_time_ns = get_u64(p + 40);
    if (h->version != WIRE_VERSION)
        return WIRE_ERR_VERSION;
    return WIRE_OK;
}

int wire_decode(const void *buf, size_t len, wire_kind kind, wire_header *h,
                float *values, uint32_t max_values)
{
    int rc = wire_decode_header(buf, len, h);
    if (rc < 0)
        return rc;
    if (h->kind != kind)
        return WIRE_ERR_KIND;
    /* count comes from the sender: compare in 64 bits, never trust it for
     * arithmetic before it is bounded. */
    uint64_t need = WIRE_HEADER_BYTES + 4u * (uint64_t)h->count;
    if ((uint64_t)len < need)
        return WIRE_ERR_TRUNCATED;
    if ((uint64_t)len > need)
        return WIRE_ERR_TRAILING;
    if (h->count > max_values || h->count > WIRE_MAX_VALUES)
        return WIRE_ERR_COUNT;
    const uint8_t *v = (const uint8_t *)buf + WIRE_HEADER_BYTES;
    for (uint32_t i = 0; i < h->count; i++) {
        float f = bits_float(get_u32(v + 4 * (size_t)i));
        if (!isfinite(f))
            return WIRE_ERR_NONFINITE;
        values[i] = f;
    }
    return WIRE_OK;
}

void wire_topic(uint32_t robot_id, uint8_t out[WIRE_TOPIC_BYTES])
{
    put_u32(out, robot_id);
}
