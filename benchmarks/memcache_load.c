/* memcached load generator for benchmarks/memcache.py: C, one thread, epoll
 * (the approach of kvbin_load.c).
 *
 * CONNS connections, each a closed loop over its own BATCHES request batches:
 * it writes one batch (all its pipelined requests in one write), reads until
 * the batch's replies are all in (their size is known: fixed key and value
 * sizes), then writes the next batch. Replies are counted by size only
 * (binary replies carry each server's own CAS values); memcache.py checks
 * one batch's replies byte for byte per server before the load.
 * Counts requests completed after WARMUP seconds for SECONDS seconds.
 *
 * FILE holds CONNS * BATCHES records, connection by connection, each:
 *   u32 requests, u32 request_length, the request bytes, u32 reply_length
 * (little-endian).
 * Usage: memcache_load PORT CONNS BATCHES WARMUP SECONDS FILE
 * Prints: requests=N seconds=S
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

typedef struct {
    uint32_t requests, req_len, rep_len;
    unsigned char *req;
} batch_t;

typedef struct {
    int fd, want_out;
    batch_t *batches;
    size_t next, sent, got;
} conn_t;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static uint32_t read_u32(FILE *f) {
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4) { fprintf(stderr, "short load file\n"); exit(1); }
    return b[0] | (b[1] << 8) | (b[2] << 16) | ((uint32_t)b[3] << 24);
}

static int send_batch(conn_t *k) {
    batch_t *b = &k->batches[k->next];
    ssize_t w = send(k->fd, b->req + k->sent, b->req_len - k->sent, MSG_NOSIGNAL);
    if (w > 0) k->sent += (size_t)w;
    else if (w < 0 && errno != EAGAIN) { perror("send"); return -1; }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: memcache_load PORT CONNS BATCHES WARMUP SECONDS FILE\n");
        return 2;
    }
    int port = atoi(argv[1]), conns = atoi(argv[2]), nbatches = atoi(argv[3]);
    double warmup = atof(argv[4]), seconds = atof(argv[5]);
    FILE *f = fopen(argv[6], "rb");
    if (!f) { perror("load file"); return 1; }
    conn_t *cs = calloc(conns, sizeof(conn_t));
    int ep = epoll_create1(0);
    for (int c = 0; c < conns; c++) {
        conn_t *k = &cs[c];
        k->batches = calloc(nbatches, sizeof(batch_t));
        for (int i = 0; i < nbatches; i++) {
            batch_t *b = &k->batches[i];
            b->requests = read_u32(f);
            b->req_len = read_u32(f);
            b->req = malloc(b->req_len);
            if (fread(b->req, 1, b->req_len, f) != b->req_len) { fprintf(stderr, "short load file\n"); return 1; }
            b->rep_len = read_u32(f);
        }
    }
    fclose(f);
    for (int c = 0; c < conns; c++) {
        conn_t *k = &cs[c];
        k->fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(k->fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
        fcntl(k->fd, F_SETFL, O_NONBLOCK);
        struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)c};
        k->want_out = 1;
        epoll_ctl(ep, EPOLL_CTL_ADD, k->fd, &e);
    }
    size_t scratch_size = 1 << 20;
    unsigned char *scratch = malloc(scratch_size);
    long long requests = 0;
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
            if ((evs[i].events & EPOLLOUT) && k->sent < k->batches[k->next].req_len) {
                if (send_batch(k) < 0) return 1;
            }
            if (evs[i].events & EPOLLIN) {
                for (;;) {
                    ssize_t got = recv(k->fd, scratch, scratch_size, 0);
                    if (got == 0) { fprintf(stderr, "server closed a connection\n"); return 1; }
                    if (got < 0) { if (errno == EAGAIN) break; perror("recv"); return 1; }
                    batch_t *b = &k->batches[k->next];
                    k->got += (size_t)got;
                    if (k->got > b->rep_len) { fprintf(stderr, "more reply bytes than requests\n"); return 1; }
                    if (k->got == b->rep_len) {
                        requests += b->requests;
                        k->got = 0;
                        k->sent = 0;
                        k->next = (k->next + 1) % (size_t)nbatches;
                        if (send_batch(k) < 0) return 1;
                    }
                    if ((size_t)got < scratch_size) break;
                }
            }
            int want = k->sent < k->batches[k->next].req_len;
            if (want != k->want_out) {
                struct epoll_event e = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.u32 = evs[i].data.u32};
                epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &e);
                k->want_out = want;
            }
        }
    }
    printf("requests=%lld seconds=%.3f\n", requests, now() - measure_from);
    return 0;
}
