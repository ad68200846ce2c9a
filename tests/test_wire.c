/* test_wire.c: the wire codec (io/wire.h) against the byte layout of
 * io/PROTOCOL.md, and every way a frame can be bad.
 */
#include "harness.h"
#include "wire.h"

#include <stdint.h>

static wire_header sensor_header(uint32_t count)
{
    wire_header h = {
        .version = WIRE_VERSION, .kind = WIRE_KIND_SENSORS, .flags = 0,
        .robot_id = 7, .count = count, .seq = 42, .time_ns = 123456789012345ull,
    };
    return h;
}

TEST(layout_matches_protocol_md)
{
    wire_header h = {
        .version = 1, .kind = WIRE_KIND_MOTORS, .flags = WIRE_FLAG_STOP | WIRE_FLAG_LINK_LOST,
        .robot_id = 0x01020304u, .count = 2, .seq = 0x1112131415161718ull,
        .time_ns = 0x2122232425262728ull, .answer_seq = 0x3132333435363738ull,
        .answer_time_ns = 0x4142434445464748ull,
    };
    float v[2] = {1.0f, -2.0f};
    uint8_t buf[64];
    size_t len = 0;
    CHECK_EQ_INT(wire_encode(&h, v, buf, sizeof buf, &len), WIRE_OK);
    CHECK_EQ_INT(len, 56);
    const uint8_t want[56] = {
        'F', 'B', 'R', 'N', 1, 0, 2, 3, 4, 3, 2, 1, 2, 0, 0, 0,
        0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
        0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21,
        0x38, 0x37, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31,
        0x48, 0x47, 0x46, 0x45, 0x44, 0x43, 0x42, 0x41,
        0x00, 0x00, 0x80, 0x3f, /* 1.0f */
        0x00, 0x00, 0x00, 0xc0, /* -2.0f */
    };
    for (size_t i = 0; i < 56; i++)
        CHECK_MSG(buf[i] == want[i], "byte %zu: %02x, want %02x", i, buf[i], want[i]);
}

TEST(round_trip_keeps_every_field)
{
    float v[16], out[16];
    for (int i = 0; i < 16; i++)
        v[i] = (float)i * 0.25f - 2.0f;
    wire_header h = sensor_header(16), g;
    uint8_t buf[WIRE_HEADER_BYTES + 64];
    size_t len;
    CHECK_EQ_INT(wire_encode(&h, v, buf, sizeof buf, &len), WIRE_OK);
    CHECK_EQ_INT(len, wire_message_bytes(16));
    CHECK_EQ_INT(wire_decode(buf, len, WIRE_KIND_SENSORS, &g, out, 16), WIRE_OK);
    CHECK_EQ_INT(g.robot_id, 7);
    CHECK_EQ_INT(g.count, 16);
    CHECK(g.seq == 42);
    CHECK(g.time_ns == 123456789012345ull);
    for (int i = 0; i < 16; i++)
        CHECK(out[i] == v[i]);
}

TEST(empty_vector_is_valid)
{
    wire_header h = sensor_header(0), g;
    uint8_t buf[WIRE_HEADER_BYTES];
    size_t len;
    CHECK_EQ_INT(wire_encode(&h, NULL, buf, sizeof buf, &len), WIRE_OK);
    CHECK_EQ_INT(wire_decode(buf, len, WIRE_KIND_SENSORS, &g, NULL, 0), WIRE_OK);
    CHECK_EQ_INT(g.count, 0);
}

TEST(encode_refuses_small_buffer)
{
    float v[4] = {0};
    wire_header h = sensor_header(4);
    uint8_t buf[WIRE_HEADER_BYTES + 15];
    size_t len = 99;
    CHECK_EQ_INT(wire_encode(&h, v, buf, sizeof buf, &len), WIRE_ERR_SPACE);
    CHECK_EQ_INT(len, 99);
}

/* A valid 4-value sensor message to break in the tests below. */
static size_t good(uint8_t *buf, size_t cap)
{
    float v[4] = {0.5f, -0.5f, 1.0f, 2.0f};
    wire_header h = sensor_header(4);
    size_t len = 0;
    wire_encode(&h, v, buf, cap, &len);
    return len;
}

TEST(every_truncation_is_refused)
{
    uint8_t buf[128];
    size_t len = good(buf, sizeof buf);
    float out[4];
    wire_header g;
    for (size_t n = 0; n < len; n++)
        CHECK_MSG(wire_decode(buf, n, WIRE_KIND_SENSORS, &g, out, 4) == WIRE_ERR_TRUNCATED,
                  "length %zu", n);
}

TEST(trailing_bytes_are_refused)
{
    uint8_t buf[128];
    size_t len = good(buf, sizeof buf);
    float out[4];
    wire_header g;
    CHECK_EQ_INT(wire_decode(buf, len + 1, WIRE_KIND_SENSORS, &g, out, 4), WIRE_ERR_TRAILING);
    CHECK_EQ_INT(wire_decode(buf, len + 4, WIRE_KIND_SENSORS, &g, out, 4), WIRE_ERR_TRAILING);
}

TEST(bad_magic_version_kind_are_refused)
{
    uint8_t buf[128];
    size_t len = good(buf, sizeof buf);
    float out[4];
    wire_header g;
    buf[0] ^= 0xff;
    CHECK_EQ_INT(wire_decode(buf, len, WIRE_KIND_SENSORS, &g, out, 4), WIRE_ERR_MAGIC);
    buf[0] ^= 0xff;
    buf[4] = 2;
    CHECK_EQ_INT(wire_decode(buf, len, WIRE_KIND_SENSORS, &g, out, 4), WIRE_ERR_VERSION);
    CHECK_EQ_INT(g.version, 2);
    buf[4] = 1;
    CHECK_EQ_INT(wire_decode(buf, len, WIRE_KIND_MOTORS, &g, out, 4), WIRE_ERR_KIND);
    buf[6] = 9;
    CHECK_EQ_INT(wire_decode(buf, len, WIRE_KIND_SENSORS, &g, out, 4), WIRE_ERR_KIND);
    buf[6] = WIRE_KIND_SENSORS;
    CHECK_EQ_INT(wire_decode(buf, len, WIRE_KIND_SENSORS, &g, out, 4), WIRE_OK);
}

TEST(count_beyond_capacity_is_refused_without_writing)
{
    uint8_t buf[128];
    size_t len = good(buf, sizeof buf);
    float out[4] = {9, 9, 9, 9};
    wire_header g;
    CHECK_EQ_INT(wire_decode(buf, len, WIRE_KIND_SENSORS, &g, out, 3), WIRE_ERR_COUNT);
    CHECK(out[0] == 9 && out[3] == 9);
}

TEST(huge_count_does_not_overflow)
{
    uint8_t buf[128];
    size_t len = good(buf, sizeof buf);
    float out[4];
    wire_header g;
    /* count = 0xffffffff: a 32-bit size computation would wrap. */
    buf[12] = buf[13] = buf[14] = buf[15] = 0xff;
    CHECK_EQ_INT(wire_decode(buf, len, WIRE_KIND_SENSORS, &g, out, 4), WIRE_ERR_TRUNCATED);
    /* count = 0x40000000: 4 * count wraps to 0 in 32 bits. */
    buf[12] = buf[13] = buf[14] = 0;
    buf[15] = 0x40;
    CHECK_EQ_INT(wire_decode(buf, WIRE_HEADER_BYTES, WIRE_KIND_SENSORS, &g, out, 4),
                 WIRE_ERR_TRUNCATED);
}

TEST(nan_and_infinities_are_refused)
{
    const uint32_t bad[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7f800000u, 0xff800000u};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        for (int pos = 0; pos < 4; pos++) {
            uint8_t buf[128];
            size_t len = good(buf, sizeof buf);
            uint8_t *p = buf + WIRE_HEADER_BYTES + 4 * pos;
            for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(bad[k] >> (8 * i));
            float out[4];
            wire_header g;
            CHECK_MSG(wire_decode(buf, len, WIRE_KIND_SENSORS, &g, out, 4) == WIRE_ERR_NONFINITE,
                      "pattern %08x at %d", bad[k], pos);
        }
    }
    /* The largest finite float and a denormal are fine. */
    uint8_t buf[128];
    float v[2] = {3.4028235e38f, 1e-45f}, out[2];
    wire_header h = sensor_header(2), g;
    size_t len;
    CHECK_EQ_INT(wire_encode(&h, v, buf, sizeof buf, &len), WIRE_OK);
    CHECK_EQ_INT(wire_decode(buf, len, WIRE_KIND_SENSORS, &g, out, 2), WIRE_OK);
    CHECK(out[0] == v[0] && out[1] == v[1]);
}

/* Deterministic random bytes: the decoder must classify every frame, never
 * read past it and never accept a non-finite value. */
TEST(random_frames_never_pass_bad_values)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    uint8_t buf[256];
    float out[64];
    int accepted = 0;
    for (int iter = 0; iter < 200000; iter++) {
        size_t len = 0;
        if (iter % 2) {
            len = good(buf, sizeof buf);
        } else {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            len = (size_t)(s % sizeof buf);
        }
        for (size_t i = 0; i < len; i++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            /* Odd iterations flip a few bytes of a good frame; even ones
             * are noise with a valid magic now and then. */
            if (iter % 2 == 0 || (s & 31) == 0)
                buf[i] = (uint8_t)(s >> 24);
        }
        if (iter % 4 == 0 && len >= 4)
            memcpy(buf, "FBRN", 4);
        wire_header g;
        int rc = wire_decode(buf, len, WIRE_KIND_SENSORS, &g, out, 64);
        CHECK(rc <= 0 && rc >= WIRE_ERR_NONFINITE);
        if (rc == WIRE_OK) {
            accepted++;
            CHECK(len == wire_message_bytes(g.count));
            for (uint32_t i = 0; i < g.count; i++)
                CHECK(isfinite(out[i]));
        }
    }
    CHECK(accepted > 0);
}

TEST(topic_is_robot_id_little_endian)
{
    uint8_t t[WIRE_TOPIC_BYTES];
    wire_topic(0xa1b2c3d4u, t);
    CHECK(t[0] == 0xd4 && t[1] == 0xc3 && t[2] == 0xb2 && t[3] == 0xa1);
}

TEST(every_error_has_a_sentence_and_every_reason_a_name)
{
    for (int e = 0; e >= WIRE_ERR_SPACE; e--)
        CHECK(strcmp(wire_strerror(e), "unknown wire error") != 0);
    for (int e = WIRE_ERR_TRUNCATED; e >= WIRE_ERR_NONFINITE; e--) {
        wire_bad_reason r = wire_bad_reason_of(e);
        CHECK(r >= 0 && r < WIRE_BAD_REASONS);
    }
    CHECK(wire_bad_reason_of(WIRE_ERR_COUNT) == WIRE_BAD_LENGTH);
    for (int r = 0; r < WIRE_BAD_REASONS; r++)
        CHECK(strcmp(wire_bad_name(r), "unknown") != 0);
    CHECK(strcmp(wire_bad_name(WIRE_BAD_REASONS), "unknown") == 0);
}
