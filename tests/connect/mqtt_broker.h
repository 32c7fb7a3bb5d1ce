/*
 * mqtt_broker.h - a real mosquitto broker for a test: started on 127.0.0.1
 * at a free port with a configuration of its own (sessions kept, no limit
 * on queued messages), stopped by its PID.
 */
#ifndef EVL_MQTT_BROKER_H
#define EVL_MQTT_BROKER_H

#include "helpers.h"

#include <stdbool.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/wait.h>

typedef struct broker {
    pid_t pid;
    int port;
    char uri[64];
} broker_t;

static inline int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &l) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static inline bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* The test file says where its running broker is (to stop it at teardown). */
static void extern_broker_started(broker_t *b);

/* TLS files made for the test (openssl): a CA, and a server certificate it
 * signed for 127.0.0.1, under tpath("tls"). */
static inline void tls_files(void)
{
    char cmd[2048], d[512];
    snprintf(d, sizeof d, "%s", tpath("tls"));
    snprintf(cmd, sizeof cmd,
             "set -e; mkdir -p '%s'; cd '%s';"
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2"
             " -subj /CN=evl-test-ca >/dev/null 2>&1;"
             "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr"
             " -subj /CN=127.0.0.1 >/dev/null 2>&1;"
             "printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf;"
             "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial"
             " -out server.crt -days 2 -extfile ext.cnf >/dev/null 2>&1;"
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 2"
             " -subj /CN=not-our-ca >/dev/null 2>&1",
             d, d);
    cr_assert_eq(system(cmd), 0, "openssl could not make the test's certificates");
}

static inline void broker_start_tls(broker_t *b, bool tls)
{
    b->port = free_port();
    snprintf(b->uri, sizeof b->uri, "%s://127.0.0.1:%d", tls ? "ssl" : "tcp", b->port);
    char conf[512];
    snprintf(conf, sizeof conf, "%s", tpath("mosquitto.conf"));
    FILE *f = fopen(conf, "w");
    cr_assert_not_null(f);
    fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
               "max_queued_messages 0\nlog_dest none\n",
            b->port);
    /* As root, mosquitto would drop to its own user, and a change of
     * credentials clears the parent-death signal: a test that died would
     * leave its broker running. It stays root here, ending with the test. */
    if (geteuid() == 0)
        fprintf(f, "user root\n");
    if (tls) {
        char d[512];
        snprintf(d, sizeof d, "%s", tpath("tls"));
        fprintf(f, "cafile %s/ca.crt\ncertfile %s/server.crt\nkeyfile %s/server.key\n", d, d, d);
    }
    fclose(f);
    b->pid = fork();
    cr_assert_geq(b->pid, 0);
    if (b->pid == 0) {
        /* Ends with the test, whatever ends it; keeps off its output. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf, (char *)NULL);
        _exit(127);
    }
    extern_broker_started(b);
    for (int i = 0; i < 500 && !port_open(b->port); i++)
        usleep(10000);
    cr_assert(port_open(b->port), "mosquitto did not start on port %d", b->port);
}

static inline void broker_start(broker_t *b) { broker_start_tls(b, false); }

static inline void broker_stop(broker_t *b)
{
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        waitpid(b->pid, NULL, 0);
    }
    b->pid = 0;
}

/* Publish lines "<prefix><i>" for i in [from, to) to topic at QoS 1 with
 * mosquitto_pub -l; returns its PID (wait for it: exit 0 means the broker
 * acknowledged every one). */
static inline pid_t publish(const broker_t *b, const char *topic, const char *prefix, int from, int to)
{
    char path[512];
    snprintf(path, sizeof path, "%s", tpath("pub.txt"));
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = from; i < to; i++)
        fprintf(f, "%s%d\n", prefix, i);
    fclose(f);
    char ca[512];
    snprintf(ca, sizeof ca, "%s/ca.crt", tpath("tls"));
    bool tls = !strncmp(b->uri, "ssl", 3);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_RDONLY);
        dup2(fd, 0);
        char port[16];
        snprintf(port, sizeof port, "%d", b->port);
        if (tls)
            execlp("mosquitto_pub", "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1",
                   "-t", topic, "-l", "--cafile", ca, (char *)NULL);
        else
            execlp("mosquitto_pub", "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1",
                   "-t", topic, "-l", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static inline void published(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "mosquitto_pub failed (%d)", st);
}

#endif
