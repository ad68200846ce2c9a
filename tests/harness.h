/* harness.h: a small test runner. Each test file defines TEST(name) blocks;
 * the executable runs one test by name (ctest runs each in its own process,
 * see tests/CMakeLists.txt) or all of them, and prints "N passed, N failed".
 */
#ifndef FIELDBRAIN_HARNESS_H
#define FIELDBRAIN_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*harness_fn)(int *failed);
void harness_register(const char *name, harness_fn fn);

#define TEST(name)                                                         \
    static void test_##name(int *harness_failed_);                         \
    __attribute__((constructor)) static void harness_reg_##name(void)      \
    {                                                                      \
        harness_register(#name, test_##name);                              \
    }                                                                      \
    static void test_##name(int *harness_failed_)

/* A failed check reports and ends the test (the rest would only cascade). */
#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            *harness_failed_ = 1;                                          \
            return;                                                        \
        }                                                                  \
    } while (0)

#define CHECK_MSG(cond, ...)                                               \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__,         \
                    __LINE__, #cond);                                      \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
            *harness_failed_ = 1;                                          \
            return;                                                        \
        }                                                                  \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                 \
    CHECK_MSG((long long)(a) == (long long)(b), "%lld != %lld",            \
              (long long)(a), (long long)(b))

#define CHECK_NEAR(a, b, tol)                                              \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol),                    \
              "%.9g vs %.9g (tolerance %.3g)", (double)(a), (double)(b),   \
              (double)(tol))

#endif
