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

/* A TCP port on 127.0.0.1 that was free a moment ago. */
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
