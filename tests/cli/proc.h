/*
 * tests/cli/proc.h - run the evl binary from test_cli.c: fork and exec with
 * pipes on stdin, stdout and stderr, feed stdin while collecting both
 * outputs (poll, so a large input or output cannot deadlock), and reap the
 * exit status (128 + signal for a killed process).
 *
 * The binary is $EVL_EVL (set by `make test`), else build/evl. The child
 * gets EVL_DIR only when a test sets it, and no inherited descriptors
 * beyond 0-2 (not Criterion's sockets). Children not yet reaped are
 * tracked, and kill_leftovers() (from the fixture's .fini) ends them when
 * an assertion aborted a test midway.
 */
#ifndef EVL_TEST_CLI_PROC_H
#define EVL_TEST_CLI_PROC_H

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *evl_bin(void)
{
    const char *p = getenv("EVL_EVL");
    return p && *p ? p : "build/evl";
}

struct res {
    int status;    /* exit status, or 128 + signal */
    char *out, *err;
    size_t out_len, err_len;
};

struct proc {
    pid_t pid;
    int in, out, err; /* our ends of the pipes (-1 when closed) */
};

/* Child environment: EVL_DIR as given (NULL unsets it), cwd if not NULL. */
struct env {
    const char *evl_dir;
    const char *cwd;
};

/* Children not reaped yet, so a failed test cannot leave evl running. */
static pid_t live_pids[32];

static void live_add(pid_t pid)
{
    for (size_t i = 0; i < sizeof live_pids / sizeof live_pids[0]; i++)
        if (!live_pids[i]) {
            live_pids[i] = pid;
            return;
        }
}

static void live_remove(pid_t pid)
{
    for (size_t i = 0; i < sizeof live_pids / sizeof live_pids[0]; i++)
        if (live_pids[i] == pid)
            live_pids[i] = 0;
}

/* For .fini: SIGKILL and reap every child a test left behind. */
static void kill_leftovers(void)
{
    for (size_t i = 0; i < sizeof live_pids / sizeof live_pids[0]; i++)
        if (live_pids[i] > 0) {
            kill(live_pids[i], SIGKILL);
            waitpid(live_pids[i], NULL, 0);
            live_pids[i] = 0;
        }
}

static struct proc spawn_env(const char *const *args, const struct env *env)
{
    int pin[2], pout[2], perr[2];
    const char *argv[64];
    struct proc p;
    int n = 0;

    argv[n++] = evl_bin();
    while (*args && n < 63)
        argv[n++] = *args++;
    argv[n] = NULL;
    cr_assert(pipe(pin) == 0 && pipe(pout) == 0 && pipe(perr) == 0);
    p.pid = fork();
    cr_assert(p.pid >= 0, "fork: %s", strerror(errno));
    if (p.pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(perr[1], 2);
        /* evl must not inherit Criterion's IPC sockets or other pipes */
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        if (env && env->evl_dir)
            setenv("EVL_DIR", env->evl_dir, 1);
        else
            unsetenv("EVL_DIR");
        if (env && env->cwd && chdir(env->cwd) != 0)
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    live_add(p.pid);
    close(pin[0]), close(pout[1]), close(perr[1]);
    p.in = pin[1];
    p.out = pout[0];
    p.err = perr[0];
    return p;
}

static struct proc spawn(const char *const *args)
{
    return spawn_env(args, NULL);
}

static int wait_status(pid_t pid, struct rusage *ru)
{
    int st;
    struct rusage dummy;

    while (wait4(pid, &st, 0, ru ? ru : &dummy) < 0)
        cr_assert(errno == EINTR, "wait4: %s", strerror(errno));
    live_remove(pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void append(char **buf, size_t *len, const char *p, size_t n)
{
    *buf = realloc(*buf, *len + n + 1);
    cr_assert_not_null(*buf);
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* Feed in, collect stdout and stderr until both close, then reap. */
static struct res finish(struct proc p, const char *in, size_t in_len,
                         struct rusage *ru)
{
    struct res r = {0};
    size_t sent = 0;
    char buf[65536];

    append(&r.out, &r.out_len, "", 0);
    append(&r.err, &r.err_len, "", 0);
    if (in_len == 0) {
        close(p.in);
        p.in = -1;
    }
    while (p.out >= 0 || p.err >= 0) {
        struct pollfd fds[3] = {{p.out, POLLIN, 0}, {p.err, POLLIN, 0},
                                {p.in, POLLOUT, 0}};
        cr_assert(poll(fds, 3, 30000) > 0, "evl hangs");
        for (int i = 0; i < 2; i++) {
            int *fd = i ? &p.err : &p.out;
            if (*fd < 0 || !fds[i].revents)
                continue;
            ssize_t n = read(*fd, buf, sizeof buf);
            if (n <= 0) {
                close(*fd);
                *fd = -1;
            } else {
                append(i ? &r.err : &r.out, i ? &r.err_len : &r.out_len, buf,
                       (size_t)n);
            }
        }
        if (p.in >= 0 && fds[2].revents) {
            ssize_t n = write(p.in, in + sent, in_len - sent);
            if (n > 0)
                sent += (size_t)n;
            if (n <= 0 || sent == in_len) {
                close(p.in);
                p.in = -1;
            }
        }
    }
    if (p.in >= 0)
        close(p.in);
    r.status = wait_status(p.pid, ru);
    return r;
}

static struct res run_env(const char *in, size_t in_len,
                          const char *const *args, const struct env *env)
{
    return finish(spawn_env(args, env), in, in_len, NULL);
}

static void res_free(struct res *r)
{
    free(r->out);
    free(r->err);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}


/* Read one line from fd within timeout_ms (into buf); 0 on success. */
static int read_line(int fd, char *buf, size_t size, int timeout_ms)
{
    size_t n = 0;

    while (n + 1 < size) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, timeout_ms) <= 0)
            return -1;
        if (read(fd, buf + n, 1) != 1)
            return -1;
        if (buf[n++] == '\n')
            break;
    }
    buf[n] = '\0';
    return 0;
}

static void write_all(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len) {
        ssize_t n = write(fd, s, len);
        cr_assert(n > 0, "write: %s", strerror(errno));
        s += n;
        len -= (size_t)n;
    }
}

#endif
