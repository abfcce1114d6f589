/*
 * loadgen: the load client and the target server of bench/conn-rate.sh. One file, three modes, each a single
 * thread with one epoll loop, and each bounded in time:
 *
 *   loadgen serve ADDR PORT STATSFILE MAX_SECONDS
 *       A tiny HTTP/1.1 server. "GET /close" gets a 2-byte response and the server closes the connection;
 *       "GET /keep" gets the same response and the connection stays open for the next request. It counts
 *       accepted connections per peer address. SIGUSR1 writes its counters to STATSFILE (atomically, with a
 *       sequence number that grows by one per write); SIGTERM/SIGINT or MAX_SECONDS write them and exit.
 *
 *   loadgen rate ADDR PORT CONCURRENCY SECONDS MAX_CONNS
 *       Keeps CONCURRENCY short connections in flight: connect(), "GET /close", read the response to the end of
 *       its body, wait for the server's close, close, start the next one. Stops starting connections after
 *       SECONDS or MAX_CONNS, whichever comes first, and lets the ones in flight finish (each has a 5 s limit).
 *       Prints one JSON object: connections per second, latency percentiles and the errors by kind.
 *       Latency is from just before connect() to the last byte of the response body.
 *
 *   loadgen hold ADDR PORT N CONCURRENCY MAX_SECONDS READYFILE
 *       Opens N connections (at most CONCURRENCY being set up at once), makes one keep-alive request on each,
 *       and keeps every connection whose response arrived open and idle. Once all N are set up (or failed, or
 *       30 s passed) it writes READYFILE. Then it waits for SIGTERM/SIGINT or MAX_SECONDS, closes everything
 *       and prints one JSON object (how many were held, how many failed, how many the other side closed).
 *
 * Build: clang -O2 -Wall -Wextra -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESPONSE_CLOSE "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
#define RESPONSE_KEEP "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
#define REQUEST_CLOSE "GET /close HTTP/1.1\r\nHost: 203.0.113.2\r\nConnection: close\r\n\r\n"
#define REQUEST_KEEP "GET /keep HTTP/1.1\r\nHost: 203.0.113.2\r\nConnection: keep-alive\r\n\r\n"
#define CONN_TIMEOUT_US 5000000LL  /* one short connection, or one hold setup, may take this long */
#define HOLD_SETUP_US 30000000LL   /* all hold connections must be set up within this */
#define BUF 512

static volatile sig_atomic_t stop_flag, usr1_flag;

static void on_stop(int sig) { (void)sig; stop_flag = 1; }
static void on_usr1(int sig) { (void)sig; usr1_flag = 1; }

static void die(const char *what) {
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long parse_long(const char *s, long lo, long hi, const char *name) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "loadgen: %s must be %ld..%ld, not '%s'\n", name, lo, hi, s);
        exit(64);
    }
    return v;
}

static struct sockaddr_in parse_addr(const char *ip, const char *port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)parse_long(port, 1, 65535, "PORT"));
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
        fprintf(stderr, "loadgen: not an IPv4 address: %s\n", ip);
        exit(64);
    }
    return a;
}

/* Raises the soft RLIMIT_NOFILE to NEED (or, with NEED 0, to the hard limit). Raising the hard limit needs
 * CAP_SYS_RESOURCE; without it a NEED above the hard limit is an error. */
static void raise_nofile(long need) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) die("getrlimit");
    if (need == 0) need = (long)r.rlim_max;
    if ((long)r.rlim_cur >= need) return;
    r.rlim_cur = (rlim_t)need;
    if ((long)r.rlim_max < need) r.rlim_max = (rlim_t)need;
    if (setrlimit(RLIMIT_NOFILE, &r) != 0) {
        fprintf(stderr, "loadgen: cannot raise the open-file limit to %ld: %s\n", need, strerror(errno));
        exit(2);
    }
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop; /* no SA_RESTART: epoll_wait returns EINTR and the loop sees the flag */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static const char *find_header_end(const char *buf, int len) {
    for (int i = 0; i + 3 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') return buf + i + 4;
    return NULL;
}

/* ------------------------------------------------------------------------------------------------ serve */

#define MAX_PEERS 16
struct peer { uint32_t addr; uint64_t accepted; };
struct sconn { int fd, len; char buf[BUF]; };

static struct peer peers[MAX_PEERS];
static int npeers;
static uint64_t s_accepted, s_served, s_errors, s_open, s_max_open, s_other_peers, s_seq;

static void count_peer(uint32_t addr) {
    for (int i = 0; i < npeers; i++)
        if (peers[i].addr == addr) { peers[i].accepted++; return; }
    if (npeers < MAX_PEERS) { peers[npeers].addr = addr; peers[npeers++].accepted = 1; }
    else s_other_peers++;
}

static void write_stats(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) die("stats file");
    fprintf(f, "{\"seq\": %llu, \"accepted\": %llu, \"served\": %llu, \"errors\": %llu, \"open\": %llu, "
               "\"max_open\": %llu, \"peers\": {", (unsigned long long)++s_seq, (unsigned long long)s_accepted,
            (unsigned long long)s_served, (unsigned long long)s_errors, (unsigned long long)s_open,
            (unsigned long long)s_max_open);
    for (int i = 0; i < npeers; i++) {
        char ip[INET_ADDRSTRLEN];
        struct in_addr a = {.s_addr = peers[i].addr};
        inet_ntop(AF_INET, &a, ip, sizeof ip);
        fprintf(f, "%s\"%s\": %llu", i ? ", " : "", ip, (unsigned long long)peers[i].accepted);
    }
    fprintf(f, "}, \"untracked_peers\": %llu}\n", (unsigned long long)s_other_peers);
    if (fclose(f) != 0) die("stats file");
    if (rename(tmp, path) != 0) die("rename stats file");
}

static int serve(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: loadgen serve ADDR PORT STATSFILE MAX_SECONDS\n"); return 64; }
    struct sockaddr_in a = parse_addr(argv[2], argv[3]);
    const char *stats = argv[4];
    int64_t deadline = now_us() + parse_long(argv[5], 1, 86400, "MAX_SECONDS") * 1000000LL;
    install_signals();
    raise_nofile(0);

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ls < 0) die("socket");
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0) die("bind");
    if (listen(ls, 4096) != 0) die("listen");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev) != 0) die("epoll_ctl");
    write_stats(stats);

    struct epoll_event evs[256];
    while (!stop_flag && now_us() < deadline) {
        if (usr1_flag) { usr1_flag = 0; write_stats(stats); }
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0) { if (errno == EINTR) continue; die("epoll_wait"); }
        for (int i = 0; i < n; i++) {
            struct sconn *c = evs[i].data.ptr;
            if (!c) {   /* the listener: accept everything that is waiting */
                for (;;) {
                    struct sockaddr_in peer;
                    socklen_t plen = sizeof peer;
                    int fd = accept4(ls, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) s_errors++;
                        break;
                    }
                    s_accepted++;
                    count_peer(peer.sin_addr.s_addr);
                    struct sconn *nc = calloc(1, sizeof *nc);
                    if (!nc) die("calloc");
                    nc->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = nc};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) != 0) die("epoll_ctl add");
                    if (++s_open > s_max_open) s_max_open = s_open;
                }
                continue;
            }
            int fd = c->fd;
            int done = 0;
            for (;;) {
                ssize_t r = read(fd, c->buf + c->len, (size_t)(BUF - c->len));
                if (r > 0) {
                    c->len += (int)r;
                    const char *end = find_header_end(c->buf, c->len);
                    if (end) {
                        int keep = c->len > 9 && memcmp(c->buf, "GET /keep", 9) == 0;
                        const char *resp = keep ? RESPONSE_KEEP : RESPONSE_CLOSE;
                        size_t rl = strlen(resp);
                        if (write(fd, resp, rl) != (ssize_t)rl) { s_errors++; done = 1; break; }
                        s_served++;
                        if (!keep) { done = 1; break; }
                        int rest = c->len - (int)(end - c->buf);
                        memmove(c->buf, end, (size_t)rest);
                        c->len = rest;
                    } else if (c->len == BUF) { s_errors++; done = 1; break; }
                    continue;
                }
                if (r == 0) { done = 1; break; }             /* the client closed */
                if (errno == EAGAIN) break;
                if (errno == EINTR) continue;
                if (errno != ECONNRESET) s_errors++;
                done = 1;
                break;
            }
            if (done) {
                close(fd);  /* closing drops it from the epoll set */
                free(c);
                s_open--;
            }
        }
    }
    write_stats(stats);
    return 0;
}

/* ------------------------------------------------------------------------------------------------ clients */

enum { C_FREE, C_CONNECTING, C_WAITING, C_HELD };
struct cconn {
    int fd, state, len, body_done;
    int64_t t0, t_body;
    char buf[BUF];
};

enum { E_CONNECT, E_RESET, E_TIMEOUT, E_SHORT, E_OTHER, E_NERR };
static const char *err_names[E_NERR] = {"connect", "reset", "timeout", "short", "other"};
static uint64_t errs[E_NERR];

static int start_conn(int ep, struct cconn *c, const struct sockaddr_in *a, uint32_t idx) {
    memset(c, 0, offsetof(struct cconn, buf));
    c->t0 = now_us();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { errs[E_OTHER]++; c->state = C_FREE; return -1; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (const struct sockaddr *)a, sizeof *a) != 0 && errno != EINPROGRESS) {
        errs[E_CONNECT]++;
        close(c->fd);
        c->state = C_FREE;
        return -1;
    }
    c->state = C_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u32 = idx};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl add");
    return 0;
}

static void end_conn(struct cconn *c, int err) {
    if (err >= 0) errs[err]++;
    close(c->fd);
    c->fd = -1;
    c->state = C_FREE;
}

/* Handles one readiness event of C. Returns 0 while C goes on, STEP_FAILED or STEP_DONE (the body arrived and then
 * the other side's close) when C is finished and free again, STEP_HELD when a hold connection got its response, and
 * STEP_DROPPED when the other side closed a held connection. */
enum { STEP_FAILED = 1, STEP_HELD, STEP_DONE, STEP_DROPPED };
static int step(int ep, struct cconn *c, uint32_t idx, uint32_t events, const char *request, int hold) {
    if (c->state == C_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return 0;
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) { end_conn(c, E_CONNECT); return STEP_FAILED; }
        size_t rl = strlen(request);
        if (write(c->fd, request, rl) != (ssize_t)rl) {
            end_conn(c, errno == ECONNRESET ? E_RESET : E_OTHER);
            return STEP_FAILED;
        }
        c->state = C_WAITING;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = idx};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) die("epoll_ctl mod");
        return 0;
    }
    for (;;) {
        char *dst = c->buf + c->len;
        size_t room = (size_t)(BUF - c->len);
        char sink[BUF];
        if (c->body_done) { dst = sink; room = sizeof sink; }   /* after the body only the close matters */
        ssize_t r = read(c->fd, dst, room);
        if (r > 0) {
            if (c->body_done) {
                if (c->state == C_HELD) { end_conn(c, E_OTHER); return STEP_DROPPED; }   /* bytes nobody asked for */
                continue;
            }
            c->len += (int)r;
            const char *end = find_header_end(c->buf, c->len);
            if (end) {
                const char *cl = memmem(c->buf, (size_t)(end - c->buf), "Content-Length: ", 16);
                long want = cl ? strtol(cl + 16, NULL, 10) : -1;
                if (want < 0 || memcmp(c->buf, "HTTP/1.1 200 ", 13) != 0) { end_conn(c, E_OTHER); return STEP_FAILED; }
                if (c->len - (end - c->buf) >= want) {
                    c->body_done = 1;
                    c->t_body = now_us();
                    if (hold) { c->state = C_HELD; return STEP_HELD; }
                }
            } else if (c->len == BUF) { end_conn(c, E_OTHER); return STEP_FAILED; }
            continue;
        }
        if (r == 0) {                              /* the other side closed */
            if (c->state == C_HELD) { end_conn(c, -1); return STEP_DROPPED; }
            if (c->body_done) { end_conn(c, -1); return STEP_DONE; }
            end_conn(c, E_SHORT);
            return STEP_FAILED;
        }
        if (errno == EAGAIN) return 0;
        if (errno == EINTR) continue;
        int held = c->state == C_HELD;
        end_conn(c, errno == ECONNRESET ? E_RESET : E_OTHER);
        return held ? STEP_DROPPED : STEP_FAILED;
    }
}

static void print_errors(FILE *f) {
    uint64_t total = 0;
    fprintf(f, "\"errors\": {");
    for (int i = 0; i < E_NERR; i++) {
        fprintf(f, "%s\"%s\": %llu", i ? ", " : "", err_names[i], (unsigned long long)errs[i]);
        total += errs[i];
    }
    fprintf(f, "}, \"errors_total\": %llu", (unsigned long long)total);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int rate(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: loadgen rate ADDR PORT CONCURRENCY SECONDS MAX_CONNS\n"); return 64; }
    struct sockaddr_in a = parse_addr(argv[2], argv[3]);
    int conc = (int)parse_long(argv[4], 1, 10000, "CONCURRENCY");
    int64_t seconds = parse_long(argv[5], 1, 600, "SECONDS");
    long max_conns = parse_long(argv[6], 1, 10000000, "MAX_CONNS");
    install_signals();
    raise_nofile(conc + 64);

    uint32_t *lat = malloc(sizeof(uint32_t) * (size_t)max_conns);
    struct cconn *cs = calloc((size_t)conc, sizeof *cs);
    if (!lat || !cs) die("malloc");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");

    long started = 0, ok = 0;
    int inflight = 0;
    int64_t t_start = now_us(), stop_at = t_start + seconds * 1000000LL, t_last = t_start, last_scan = t_start;
    int64_t sum_lat = 0;
    struct epoll_event evs[256];
    for (;;) {
        int64_t t = now_us();
        int starting = !stop_flag && t < stop_at;
        for (int i = 0; starting && i < conc && started < max_conns; i++)
            if (cs[i].state == C_FREE) {
                started++;
                if (start_conn(ep, &cs[i], &a, (uint32_t)i) == 0) inflight++;
            }
        if (inflight == 0 && (!starting || started >= max_conns)) break;
        int n = epoll_wait(ep, evs, 256, 50);
        if (n < 0) { if (errno == EINTR) continue; die("epoll_wait"); }
        for (int k = 0; k < n; k++) {
            uint32_t i = evs[k].data.u32;
            struct cconn *c = &cs[i];
            int r = step(ep, c, i, evs[k].events, REQUEST_CLOSE, 0);
            if (r == STEP_DONE) {
                uint32_t us = (uint32_t)(c->t_body - c->t0);
                lat[ok++] = us;
                sum_lat += us;
                t_last = now_us();
            }
            if (r != 0) inflight--;
        }
        t = now_us();
        if (t - last_scan >= 100000) {     /* per-connection time limit */
            last_scan = t;
            for (int i = 0; i < conc; i++)
                if (cs[i].state != C_FREE && t - cs[i].t0 > CONN_TIMEOUT_US) { end_conn(&cs[i], E_TIMEOUT); inflight--; }
        }
    }
    double elapsed = (double)(t_last - t_start) / 1e6;
    qsort(lat, (size_t)ok, sizeof *lat, cmp_u32);
#define PCT(p) (ok ? lat[(size_t)((double)(ok - 1) * (p) + 0.5)] : 0)
    printf("{\"mode\": \"rate\", \"concurrency\": %d, \"seconds_limit\": %lld, \"max_conns\": %ld, \"started\": %ld, "
           "\"ok\": %ld, \"elapsed_s\": %.3f, \"conns_per_s\": %.1f, ",
           conc, (long long)seconds, max_conns, started, ok, elapsed, elapsed > 0 ? (double)ok / elapsed : 0.0);
    printf("\"lat_us\": {\"p50\": %u, \"p90\": %u, \"p99\": %u, \"max\": %u, \"mean\": %.1f}, ", PCT(0.50), PCT(0.90),
           PCT(0.99), ok ? lat[ok - 1] : 0, ok ? (double)sum_lat / (double)ok : 0.0);
    print_errors(stdout);
    printf("}\n");
    return 0;
}

static int hold(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: loadgen hold ADDR PORT N CONCURRENCY MAX_SECONDS READYFILE\n");
        return 64;
    }
    struct sockaddr_in a = parse_addr(argv[2], argv[3]);
    int n = (int)parse_long(argv[4], 1, 100000, "N");
    int conc = (int)parse_long(argv[5], 1, 10000, "CONCURRENCY");
    int64_t t_start = now_us();
    int64_t deadline = t_start + parse_long(argv[6], 1, 3600, "MAX_SECONDS") * 1000000LL;
    const char *ready = argv[7];
    install_signals();
    raise_nofile(n + 64);

    struct cconn *cs = calloc((size_t)n, sizeof *cs);
    if (!cs) die("calloc");
    for (int i = 0; i < n; i++) cs[i].fd = -1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");

    int next = 0, setting_up = 0, held = 0, dropped = 0, is_ready = 0;
    int64_t setup_us = 0, last_scan = t_start;
    struct epoll_event evs[256];
    while (!stop_flag && now_us() < deadline) {
        while (!is_ready && next < n && setting_up < conc) {
            if (start_conn(ep, &cs[next], &a, (uint32_t)next) == 0) setting_up++;
            next++;
        }
        int64_t t = now_us();
        if (!is_ready && ((next == n && setting_up == 0) || t - t_start > HOLD_SETUP_US)) {
            is_ready = 1;
            setup_us = t - t_start;
            for (int i = 0; i < n; i++)     /* whatever is still being set up now counts as failed */
                if (cs[i].state == C_CONNECTING || cs[i].state == C_WAITING) { end_conn(&cs[i], E_TIMEOUT); setting_up--; }
            char tmp[4096];
            snprintf(tmp, sizeof tmp, "%s.tmp", ready);
            FILE *f = fopen(tmp, "w");
            if (!f) die("ready file");
            fprintf(f, "{\"held\": %d, \"setup_s\": %.3f, ", held, (double)setup_us / 1e6);
            print_errors(f);
            fprintf(f, "}\n");
            if (fclose(f) != 0 || rename(tmp, ready) != 0) die("ready file");
        }
        int m = epoll_wait(ep, evs, 256, 100);
        if (m < 0) { if (errno == EINTR) continue; die("epoll_wait"); }
        for (int k = 0; k < m; k++) {
            uint32_t i = evs[k].data.u32;
            struct cconn *c = &cs[i];
            int r = step(ep, c, i, evs[k].events, REQUEST_KEEP, 1);
            if (r == STEP_HELD) { setting_up--; held++; }
            else if (r == STEP_DROPPED) { held--; dropped++; }
            else if (r != 0) setting_up--;
        }
        t = now_us();
        if (!is_ready && t - last_scan >= 100000) {
            last_scan = t;
            for (int i = 0; i < n; i++)
                if ((cs[i].state == C_CONNECTING || cs[i].state == C_WAITING) && t - cs[i].t0 > CONN_TIMEOUT_US) {
                    end_conn(&cs[i], E_TIMEOUT);
                    setting_up--;
                }
        }
    }
    int held_at_end = held;
    for (int i = 0; i < n; i++)
        if (cs[i].state != C_FREE) end_conn(&cs[i], -1);
    printf("{\"mode\": \"hold\", \"n\": %d, \"held_at_end\": %d, \"dropped\": %d, \"setup_s\": %.3f, "
           "\"held_s\": %.3f, ", n, held_at_end, dropped, (double)setup_us / 1e6,
           (double)(now_us() - t_start - setup_us) / 1e6);
    print_errors(stdout);
    printf("}\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "serve") == 0) return serve(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "rate") == 0) return rate(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "hold") == 0) return hold(argc, argv);
    fprintf(stderr, "usage: loadgen serve|rate|hold ... (see the comment at the top of loadgen.c)\n");
    return 64;
}
