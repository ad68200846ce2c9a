/* fail.c: fb_fail, the sentence-and-code error report of every module. */
#include "fail.h"

#include <stdio.h>

int fb_vfail(char *err, size_t err_len, int code, const char *fmt, va_list ap)
{
    if (err && err_len)
        vsnprintf(err, err_len, fmt, ap);
    return code;
}

int fb_fail(char *err, size_t err_len, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fb_vfail(err, err_len, code, fmt, ap);
    va_end(ap);
    return code;
}
