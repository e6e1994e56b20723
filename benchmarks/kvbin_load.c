/* kvbin load generator for benchmarks/kvbin.py: C, one thread, epoll.
 *
 * CONNS connections each send PIPELINE SET+GET pairs (VALUE-byte values, keys
 * distinct per connection) as one write, read the 2 * PIPELINE replies, check
 * them byte for byte against the replies kvbin must give, and start again.
 * Counts requests completed after WARMUP seconds for SECONDS seconds.
 * Usage: kvbin_load PORT CONNS PIPELINE VALUE WARMUP SECONDS
 * Prints: requests=N seconds=S mismatches=M
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

typedef struct {
    int fd;
    unsigned char *req, *rep;
    size_t req_len, rep_len, sent, got;
    int want_out;
} conn_t;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static size_t put_header(unsigned char *p, int code, uint32_t id, uint32_t len) {
    p[0] = 0xc0; p[1] = 'K'; p[2] = 'V'; p[3] = (unsigned char)code;
    uint32_t n = htonl(id); memcpy(p + 4, &n, 4);
    n = htonl(len); memcpy(p + 8, &n, 4);
    return 12;
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: kvbin_load PORT CONNS PIPELINE VALUE WARMUP SECONDS\n"); return 2; }
    int port = atoi(argv[1]), conns = atoi(argv[2]), pipeline = atoi(argv[3]);
    size_t value = (size_t)atol(argv[4]);
    double warmup = atof(argv[5]), seconds = atof(argv[6]);
    conn_t *cs = calloc(conns, sizeof(conn_t));
    int ep = epoll_create1(0);
    for (int c = 0; c < conns; c++) {
        conn_t *k = &cs[c];
        k->req = malloc(pipeline * (2 * 12 + 2 * (2 + 32) + value));
        k->rep = malloc(pipeline * (2 * 12 + value));
        size_t r = 0, q = 0;
        for (int i = 0; i < pipeline; i++) {
            char key[32]; int kl = snprintf(key, sizeof key, "key:%d:%d", c, i);
            /* SET */
            r += put_header(k->req + r, 2, 2 * i, 2 + kl + value);
            k->req[r++] = 0; k->req[r++] = (unsigned char)kl;
            memcpy(k->req + r, key, kl); r += kl;
            for (size_t j = 0; j < value; j++) k->req[r++] = (unsigned char)('a' + (j + c) % 26);
            q += put_header(k->rep + q, 0, 2 * i, 0);
            /* GET */
            r += put_header(k->req + r, 1, 2 * i + 1, 2 + kl);
            k->req[r++] = 0; k->req[r++] = (unsigned char)kl;
            memcpy(k->req + r, key, kl); r += kl;
            q += put_header(k->rep + q, 0, 2 * i + 1, value);
            for (size_t j = 0; j < value; j++) k->rep[q++] = (unsigned char)('a' + (j + c) % 26);
        }
        k->req_len = r; k->rep_len = q;
        k->fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1; setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(k->fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
        fcntl(k->fd, F_SETFL, O_NONBLOCK);
        struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)c};
        k->want_out = 1;
        epoll_ctl(ep, EPOLL_CTL_ADD, k->fd, &e);
    }
    size_t scratch_size = 1 << 20;
    unsigned char *scratch = malloc(scratch_size);
    long long requests = 0, mismatches = 0;
    double start = now(), measure_from = start + warmup, stop = measure_from + seconds;
    int measuring = 0;
    struct epoll_event evs[256];
    for (;;) {
        double t = now();
        if (!measuring && t >= measure_from) { measuring = 1; requests = 0; }
        if (t >= stop) break;
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            conn_t *k = &cs[evs[i].data.u32];
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) { fprintf(stderr, "connection closed\n"); return 1; }
            if ((evs[i].events & EPOLLOUT) && k->sent < k->req_len) {
                ssize_t w = send(k->fd, k->req + k->sent, k->req_len - k->sent, MSG_NOSIGNAL);
                if (w > 0) k->sent += (size_t)w;
                else if (w < 0 && errno != EAGAIN) { perror("send"); return 1; }
            }
            if (evs[i].events & EPOLLIN) {
                for (;;) {
                    ssize_t got = recv(k->fd, scratch, scratch_size, 0);
                    if (got == 0) { fprintf(stderr, "server closed a connection\n"); return 1; }
                    if (got < 0) { if (errno == EAGAIN) break; perror("recv"); return 1; }
                    if (k->got + (size_t)got > k->rep_len ||
                        memcmp(scratch, k->rep + k->got, (size_t)got) != 0) {
                        mismatches++;
                        fprintf(stderr, "reply mismatch\n");
                        return 1;
                    }
                    k->got += (size_t)got;
                    if (k->got == k->rep_len) {
                        requests += 2 * pipeline;
                        k->got = 0; k->sent = 0;
                        ssize_t w = send(k->fd, k->req, k->req_len, MSG_NOSIGNAL);
                        if (w > 0) k->sent = (size_t)w;
                    }
                    if ((size_t)got < scratch_size) break;
                }
            }
            int want = k->sent < k->req_len;
            if (want != k->want_out) {
                struct epoll_event e = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.u32 = evs[i].data.u32};
                epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &e);
                k->want_out = want;
            }
        }
    }
    printf("requests=%lld seconds=%.3f mismatches=%lld\n", requests, now() - measure_from, mismatches);
    return 0;
}
