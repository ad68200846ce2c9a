/* whole.h: a decimal whole number from a command line, read whole: digits
 * only (no sign, since strtoul takes "-1" as its largest value; no spaces,
 * nothing after) and within [lo, hi]. For the programs' options. */
#ifndef FIELDBRAIN_WHOLE_H
#define FIELDBRAIN_WHOLE_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

static inline bool fb_whole(const char *text, unsigned long lo, unsigned long hi, unsigned long *out)
{
    if (text[0] < '0' || text[0] > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

#endif
