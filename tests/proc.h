/* proc.h: what the integration tests need to run programs as processes:
 * free ports on 127.0.0.1, starting a program with its output in files,
 * waiting for it with a guard against a hang, stopping it by a signal.
 */
#ifndef FIELDBRAIN_TEST_PROC_H
#define FIELDBRAIN_TEST_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* Only a guard against a hung process, never a measure of behaviour. */
#define PROC_HANG_GUARD_S 60

/* The lowest port proc_free_port hands out: above the well-known ones and
 * those the configs name by default (5555-5558). */
#define PROC_PORT_FIRST 20000

/* A TCP port on 127.0.0.1 that was free a moment ago, outside the kernel's
 * range for outgoing connections (proc.c says why). */
int proc_free_port(void);
/* "tcp://127.0.0.1:PORT" on a free port, into ep[cap]. */
void proc_free_endpoint(char *ep, size_t cap);

/* Starts argv[0] with argv, stdout truncated into out and stderr appended
 * to err (NULL: /dev/null). The pid, or -1. */
pid_t proc_spawn(char *const argv[], const char *out, const char *err);

/* The exit status of pid, 128 + the signal that ended it, or -1 (and the
 * process killed) when it is still running after PROC_HANG_GUARD_S. */
int proc_wait(pid_t pid);
/* Sends sig, then proc_wait. */
int proc_stop(pid_t pid, int sig);

#endif
