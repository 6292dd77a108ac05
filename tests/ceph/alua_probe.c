/* Two gateways, one LUN: what an ALUA multipath initiator sees and does, with libiscsi.
 * Used by tests/ceph/rbd_gateways.sh.
 *
 *   alua_probe ident URL          "naa=HEX serial=S relport=N tpg=N tpgs=N" from the standard
 *                                 INQUIRY data and VPD pages 80h and 83h
 *   alua_probe rtpg URL           "tpg=N state=AO|AN|U|T status=N ports=N,... fmt=1" from REPORT
 *                                 TARGET PORT GROUPS (extended header) for the group of the path
 *                                 asked, then " | tpg=N state=..." for each other group listed
 *   alua_probe await URL STATE S  logs in, prints "ready", then asks REPORT TARGET PORT GROUPS every
 *                                 100 ms until the state is STATE (AO or AN), at most S seconds;
 *                                 prints "state=STATE ua=2a/06" (or ua=none: the unit attention
 *                                 the session got meanwhile); exit 1 on timeout
 *   alua_probe await-capacity URL BLOCKS S
 *                                 logs in, prints "ready", then asks READ CAPACITY(16) every 100 ms
 *                                 until the LU has BLOCKS blocks, at most S seconds; prints
 *                                 "blocks=N uas=2a/06,2a/09,..." (the unit attentions the
 *                                 session got meanwhile, in order); exit 1 on timeout
 *   alua_probe write URL LBA      one block with FUA
 *   alua_probe write-cached URL LBA  the same without FUA (into the write cache)
 *   alua_probe sync URL           SYNCHRONIZE CACHE, retried while the path is in transition:
 *                                 exit 0 on GOOD, else 1 with "sense=K/AS/CQ" on stderr
 *   alua_probe check URL LBA      reads the block back: exit 0 when it holds what "write" wrote
 *   alua_probe writer URL_A URL_B BLOCKS SECONDS
 *                                 writes blocks 0..BLOCKS-1 over and over with FUA, each with its
 *                                 LBA and a sequence number, through A; when A stops answering
 *                                 (its portal refuses connections) it goes on through B, as
 *                                 multipath would. Stops 3 s after the first write B
 *                                 acknowledged (at most SECONDS in all), reads every block back
 *                                 through B and checks it holds the last acknowledged write.
 *                                 Prints "acked_a=N acked_b=N failover_ms=N ua=... verified=N".
 */
#include <arpa/inet.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BS 512

struct path {
    struct iscsi_context *iscsi;
    struct iscsi_url *url;
    const char *text;
};

static char ua_seen[32] = "none";

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void path_close(struct path *p) {
    if (p->url) iscsi_destroy_url(p->url);
    if (p->iscsi) iscsi_destroy_context(p->iscsi);
    p->url = NULL;
    p->iscsi = NULL;
}

/* Logs in (command timeout 2 s) and uses up the unit attentions of a new session. */
static int path_open(struct path *p, const char *text) {
    p->text = text;
    p->iscsi = iscsi_create_context("iqn.2026-12.org.vstor:alua-probe");
    p->url = iscsi_parse_full_url(p->iscsi, text);
    if (!p->url) return fprintf(stderr, "%s\n", iscsi_get_error(p->iscsi)), path_close(p), -1;
    iscsi_set_session_type(p->iscsi, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(p->iscsi, ISCSI_HEADER_DIGEST_NONE);
    iscsi_set_timeout(p->iscsi, 2);
    /* Connect and log in only: iscsi_full_connect_sync also wants TEST UNIT READY to pass, which
     * an unavailable port (a blocklisted gateway) refuses with NOT READY. */
    iscsi_set_targetname(p->iscsi, p->url->target);
    if (iscsi_connect_sync(p->iscsi, p->url->portal) != 0 || iscsi_login_sync(p->iscsi) != 0)
        return path_close(p), -1;
    for (int i = 0; i < 5; i++) {
        struct scsi_task *t = iscsi_testunitready_sync(p->iscsi, p->url->lun);
        int good = t && t->status == SCSI_STATUS_GOOD;
        if (t) scsi_free_scsi_task(t);
        if (good) return 0;
    }
    return 0;
}

/* Does the portal of URL still accept connections (the gateway process is alive)? */
static int portal_alive(const char *url) {
    char host[64];
    int port = 3260;
    if (sscanf(url, "iscsi://%63[^:/]:%d", host, &port) < 1) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

struct wait_state {
    int done;
    int status;
};

static void on_done(struct iscsi_context *iscsi, int status, void *data, void *priv) {
    (void)iscsi, (void)data;
    struct wait_state *w = priv;
    w->done = 1;
    w->status = status;
}

/* Runs task through p with our own deadline (libiscsi's sync calls can wait forever while it
 * reconnects to a dead target): 0 when it completed (task->status says how), -1 when it did not
 * within timeout_ms, and then the path is closed. */
static int run_task(struct path *p, struct scsi_task *t, struct iscsi_data *out, int timeout_ms) {
    struct wait_state w = {0, 0};
    if (iscsi_scsi_command_async(p->iscsi, p->url->lun, t, on_done, out, &w) != 0) return path_close(p), -1;
    const long long end = now_ms() + timeout_ms;
    while (!w.done && now_ms() < end) {
        struct pollfd pfd = {.fd = iscsi_get_fd(p->iscsi), .events = (short)iscsi_which_events(p->iscsi)};
        if (!pfd.events) {
            usleep(100000);
            continue;
        }
        if (poll(&pfd, 1, 100) < 0) break;
        if (iscsi_service(p->iscsi, pfd.revents) < 0) break;
    }
    if (w.done) return 0;
    path_close(p); /* cancels the task */
    return -1;
}

/* A command's outcome: 0 GOOD, 1 unit attention (noted; retry), -1 anything else. */
static int outcome(struct scsi_task *t) {
    if (!t) return -1;
    int r = -1;
    if (t->status == SCSI_STATUS_GOOD) r = 0;
    else if (t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
        snprintf(ua_seen, sizeof ua_seen, "%02x/%02x", (t->sense.ascq >> 8) & 0xff, t->sense.ascq & 0xff);
        r = 1;
    } else if (t->status == SCSI_STATUS_CHECK_CONDITION) {
        fprintf(stderr, "sense=%x/%02x/%02x\n", t->sense.key, (t->sense.ascq >> 8) & 0xff, t->sense.ascq & 0xff);
    }
    return r;
}

static void pattern(unsigned char *b, uint64_t lba, uint64_t seq) {
    memset(b, (int)((seq * 31 + lba) & 0xff), BS);
    memcpy(b, &lba, 8);
    memcpy(b + 8, &seq, 8);
}

/* READ(16) of block lba, retried on unit attentions: with both gateways active an ALUA state or
 * capacity change may queue a second one behind the new session's first (as write_block_fua). */
static struct scsi_task *read_block(struct path *p, uint64_t lba) {
    struct scsi_task *t = iscsi_read16_sync(p->iscsi, p->url->lun, lba, BS, BS, 0, 0, 0, 0, 0);
    for (int i = 0; i < 5 && t && outcome(t) == 1; i++) {
        scsi_free_scsi_task(t);
        t = iscsi_read16_sync(p->iscsi, p->url->lun, lba, BS, BS, 0, 0, 0, 0, 0);
    }
    return t;
}

/* One FUA write through p, retried on unit attentions: 0 acknowledged, -1 failed (and the path
 * closed when it did not answer within timeout_ms). */
static int write_block_fua(struct path *p, uint64_t lba, unsigned char *b, int timeout_ms, int fua) {
    for (int i = 0; i < 5 && p->iscsi; i++) {
        struct scsi_task *t = scsi_cdb_write16(lba, BS, BS, 0, 0, fua, 0, 0);
        struct iscsi_data out = {.size = BS, .data = b};
        int r = run_task(p, t, &out, timeout_ms) == 0 ? outcome(t) : -1;
        scsi_free_scsi_task(t);
        if (r <= 0) return r;
    }
    return -1;
}
static int write_block(struct path *p, uint64_t lba, unsigned char *b, int timeout_ms) {
    return write_block_fua(p, lba, b, timeout_ms, 1);
}

/* SYNCHRONIZE CACHE(10) of the whole LU, retried on unit attentions and while the path is in
 * ALUA transition (NOT READY 04h/0Ah), for at most 20 s: 0 GOOD, -1 anything else (sense on
 * stderr). */
static int sync_cache(struct path *p) {
    for (const long long end = now_ms() + 20000; p->iscsi && now_ms() < end;) {
        struct scsi_task *t = iscsi_synchronizecache10_sync(p->iscsi, p->url->lun, 0, 0, 0, 0);
        const int transition = t && t->status == SCSI_STATUS_CHECK_CONDITION &&
                               t->sense.key == SCSI_SENSE_NOT_READY && t->sense.ascq == 0x040a;
        const int r = transition ? 1 : outcome(t);
        if (t) scsi_free_scsi_task(t);
        if (r <= 0) return r;
        usleep(100000);
    }
    return -1;
}

/* REPORT TARGET PORT GROUPS, extended header, into d (retried on unit attentions). */
static int rtpg(struct path *p, unsigned char *d, int len) {
    unsigned char cdb[12] = {0xa3, 0x20 | 0x0a, 0, 0, 0, 0, 0, 0, (unsigned char)(len >> 8), (unsigned char)len, 0, 0};
    for (int i = 0; i < 5; i++) {
        struct scsi_task *t = scsi_create_task(12, cdb, SCSI_XFER_READ, len);
        int r = -1;
        if (iscsi_scsi_command_sync(p->iscsi, p->url->lun, t, NULL)) {
            r = outcome(t);
            if (r == 0) memcpy(d, t->datain.data, t->datain.size < len ? t->datain.size : len);
        }
        scsi_free_scsi_task(t);
        if (r <= 0) return r;
    }
    return -1;
}

static const char *state_name(int s) {
    return s == 0 ? "AO" : s == 1 ? "AN" : s == 2 ? "S" : s == 3 ? "U" : s == 15 ? "T" : "other";
}

/* One target port group descriptor at g; returns its length. */
static int print_group(const unsigned char *g) {
    printf("tpg=%d state=%s status=%d ports=", g[2] << 8 | g[3], state_name(g[0] & 0x0f), g[5]);
    for (int i = 0; i < g[7]; i++) printf("%s%d", i ? "," : "", g[8 + 4 * i + 2] << 8 | g[8 + 4 * i + 3]);
    return 8 + 4 * g[7];
}

/* The group of the path asked first, then " fmt=N", then " | " and every other group. */
static int print_rtpg(struct path *p) {
    unsigned char d[1024] = {0};
    if (rtpg(p, d, sizeof d) != 0) return fprintf(stderr, "rtpg failed\n"), 2;
    const int end = 4 + (d[0] << 24 | d[1] << 16 | d[2] << 8 | d[3]);
    int at = 8 + print_group(d + 8);
    printf(" fmt=%d", d[4] >> 4);
    for (; at + 8 <= end && at + 8 <= (int)sizeof d; at += print_group(d + at)) printf(" | ");
    printf("\n");
    return 0;
}

static int print_ident(struct path *p) {
    struct scsi_task *std = iscsi_inquiry_sync(p->iscsi, p->url->lun, 0, 0, 96);
    struct scsi_task *sn = iscsi_inquiry_sync(p->iscsi, p->url->lun, 1, 0x80, 255);
    struct scsi_task *id = iscsi_inquiry_sync(p->iscsi, p->url->lun, 1, 0x83, 255);
    if (outcome(std) || outcome(sn) || outcome(id)) return fprintf(stderr, "inquiry failed\n"), 2;
    const unsigned char *d = id->datain.data;
    printf("naa=");
    int rel = -1, tpg = -1;
    for (int at = 4; at + 4 <= id->datain.size; at += 4 + d[at + 3]) {
        int type = d[at + 1] & 0x0f, assoc = (d[at + 1] >> 4) & 3;
        if (type == 3 && assoc == 0)
            for (int i = 0; i < d[at + 3]; i++) printf("%02x", d[at + 4 + i]);
        if (type == 4 && assoc == 1) rel = d[at + 6] << 8 | d[at + 7];
        if (type == 5 && assoc == 1) tpg = d[at + 6] << 8 | d[at + 7];
    }
    printf(" serial=%.*s relport=%d tpg=%d tpgs=%d\n", sn->datain.data[3], sn->datain.data + 4, rel, tpg,
           (std->datain.data[5] >> 4) & 3);
    scsi_free_scsi_task(std);
    scsi_free_scsi_task(sn);
    scsi_free_scsi_task(id);
    return 0;
}

static int await_state(struct path *p, const char *want, int seconds) {
    printf("ready\n");
    fflush(stdout);
    const long long end = now_ms() + seconds * 1000LL;
    while (now_ms() < end) {
        unsigned char d[256] = {0};
        if (rtpg(p, d, sizeof d) == 0 && strcmp(state_name(d[8] & 0x0f), want) == 0) {
            printf("state=%s ua=%s\n", want, ua_seen);
            return 0;
        }
        usleep(100000);
    }
    printf("timeout ua=%s\n", ua_seen);
    return 1;
}

static char uas_seen[256] = "";

/* READ CAPACITY(16): the LU's block count, or 0 (and a unit attention added to uas_seen) when it
 * failed. */
static uint64_t capacity(struct path *p) {
    struct scsi_task *t = iscsi_readcapacity16_sync(p->iscsi, p->url->lun);
    uint64_t blocks = 0;
    if (t && t->status == SCSI_STATUS_GOOD && t->datain.size >= 12) {
        for (int i = 0; i < 8; i++) blocks = blocks << 8 | t->datain.data[i];
        blocks++;
    } else if (t && t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
        outcome(t);
        if (strlen(uas_seen) + 8 < sizeof uas_seen) strcat(strcat(uas_seen, *uas_seen ? "," : ""), ua_seen);
    }
    if (t) scsi_free_scsi_task(t);
    return blocks;
}

static int await_capacity(struct path *p, uint64_t want, int seconds) {
    printf("ready\n");
    fflush(stdout);
    uint64_t blocks = 0;
    for (const long long end = now_ms() + seconds * 1000LL; now_ms() < end; usleep(100000)) {
        if ((blocks = capacity(p)) == want) {
            printf("blocks=%llu uas=%s\n", (unsigned long long)blocks, uas_seen);
            return 0;
        }
    }
    printf("timeout blocks=%llu uas=%s\n", (unsigned long long)blocks, uas_seen);
    return 1;
}

/* The writer: see the top of the file. */
static int writer(const char *url_a, const char *url_b, uint64_t blocks, int seconds) {
    struct path p = {0};
    const char *urls[2] = {url_a, url_b};
    int on = 0;
    if (path_open(&p, url_a) != 0) return fprintf(stderr, "cannot log in to A\n"), 2;
    uint64_t *acked = calloc(blocks, sizeof *acked), seq = 0, count[2] = {0, 0};
    unsigned char b[BS];
    long long start = now_ms(), last_ack = start, first_b = 0, gap = 0;
    while (now_ms() - start < seconds * 1000LL && !(first_b && now_ms() - first_b > 3000)) {
        const uint64_t lba = seq % blocks;
        pattern(b, lba, ++seq);
        /* 2 s without an answer through A means A may be gone; B is the last path: wait there. */
        while (write_block(&p, lba, b, on ? 30000 : 2000) != 0) {
            if (now_ms() - last_ack > 60000) return fprintf(stderr, "no write for 60 s\n"), 1;
            if (!on && !portal_alive(urls[0])) on = 1, path_close(&p); /* A is gone: B, as multipath would */
            while (!p.iscsi && path_open(&p, urls[on]) != 0) usleep(100000);
        }
        if (on && !first_b) first_b = now_ms(), gap = first_b - last_ack;
        last_ack = now_ms();
        acked[lba] = seq;
        count[on]++;
    }
    uint64_t verified = 0, bad = 0;
    for (uint64_t lba = 0; lba < blocks; lba++) {
        if (!acked[lba]) continue;
        struct scsi_task *t = read_block(&p, lba);
        pattern(b, lba, acked[lba]);
        if (!t || t->status != SCSI_STATUS_GOOD || t->datain.size != BS || memcmp(t->datain.data, b, BS)) {
            if (bad++ < 5) fprintf(stderr, "block %llu does not hold write %llu\n", (unsigned long long)lba,
                                   (unsigned long long)acked[lba]);
        } else {
            verified++;
        }
        if (t) scsi_free_scsi_task(t);
    }
    printf("acked_a=%llu acked_b=%llu failover_ms=%lld ua=%s verified=%llu bad=%llu\n", (unsigned long long)count[0],
           (unsigned long long)count[1], first_b ? gap : -1, ua_seen, (unsigned long long)verified,
           (unsigned long long)bad);
    path_close(&p);
    free(acked);
    return bad || !first_b ? 1 : 0;
}

/* Reads block lba and compares it with what "write" puts there: 0 the same, 1 not. */
static int check_block(struct path *p, uint64_t lba) {
    unsigned char b[BS];
    pattern(b, lba, 1);
    struct scsi_task *t = read_block(p, lba);
    const int same = t && t->status == SCSI_STATUS_GOOD && t->datain.size == BS && memcmp(t->datain.data, b, BS) == 0;
    if (!same)
        fprintf(stderr, "block %llu does not hold what write put there (status %d, sense %x/%02x/%02x)\n",
                (unsigned long long)lba, t ? t->status : -1, t ? t->sense.key : 0, t ? (t->sense.ascq >> 8) & 0xff : 0,
                t ? t->sense.ascq & 0xff : 0);
    if (t) scsi_free_scsi_task(t);
    return same ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 3) return fprintf(stderr, "usage: see the top of alua_probe.c\n"), 2;
    if (strcmp(argv[1], "writer") == 0 && argc == 6)
        return writer(argv[2], argv[3], strtoull(argv[4], NULL, 0), atoi(argv[5]));
    struct path p = {0};
    if (path_open(&p, argv[2]) != 0) return fprintf(stderr, "cannot log in to %s\n", argv[2]), 2;
    strcpy(ua_seen, "none");
    int rc = 2;
    if (strcmp(argv[1], "ident") == 0) rc = print_ident(&p);
    else if (strcmp(argv[1], "rtpg") == 0) rc = print_rtpg(&p);
    else if (strcmp(argv[1], "await") == 0 && argc == 5) rc = await_state(&p, argv[3], atoi(argv[4]));
    else if (strcmp(argv[1], "await-capacity") == 0 && argc == 5)
        rc = await_capacity(&p, strtoull(argv[3], NULL, 0), atoi(argv[4]));
    else if (strcmp(argv[1], "write") == 0 && argc == 4) {
        unsigned char b[BS];
        pattern(b, strtoull(argv[3], NULL, 0), 1);
        rc = write_block(&p, strtoull(argv[3], NULL, 0), b, 30000) == 0 ? 0 : 1;
    } else if (strcmp(argv[1], "write-cached") == 0 && argc == 4) {
        unsigned char b[BS];
        pattern(b, strtoull(argv[3], NULL, 0), 1);
        rc = write_block_fua(&p, strtoull(argv[3], NULL, 0), b, 30000, 0) == 0 ? 0 : 1;
    } else if (strcmp(argv[1], "sync") == 0) {
        rc = sync_cache(&p) == 0 ? 0 : 1;
    } else if (strcmp(argv[1], "check") == 0 && argc == 4) {
        rc = check_block(&p, strtoull(argv[3], NULL, 0));
    }
    path_close(&p);
    return rc;
}
