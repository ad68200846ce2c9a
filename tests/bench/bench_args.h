/* bench_args.h: the command-line numbers and sizes of fieldbrain-bench and
 * fieldbrain-compare, read whole: decimal digits only (no sign: strtoul
 * takes "-1" as 4294967295), within a range, and sizes whose every side
 * is at least 1. */
#ifndef FIELDBRAIN_BENCH_ARGS_H
#define FIELDBRAIN_BENCH_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "whole.h"

/* text as a whole number in [lo, hi] into *out (fb_whole); false when it
 * is not one. */
static inline bool bench_whole(const char *text, uint32_t lo, uint32_t hi, uint32_t *out)
{
    unsigned long v;
    if (!fb_whole(text, lo, hi, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

/* "64x128" is 64^3 x 128; "96x80x40x32" is 96x80x40 x 32: dims x, y, z, c,
 * each 1 to 65536. false when text is neither. */
static inline bool bench_size_parse(const char *text, uint32_t dims[4])
{
    uint32_t v[4];
    int n = 0;
    const char *p = text;
    for (; n < 4; n++) {
        char part[16];
        size_t len = 0;
        while (p[len] && p[len] != 'x' && len + 1 < sizeof part)
            len++;
        for (size_t i = 0; i < len; i++)
            part[i] = p[i];
        part[len] = '\0';
        if (!bench_whole(part, 1, 65536, &v[n]))
            return false;
        p += len;
        if (*p != 'x')
            break;
        p++;
    }
    if (*p || (n != 1 && n != 3))
        return false;
    if (n == 1) {
        dims[0] = dims[1] = dims[2] = v[0];
        dims[3] = v[1];
    } else {
        for (int i = 0; i < 4; i++)
            dims[i] = v[i];
    }
    return true;
}

#endif
