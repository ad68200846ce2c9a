/* proc.c: the process helpers behind proc.h. */
#include "proc.h"
#include "harness.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The kernel's range for the local ports of outgoing connections, from
 * /proc (Linux's default when it cannot be read). */
static void proc_ephemeral_range(int *lo, int *hi)
{
    *lo = 32768;
    *hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (!f)
        return;
    int a, b;
    if (fscanf(f, "%d %d", &a, &b) == 2 && a > 0 && a <= b && b <= 65535) {
        *lo = a;
        *hi = b;
    }
    fclose(f);
}

static bool proc_port_bindable(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

/* A port handed out here is bound only later, by another process. One the
 * kernel picks (port 0) lies in its range for outgoing connections, and any
 * connection opened meanwhile (the tests run side by side, some with many)
 * may take it as its local port: the program then cannot bind ("Address
 * already in use"). So the port comes from below that range (or above it),
 * where the kernel hands out none; each process walks it from its own start
 * in steps of a prime (coprime to the range's size unless that is a multiple
 * of it), so one process does not get a port twice within a range's worth of
 * picks, and two processes only by chance. */
int proc_free_port(void)
{
    static unsigned calls; /* this process's picks so far */
    int lo, hi, first = PROC_PORT_FIRST, last;
    proc_ephemeral_range(&lo, &hi);
    if (lo - 1 - first >= 1000) {
        last = lo - 1;
    } else if (65535 - (hi + 1) >= 1000) {
        first = hi + 1;
        last = 65535;
    } else {
        first = last = 0; /* no room outside it: the kernel's pick */
    }
    const unsigned span = (unsigned)(last - first + 1);
    for (unsigned i = 0; first && i < 200; i++) {
        const unsigned k = ((unsigned)getpid() * 2654435761u + (calls++) * 7919u) % span;
        if (proc_port_bindable(first + (int)k))
            return first + (int)k;
    }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0)
        return -1;
    int port = bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
                       getsockname(s, (struct sockaddr *)&a, &len) == 0
                   ? ntohs(a.sin_port)
                   : -1;
    close(s);
    return port;
}

void proc_free_endpoint(char *ep, size_t cap)
{
    snprintf(ep, cap, "tcp://127.0.0.1:%d", proc_free_port());
}

pid_t proc_spawn(char *const argv[], const char *out, const char *err)
{
    /* Flushed first, or the child would print the parent's buffers again. */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int proc_wait(pid_t pid)
{
    double end = harness_now_s() + PROC_HANG_GUARD_S;
    int status;
    while (harness_now_s() < end) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r < 0)
            return -1;
        harness_sleep_s(0.01);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

int proc_stop(pid_t pid, int sig)
{
    kill(pid, sig);
    return proc_wait(pid);
}
