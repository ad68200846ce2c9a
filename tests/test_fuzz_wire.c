/* test_fuzz_wire.c: the sensor frame decoder (io/wire.h) against random
 * bytes and mutated valid frames, a fixed number of them from a fixed seed
 * so that every run sees the same inputs. Each answer is checked against
 * the rules of io/PROTOCOL.md written out again here, independently of
 * wire.c: an accepted frame is exactly a header and its finite values, a
 * refused one gets the first reason in the documented order.
 */
#include "harness.h"
#include "wire.h"

#include <stdint.h>

#define FUZZ_SEED 0x5EED0F1E1DB2A1ull
#define FUZZ_ITERATIONS 200000
#define FUZZ_MAX_VALUES 40       /* values in a generated frame */
#define FUZZ_MAX_BYTES (WIRE_HEADER_BYTES + 4 * (FUZZ_MAX_VALUES + 8))
#define FUZZ_ANSWERS 8           /* WIRE_OK and the seven decode errors, by -rc */

/* For messages: "ok", or the bad-input reason the link counts it as. */
static const char *answer_name(int rc)
{
    return rc == WIRE_OK ? "ok" : wire_bad_name(wire_bad_reason_of(rc));
}

static uint32_t fuzz_below(uint64_t *s, uint32_t n)
{
    return (uint32_t)harness_rand_below(s, n);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* What PROTOCOL.md says the answer to this frame is. */
static int expected_answer(const uint8_t *p, size_t len, wire_kind kind, uint32_t max_values)
{
    if (len < WIRE_HEADER_BYTES)
        return WIRE_ERR_TRUNCATED;
    if (le32(p) != WIRE_MAGIC)
        return WIRE_ERR_MAGIC;
    if ((p[4] | p[5] << 8) != WIRE_VERSION)
        return WIRE_ERR_VERSION;
    if (p[6] != kind)
        return WIRE_ERR_KIND;
    uint64_t count = le32(p + 12);
    if (len < WIRE_HEADER_BYTES + 4 * count)
        return WIRE_ERR_TRUNCATED;
    if (len > WIRE_HEADER_BYTES + 4 * count)
        return WIRE_ERR_TRAILING;
    if (count > max_values || count > WIRE_MAX_VALUES)
        return WIRE_ERR_COUNT;
    for (uint64_t i = 0; i < count; i++) {
        uint32_t bits = le32(p + WIRE_HEADER_BYTES + 4 * i);
        if ((bits & 0x7F800000u) == 0x7F800000u) /* exponent all ones: inf or NaN */
            return WIRE_ERR_NONFINITE;
    }
    return WIRE_OK;
}

/* A valid frame of a random kind, with random header fields and values. */
static size_t make_valid(uint64_t *s, uint8_t *buf)
{
    float values[FUZZ_MAX_VALUES];
    wire_header h = {
        .version = WIRE_VERSION,
        .kind = fuzz_below(s, 2) ? WIRE_KIND_SENSORS : WIRE_KIND_MOTORS,
        .flags = (uint8_t)harness_rand(s),
        .robot_id = (uint32_t)harness_rand(s),
        .count = fuzz_below(s, FUZZ_MAX_VALUES + 1),
        .seq = harness_rand(s),
        .time_ns = harness_rand(s),
        .answer_seq = harness_rand(s),
        .answer_time_ns = harness_rand(s),
    };
    for (uint32_t i = 0; i < h.count; i++) {
        /* Ordinary values mostly, some subnormal, huge or signed zeros. */
        switch (fuzz_below(s, 8)) {
        case 0: values[i] = 1e-40f; break;
        case 1: values[i] = -3.4e38f; break;
        case 2: values[i] = -0.0f; break;
        default: values[i] = (float)((double)(int32_t)harness_rand(s) / 65536.0); break;
        }
    }
    size_t len = 0;
    int rc = wire_encode(&h, values, buf, FUZZ_MAX_BYTES, &len);
    return rc == WIRE_OK ? len : 0;
}

/* One to four mutations of the kinds that make a decoder go wrong: a flipped
 * bit, a byte set to a boundary value, a header field rewritten, a value
 * made NaN or infinite, the frame cut or lengthened. */
static size_t mutate(uint64_t *s, uint8_t *buf, size_t len)
{
    int n = 1 + (int)fuzz_below(s, 4);
    static const uint8_t edges[] = {0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF};
    static const uint32_t counts[] = {0, 1, FUZZ_MAX_VALUES, FUZZ_MAX_VALUES + 1,
                                      WIRE_MAX_VALUES, WIRE_MAX_VALUES + 1,
                                      0x3FFFFFF4u, 0x40000000u, 0xFFFFFFFFu};
    for (int m = 0; m < n; m++) {
        switch (fuzz_below(s, 7)) {
        case 0:
            if (len)
                buf[fuzz_below(s, (uint32_t)len)] ^= (uint8_t)(1u << fuzz_below(s, 8));
            break;
        case 1:
            if (len)
                buf[fuzz_below(s, (uint32_t)len)] = edges[fuzz_below(s, sizeof edges)];
            break;
        case 2:
            if (len >= WIRE_HEADER_BYTES)
                put_le32(buf + 12, counts[fuzz_below(s, sizeof counts / sizeof counts[0])]);
            break;
        case 3:
            if (len >= 8)
                buf[4 + fuzz_below(s, 4)] = (uint8_t)fuzz_below(s, 4); /* version, kind, flags */
            break;
        case 4:
            if (len >= WIRE_HEADER_BYTES + 4) {
                size_t k = (len - WIRE_HEADER_BYTES) / 4;
                static const uint32_t bad[] = {0x7F800000u, 0xFF800000u, 0x7FC00000u, 0x7F800001u, 0xFFFFFFFFu};
                put_le32(buf + WIRE_HEADER_BYTES + 4 * fuzz_below(s, (uint32_t)k), bad[fuzz_below(s, 5)]);
            }
            break;
        case 5:
            len = fuzz_below(s, (uint32_t)len + 1);
            break;
        default: {
            size_t more = 1 + fuzz_below(s, 8);
            for (size_t i = 0; i < more && len < FUZZ_MAX_BYTES; i++)
                buf[len++] = (uint8_t)harness_rand(s);
            break;
        }
        }
    }
    return len;
}

TEST(random_and_mutated_frames_get_the_documented_answer)
{
    uint64_t s = FUZZ_SEED;
    uint8_t buf[FUZZ_MAX_BYTES];
    int seen[FUZZ_ANSWERS] = {0}; /* by -rc */
    for (int it = 0; it < FUZZ_ITERATIONS; it++) {
        size_t len;
        switch (fuzz_below(&s, 8)) {
        case 0: /* random bytes, sometimes behind a real magic */
            len = fuzz_below(&s, FUZZ_MAX_BYTES + 1);
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)harness_rand(&s);
            if (len >= 4 && fuzz_below(&s, 2))
                put_le32(buf, WIRE_MAGIC);
            break;
        case 1: /* valid, untouched */
            len = make_valid(&s, buf);
            break;
        default:
            len = mutate(&s, buf, make_valid(&s, buf));
            break;
        }
        wire_kind kind = fuzz_below(&s, 2) ? WIRE_KIND_SENSORS : WIRE_KIND_MOTORS;
        uint32_t max_values = fuzz_below(&s, FUZZ_MAX_VALUES + 2);
        /* Exactly sized copies on the heap: a read past the frame or a
         * write past max_values is an ASan error, not a silent pass. */
        uint8_t *frame = malloc(len ? len : 1);
        float *values = malloc(max_values ? sizeof(float) * max_values : 1);
        CHECK(frame && values);
        memcpy(frame, buf, len);

        wire_header h;
        int rc = wire_decode(frame, len, kind, &h, values, max_values);
        int want = expected_answer(frame, len, kind, max_values);
        CHECK_MSG(rc == want, "iteration %d (%zu bytes): %d (%s), want %d (%s)", it, len, rc,
                  answer_name(rc), want, answer_name(want));
        CHECK_MSG(rc <= 0 && rc > -FUZZ_ANSWERS, "iteration %d: %d is no decode answer", it, rc);
        CHECK(strcmp(wire_strerror(rc), "unknown wire error") != 0);
        CHECK(strcmp(answer_name(rc), "unknown") != 0);
        seen[-rc]++;

        wire_header hh;
        int hrc = wire_decode_header(frame, len, &hh);
        CHECK_MSG(hrc == WIRE_OK || hrc == rc, "iteration %d: header %d, frame %d", it, hrc, rc);
        if (rc == WIRE_OK) {
            CHECK(hrc == WIRE_OK);
            CHECK_EQ_INT(h.version, WIRE_VERSION);
            CHECK_EQ_INT(h.kind, kind);
            CHECK(h.count <= max_values);
            CHECK_EQ_INT(len, wire_message_bytes(h.count));
            for (uint32_t i = 0; i < h.count; i++)
                CHECK_MSG(isfinite(values[i]), "iteration %d: value %u accepted as %g", it, i,
                          (double)values[i]);
            /* Consistent: encoding what was decoded gives the frame back. */
            uint8_t again[FUZZ_MAX_BYTES];
            size_t again_len = 0;
            CHECK_EQ_INT(wire_encode(&h, values, again, sizeof again, &again_len), WIRE_OK);
            CHECK_EQ_INT(again_len, len);
            CHECK_MSG(memcmp(again, frame, len) == 0, "iteration %d: re-encoded frame differs", it);
        }
        free(values);
        free(frame);
    }
    /* The generator reaches every answer, so none of them went untested. */
    for (int r = 0; r < FUZZ_ANSWERS; r++)
        CHECK_MSG(seen[r] > 100, "answer %d (%s) seen %d times", -r, wire_strerror(-r), seen[r]);
}
