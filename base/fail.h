/* fail.h: the door to base/, the one way every fieldbrain library reports an
 * error: a function that can fail returns 0 or a negative code from its
 * module's enum, and writes one sentence for people into the caller's
 * buffer. Libraries never print; programs print the sentence they get.
 *
 *     if (bind_failed)
 *         return fb_fail(err, err_len, LINK_ERR_ZMQ, "link: bind %s: %s", ep, why);
 */
#ifndef FIELDBRAIN_FAIL_H
#define FIELDBRAIN_FAIL_H

#include <stdarg.h>
#include <stddef.h>

/* Writes the formatted sentence into err (when err is not NULL and err_len
 * is not 0; cut to fit, always terminated) and returns code. */
int fb_fail(char *err, size_t err_len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int fb_vfail(char *err, size_t err_len, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif
