/* harness.h: a small test runner. Each test file defines TEST(name) blocks;
 * the executable runs one test by name (ctest runs each in its own process,
 * see tests/CMakeLists.txt) or all of them, and prints "N passed, N failed".
 * Below the checks, the helpers more than one test file needs: the clock,
 * whole files, temporary directories, seeded random numbers. (Processes and
 * ports: tests/proc.h.)
 */
#ifndef FIELDBRAIN_HARNESS_H
#define FIELDBRAIN_HARNESS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
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

/* CLOCK_MONOTONIC, in ns and in s. */
int64_t harness_now_ns(void);
double harness_now_s(void);
/* Sleeps s seconds, on through signals. */
void harness_sleep_s(double s);

/* The whole file as a NUL-terminated string (free it); NULL if it cannot
 * be read. */
char *harness_read_file(const char *path);
/* 1 if the file can be read and contains needle, else 0. */
int harness_file_has(const char *path, const char *needle);
/* The number after "key": in a JSON text (the first such key at any
 * depth); NAN if absent or json is NULL. */
double harness_json_num(const char *json, const char *key);

/* splitmix64: small, fast and the same sequence everywhere, for tests that
 * draw their inputs from a fixed seed. The next number from *state, and
 * one below n (0 when n is 0). */
uint64_t harness_rand(uint64_t *state);
uint64_t harness_rand_below(uint64_t *state, uint64_t n);

/* Makes a fresh directory /tmp/fb-test-NAME-XXXXXX into dir[cap]: 0, or -1
 * (and dir empty). */
int harness_temp_dir(const char *name, char *dir, size_t cap);
/* Removes dir and everything below it (links are removed, not followed):
 * 0, or -1 if something stayed. */
int harness_remove_tree(const char *dir);

#endif
