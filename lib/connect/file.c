/*
 * file.c - FileStreamSource (Kafka's names: `file`, `topic`, `batch.size`):
 * each line of a file becomes a record (no key, the line without its
 * newline as the value). It follows the file as it grows, like tail -F:
 * a file replaced under its name (rotation: another inode) is read from its
 * start once the old one is read to its end, and a file cut shorter than
 * the position (copytruncate) is read again from its start.
 *
 * The source offset is (inode, position after the line): a restart goes on
 * right after the last committed line of the same file; if the file was
 * replaced meanwhile, the new one is read from its start.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <eventlog/connect.h>

#define LINE_MAX_BYTES (1u << 20) /* a longer line is cut into records of this */

static const evl_confkey_t file_keys[] = {
    {"file", EVL_CONF_STRING, NULL, 0, -1, NULL, 0, NULL, NULL, "the file to read"},
    {"batch.size", EVL_CONF_INT, "1000", 1, 1000, NULL, 0, NULL, NULL,
     "records per poll at most (this version: 1 to 1000)"},
};

typedef struct src_offset {
    uint64_t ino, pos;
} src_offset_t;

typedef struct fsrc {
    char *path;
    int fd;
    uint64_t ino, pos;       /* the open file, the position of buf[0] */
    char *buf;
    size_t len, cap, taken;  /* buf[0..len) read; records handed out up to taken */
    int batch;
    src_offset_t *offs;      /* the offsets of the last poll's records */
} fsrc_t;

static int open_file(fsrc_t *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return errno == ENOENT ? 0 : -errno; /* not there yet: wait for it */
    struct stat st;
    if (fstat(s->fd, &st) < 0)
        return -errno;
    s->ino = (uint64_t)st.st_ino;
    return 0;
}

static int fsrc_start(const evl_conf_t *conf, const void *offset, size_t len, void **state)
{
    fsrc_t *s = calloc(1, sizeof *s);
    if (!s)
        return EVL_ENOMEM;
    s->fd = -1;
    s->batch = (int)evl_conf_int(conf, "batch.size");
    s->path = strdup(evl_conf_str(conf, "file"));
    s->cap = 64 << 10;
    s->buf = malloc(s->cap);
    s->offs = calloc((size_t)s->batch, sizeof *s->offs);
    int rc = s->path && s->buf && s->offs ? open_file(s) : EVL_ENOMEM;
    if (rc == 0 && s->fd >= 0 && offset && len == sizeof(src_offset_t)) {
        src_offset_t o;
        memcpy(&o, offset, sizeof o);
        if (o.ino == s->ino)
            s->pos = o.pos; /* the same file: right after the last committed line */
    }
    if (rc) {
        free(s->path);
        free(s->buf);
        free(s->offs);
        free(s);
        return rc;
    }
    *state = s;
    return 0;
}

/* Read what the file has past buf into buf; 1 if anything came. */
static int fill(fsrc_t *s)
{
    if (s->fd < 0 && open_file(s) < 0)
        return 0;
    if (s->fd < 0)
        return 0;
    if (s->taken) { /* drop what was handed out */
        memmove(s->buf, s->buf + s->taken, s->len - s->taken);
        s->pos += s->taken;
        s->len -= s->taken;
        s->taken = 0;
    }
    struct stat st;
    if (fstat(s->fd, &st) == 0 && (uint64_t)st.st_size < s->pos + s->len) {
        s->pos = 0; /* cut shorter (copytruncate): from its start again */
        s->len = 0;
    }
    if (s->len == s->cap && s->cap < LINE_MAX_BYTES) {
        char *nb = realloc(s->buf, s->cap * 2);
        if (nb) {
            s->buf = nb;
            s->cap *= 2;
        }
    }
    ssize_t n = s->len < s->cap ? pread(s->fd, s->buf + s->len, s->cap - s->len,
                                        (off_t)(s->pos + s->len))
                                : 0;
    if (n > 0) {
        s->len += (size_t)n;
        return 1;
    }
    /* At the end: replaced under its name (rotated)? Then the new file, once
     * this one is read out (n == 0 here). */
    struct stat now;
    if (stat(s->path, &now) == 0 && (uint64_t)now.st_ino != s->ino && s->len == 0) {
        if (open_file(s) == 0 && s->fd >= 0) {
            s->pos = 0;
            return 1;
        }
    }
    return 0;
}

static int fsrc_poll(void *state, evl_source_record_t *recs, int max, int timeout_ms)
{
    fsrc_t *s = state;
    if (max > s->batch)
        max = s->batch;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int n = 0;
        size_t at = s->taken;
        while (n < max) {
            char *nl = memchr(s->buf + at, '\n', s->len - at);
            size_t end = nl ? (size_t)(nl - s->buf) : s->len;
            if (!nl && !(s->len == s->cap && s->cap >= LINE_MAX_BYTES && at == 0))
                break; /* an unfinished line waits for the rest */
            size_t next = nl ? end + 1 : end;
            s->offs[n] = (src_offset_t){s->ino, s->pos + next};
            recs[n] = (evl_source_record_t){NULL, 0, s->buf + at, end - at, -1, &s->offs[n],
                                            sizeof s->offs[n], false, 0};
            n++;
            at = next;
        }
        if (n > 0) {
            s->taken = at; /* the views stay valid until the next poll */
            return n;
        }
        if (fill(s))
            continue;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t waited = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (waited >= timeout_ms)
            return 0;
        struct timespec nap = {0, 5 * 1000000};
        nanosleep(&nap, NULL);
    }
}

static void fsrc_stop(void *state)
{
    fsrc_t *s = state;
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    free(s->buf);
    free(s->offs);
    free(s);
}

static const evl_source_ops_t fsrc_ops = {fsrc_start, fsrc_poll, fsrc_stop, NULL, EVL_REPLAY_EXACT};

static const evl_connector_type_t file_source = {
    "FileStreamSource", file_keys, sizeof file_keys / sizeof file_keys[0], &fsrc_ops, NULL, 1,
};

EVL_API const evl_connector_type_t *evl_connect_file_source(void) { return &file_source; }

/* ---- FileStreamSink ---------------------------------------------------------- */

static const evl_confkey_t sink_keys[] = {
    {"file", EVL_CONF_STRING, NULL, 0, -1, NULL, 0, NULL, NULL, "the file to append to"},
};

typedef struct fsink {
    int fd;
} fsink_t;

static int fsink_start(const evl_conf_t *conf, evl_sink_task_t *task, void **state)
{
    fsink_t *s = calloc(1, sizeof *s);
    if (!s)
        return EVL_ENOMEM;
    s->fd = open(evl_conf_str(conf, "file"), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        int e = -errno;
        free(s);
        return e;
    }
    *state = s;
    return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : EVL_EIO;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fsink_put(void *state, const evl_sink_record_t *recs, size_t n)
{
    fsink_t *s = state;
    /* A batch's lines gathered into one write: a reader of the file sees
     * whole lines (each write of O_APPEND lands whole). */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += recs[i].value_len + 1;
    }
    char *buf = malloc(total ? total : 1), *p = buf;
    if (!buf)
        return EVL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t vl = recs[i].value_len;
        if (vl)
            memcpy(p, recs[i].value, vl);
        p += vl;
        *p++ = '\n';
    }
    int rc = write_all(s->fd, buf, total);
    free(buf);
    return rc;
}

static int fsink_flush(void *state)
{
    fsink_t *s = state;
    return fdatasync(s->fd) == 0 ? 0 : -errno;
}

static void fsink_stop(void *state)
{
    fsink_t *s = state;
    if (!s)
        return;
    close(s->fd);
    free(s);
}

static const evl_sink_ops_t fsink_ops = {fsink_start, fsink_put, fsink_flush, fsink_stop, NULL};

static const evl_connector_type_t file_sink = {
    "FileStreamSink", sink_keys, sizeof sink_keys / sizeof sink_keys[0], NULL, &fsink_ops, 0,
};

EVL_API const evl_connector_type_t *evl_connect_file_sink(void) { return &file_sink; }
