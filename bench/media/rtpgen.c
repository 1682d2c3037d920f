/*
 * rtpgen - RTP streams with recorded payloads (real G.711 / Opus audio), for
 * bench/media/transcode.sh.  The shared bench's `udpbench sgen` sends a fixed
 * filler payload; a transcoding relay must decode what it gets, so this
 * generator replays payloads prepared by payloads.py instead.  Same timing
 * model as sgen: a 1 ms timerfd, stream i sends in slot i % 20, one packet
 * per stream every 20 ms, one socket per stream, level-triggered epoll with
 * one recv per readiness event.
 *
 *   rtpgen MAPFILE SECONDS [CAPDIR]
 *
 * MAPFILE lines: "LOCAL REMOTE PT TICKS PAYLOADFILE", one stream per line
 * (127.0.0.1 ports).  Lines 2i and 2i+1 are the two ends of call i (A and B):
 * what A sends arrives (relayed, maybe transcoded) on B's socket and the
 * other way round.  TICKS = RTP timestamp step per 20 ms packet (160 for
 * G.711, 960 for Opus).  PAYLOADFILE: packets as [u16 little-endian length]
 * [bytes], replayed in a loop.
 *
 * Loss per direction = 1 - received / sent.  One-way latency without a
 * timestamp in the payload (a transcoder rewrites it): a received packet's
 * RTP timestamp, relative to the first one received on that socket, gives
 * its index k in the stream (TICKS of the receiving socket's own codec; a
 * transcoding relay keeps its output timestamps in step, concealing losses),
 * and the latency is now - send time of the partner's packet k.  This
 * assumes the first packet sent arrives first (true without loss at the
 * start); a transcoder that holds back output would show as +20 ms.
 *
 * CAPDIR: the first CAP payloads received on streams 0 and 1 (call 0) are
 * written to CAPDIR/cap0.bin and cap1.bin (same format as a payload file),
 * so the audio that came through can be checked (payloads.py check).
 *
 * Output: one "key=value ..." line on stdout.  Stops by itself after
 * SECONDS + 0.5 s of drain.  Build: cc -O2 -o rtpgen rtpgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PKTMAX 2048
#define RING 1024 /* send times kept per stream: 20 s of 20 ms packets */
#define CAP 150
#define LS 200000 /* latency reservoir per direction */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}
static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}
static void die(const char *m) { perror(m); exit(1); }

struct payloads { char path[300]; int n; uint16_t *len; unsigned char **data; };
static struct payloads files[16];
static int nfiles;

static struct payloads *load(const char *path) {
  for (int i = 0; i < nfiles; i++)
    if (!strcmp(files[i].path, path)) return &files[i];
  if (nfiles == 16) { fprintf(stderr, "too many payload files\n"); exit(1); }
  FILE *f = fopen(path, "rb");
  if (!f) die(path);
  struct payloads *p = &files[nfiles++];
  snprintf(p->path, sizeof p->path, "%s", path);
  int cap = 64;
  p->len = malloc(sizeof *p->len * cap);
  p->data = malloc(sizeof *p->data * cap);
  unsigned char h[2];
  while (fread(h, 1, 2, f) == 2) {
    uint16_t n = h[0] | h[1] << 8;
    if (n == 0 || n > PKTMAX - 12) { fprintf(stderr, "%s: bad length %u\n", path, n); exit(1); }
    if (p->n == cap) {
      cap *= 2;
      p->len = realloc(p->len, sizeof *p->len * cap);
      p->data = realloc(p->data, sizeof *p->data * cap);
    }
    p->data[p->n] = malloc(n);
    if (fread(p->data[p->n], 1, n, f) != n) { fprintf(stderr, "%s: truncated\n", path); exit(1); }
    p->len[p->n++] = n;
  }
  fclose(f);
  if (!p->n) { fprintf(stderr, "%s: no packets\n", path); exit(1); }
  return p;
}

struct stream {
  int fd;
  struct sockaddr_in dst;
  int pt;
  uint32_t ticks, ssrc, ts;
  uint16_t seq;
  struct payloads *pl;
  uint64_t idx, sent, recvd; /* idx: packets due so far (sent or failed) */
  uint64_t *sendt; /* ring of send times, index = packet number % RING */
  int have_first;
  uint32_t ts_first;
  FILE *cap;
  int ncap;
};

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

struct lat { uint32_t *v; uint64_t n; };
static void lat_add(struct lat *l, uint32_t us) {
  if (l->n < LS) l->v[l->n] = us;
  else { uint64_t j = (uint64_t)rand() % (l->n + 1); if (j < LS) l->v[j] = us; }
  l->n++;
}
static void lat_pct(struct lat *l, uint32_t *p50, uint32_t *p99, uint32_t *max) {
  uint64_t ns = l->n < LS ? l->n : LS;
  qsort(l->v, ns, sizeof *l->v, cmp_u32);
  *p50 = ns ? l->v[ns / 2] : 0;
  *p99 = ns ? l->v[ns * 99 / 100] : 0;
  *max = ns ? l->v[ns - 1] : 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: rtpgen MAPFILE SECONDS [CAPDIR]\n");
    return 2;
  }
  double secs = atof(argv[2]);
  const char *capdir = argc > 3 ? argv[3] : NULL;
  FILE *f = fopen(argv[1], "r");
  if (!f) die("map");
  int cap = 1024, n = 0;
  struct stream *st = calloc(cap, sizeof *st);
  char line[512], path[300];
  int l, r, pt;
  unsigned ticks;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "%d %d %d %u %299s", &l, &r, &pt, &ticks, path) != 5) continue;
    if (n == cap) { cap *= 2; st = realloc(st, sizeof *st * cap); memset(st + n, 0, sizeof *st * (cap - n)); }
    struct stream *s = &st[n];
    s->fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (s->fd < 0) die("socket");
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(l)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s->fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
    s->dst = a; s->dst.sin_port = htons(r);
    s->pt = pt; s->ticks = ticks ? ticks : 160;
    s->ssrc = 0x20000 + n; s->seq = (uint16_t)(n * 7919); s->ts = (uint32_t)n * 104729u;
    s->pl = load(path);
    s->sendt = calloc(RING, sizeof *s->sendt);
    if (capdir && n < 2) {
      char cp[400];
      snprintf(cp, sizeof cp, "%s/cap%d.bin", capdir, n);
      s->cap = fopen(cp, "wb");
    }
    n++;
  }
  fclose(f);
  if (n < 2 || n % 2) { fprintf(stderr, "map: need pairs of streams\n"); return 2; }
  int ep = epoll_create1(0);
  for (int i = 0; i < n; i++) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, st[i].fd, &ev);
  }
  struct lat lat[2] = {{malloc(sizeof(uint32_t) * LS), 0}, {malloc(sizeof(uint32_t) * LS), 0}};
  uint64_t late_slots = 0, sendfail = 0, unmatched = 0, shortpk = 0;
  unsigned char pkt[PKTMAX], rbuf[PKTMAX];
  const int SLOTS = 20;
  int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
  struct itimerspec its = {{0, 1000000}, {0, 1000000}};
  timerfd_settime(tfd, 0, &its, NULL);
  struct epoll_event tev = {.events = EPOLLIN, .data.u32 = 0xffffffffu};
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);
  uint64_t t0 = now_ns();
  uint64_t tend = t0 + (uint64_t)(secs * 1e9), tdrain = tend + 500000000ull;
  double c0 = cpu_s();
  struct epoll_event evs[1024];
  uint64_t slot = 0;
  int sending = 1;
  for (;;) {
    uint64_t t = now_ns();
    if (t >= tdrain) break;
    if (sending && t >= tend) {
      sending = 0;
      struct itimerspec d = {{0, 50000000}, {0, 50000000}};
      timerfd_settime(tfd, 0, &d, NULL);
    }
    int k = epoll_wait(ep, evs, 1024, 100);
    for (int e = 0; e < k; e++) {
      if (evs[e].data.u32 == 0xffffffffu) {
        uint64_t exp = 0;
        if (read(tfd, &exp, sizeof exp) != sizeof exp || !sending) continue;
        if (exp > 1) late_slots += exp - 1;
        for (uint64_t x = 0; x < exp; x++, slot++) {
          for (int i = slot % SLOTS; i < n; i += SLOTS) {
            struct stream *s = &st[i];
            int j = s->idx % s->pl->n, len = s->pl->len[j];
            pkt[0] = 0x80; pkt[1] = (unsigned char)s->pt;
            uint16_t sq = htons(s->seq++); memcpy(pkt + 2, &sq, 2);
            uint32_t ts = htonl(s->ts); s->ts += s->ticks; memcpy(pkt + 4, &ts, 4);
            uint32_t ss = htonl(s->ssrc); memcpy(pkt + 8, &ss, 4);
            memcpy(pkt + 12, s->pl->data[j], len);
            s->sendt[s->idx % RING] = now_ns();
            if (sendto(s->fd, pkt, 12 + len, 0, (struct sockaddr *)&s->dst, sizeof s->dst) == 12 + len)
              s->sent++;
            else { sendfail++; s->sendt[s->idx % RING] = 0; }
            s->idx++;
          }
        }
        continue;
      }
      int i = evs[e].data.u32;
      struct stream *s = &st[i], *from = &st[i ^ 1];
      ssize_t m = recv(s->fd, rbuf, sizeof rbuf, 0);
      if (m < 0) continue;
      uint64_t tr = now_ns();
      s->recvd++;
      if (m < 12) { shortpk++; continue; }
      uint32_t ts; memcpy(&ts, rbuf + 4, 4); ts = ntohl(ts);
      if (!s->have_first) { s->have_first = 1; s->ts_first = ts; }
      uint64_t idx = (uint32_t)(ts - s->ts_first) / s->ticks;
      if (idx < from->idx && idx + RING > from->idx && from->sendt[idx % RING] && from->sendt[idx % RING] <= tr)
        lat_add(&lat[i & 1], (uint32_t)((tr - from->sendt[idx % RING]) / 1000));
      else unmatched++;
      if (s->cap && s->ncap < CAP) {
        unsigned char h[2] = {(unsigned char)((m - 12) & 0xff), (unsigned char)((m - 12) >> 8)};
        fwrite(h, 1, 2, s->cap); fwrite(rbuf + 12, 1, m - 12, s->cap);
        if (++s->ncap == CAP) { fclose(s->cap); s->cap = NULL; }
      }
    }
  }
  for (int i = 0; i < 2; i++) if (st[i].cap) fclose(st[i].cap);
  double c = cpu_s() - c0;
  /* direction ab: sent by even (A) streams, received on odd (B) ones */
  uint64_t sent[2] = {0, 0}, recvd[2] = {0, 0};
  for (int i = 0; i < n; i++) { sent[i & 1] += st[i].sent; recvd[i & 1] += st[i].recvd; }
  uint64_t s_ab = sent[0], r_ab = recvd[1], s_ba = sent[1], r_ba = recvd[0];
  uint32_t p50[2], p99[2], mx[2];
  for (int d = 0; d < 2; d++) lat_pct(&lat[d], &p50[d], &p99[d], &mx[d]);
  double loss = s_ab + s_ba ? 100.0 * (double)((s_ab + s_ba) - (r_ab + r_ba)) / (s_ab + s_ba) : 0;
  printf("mode=rtpgen streams=%d secs=%.1f sent=%llu received=%llu loss_pct=%.3f "
         "sent_ab=%llu recv_ab=%llu loss_ab_pct=%.3f sent_ba=%llu recv_ba=%llu loss_ba_pct=%.3f "
         "lat_ab_p50_us=%u lat_ab_p99_us=%u lat_ab_max_us=%u lat_ba_p50_us=%u lat_ba_p99_us=%u "
         "lat_ba_max_us=%u lat_samples=%llu lat_unmatched=%llu short=%llu late_slots=%llu "
         "send_fail=%llu gen_cpu_pct=%.1f\n",
         n, secs, (unsigned long long)(s_ab + s_ba), (unsigned long long)(r_ab + r_ba), loss,
         (unsigned long long)s_ab, (unsigned long long)r_ab,
         s_ab ? 100.0 * ((double)s_ab - (double)r_ab) / s_ab : 0, (unsigned long long)s_ba,
         (unsigned long long)r_ba, s_ba ? 100.0 * ((double)s_ba - (double)r_ba) / s_ba : 0,
         p50[1], p99[1], mx[1], p50[0], p99[0], mx[0],
         (unsigned long long)(lat[0].n + lat[1].n), (unsigned long long)unmatched,
         (unsigned long long)shortpk, (unsigned long long)late_slots, (unsigned long long)sendfail,
         100 * c / (secs + 0.5));
  return 0;
}
