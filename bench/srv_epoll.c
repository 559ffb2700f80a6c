/* bench/srv_epoll.c: the bare C epoll baseline of bench/run (issue 20): the floor of what a
 * chat server can cost. Copied from ../shared/perf/srv_epoll.c (the reference server) so a
 * clean clone has it; bench/run builds it with `cc -O2`. Changed only at start-up, for the
 * scripts: port 0 picks a free port, and the address is printed as `listening on ADDR`, as
 * `iotchat serve` and examples/baseline.rs print it. The serving loop is the original's. */
/* Original header: srv_epoll.c - single-threaded epoll line-uppercase server (reference "near physical limit").
 * Reads up to 64 KiB, uppercases all complete lines, writes them back in one write().
 * Partial trailing line kept per connection; on short write, stops reading until drained. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct { char *left; int leftlen; char *pend; int pendlen, pendoff; } cst;
#define MAXFD 65536
static cst cs[MAXFD];
static char buf[65536 + 65536];

static void cclose(int fd) {
    free(cs[fd].left); free(cs[fd].pend);
    memset(&cs[fd], 0, sizeof(cst));
    close(fd);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 17000;
    signal(SIGPIPE, SIG_IGN);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); return 1; }
    listen(lfd, 4096);
    socklen_t salen = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &salen);
    printf("listening on 127.0.0.1:%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, evs[1024];
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    for (;;) {
        int n = epoll_wait(ep, evs, 1024, -1);
        for (int k = 0; k < n; k++) {
            int fd = evs[k].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (c >= MAXFD) { close(c); continue; }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event e2 = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &e2);
                }
                continue;
            }
            cst *s = &cs[fd];
            if (evs[k].events & EPOLLOUT) {
                while (s->pendoff < s->pendlen) {
                    ssize_t w = write(fd, s->pend + s->pendoff, s->pendlen - s->pendoff);
                    if (w < 0) { if (errno == EAGAIN) break; cclose(fd); goto next; }
                    s->pendoff += w;
                }
                if (s->pendoff < s->pendlen) continue;
                s->pendlen = s->pendoff = 0;
                struct epoll_event e2 = {.events = EPOLLIN, .data.fd = fd};
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e2);
                continue;
            }
            {
                int ll = s->leftlen;
                if (ll) memcpy(buf, s->left, ll);
                ssize_t r = read(fd, buf + ll, 65536);
                if (r == 0 || (r < 0 && errno != EAGAIN)) { cclose(fd); continue; }
                if (r < 0) continue;
                int tot = ll + (int)r;
                char *nl = memrchr(buf, '\n', tot);
                int outlen = nl ? (int)(nl - buf + 1) : 0;
                for (int i = 0; i < outlen; i++) { char ch = buf[i]; if (ch >= 'a' && ch <= 'z') buf[i] = ch - 32; }
                int rest = tot - outlen;
                if (rest > 65536) { cclose(fd); continue; } /* absurd line */
                if (rest) { s->left = realloc(s->left, rest); memmove(s->left, buf + outlen, rest); }
                s->leftlen = rest;
                if (outlen) {
                    ssize_t w = write(fd, buf, outlen);
                    if (w < 0) { if (errno != EAGAIN) { cclose(fd); continue; } w = 0; }
                    if (w < outlen) {
                        s->pend = realloc(s->pend, outlen - w);
                        memcpy(s->pend, buf + w, outlen - w);
                        s->pendlen = outlen - (int)w; s->pendoff = 0;
                        struct epoll_event e2 = {.events = EPOLLOUT, .data.fd = fd};
                        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e2);
                    }
                }
            }
        next:;
        }
    }
}
