/* proc.c: the process helpers behind proc.h. */
#include "proc.h"
#include "harness.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int proc_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0)
        return -1;
    /* Port 0: the kernel picks one; closed again, it stays free a while. */
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
