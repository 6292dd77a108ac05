/* Persistent reservations shared by two gateways (docs/ceph.md), seen by two initiators with
 * libiscsi: host A logged in to gateway A, host B to gateway B. Used by tests/ceph/rbd_pr.sh.
 *
 *   pr_probe URL_A URL_B
 *
 * Each step prints one line; the first result that is not what SPC-5 says ends it with exit 1:
 *   both register (keys A and B); B reserves EXCLUSIVE ACCESS; A's WRITE gets RESERVATION
 *   CONFLICT; READ FULL STATUS through A names both registrations, each with the relative target
 *   port of its own gateway; A preempts B: B's next command gets UNIT ATTENTION 2A/05
 *   (REGISTRATIONS PREEMPTED), the one after RESERVATION CONFLICT; B registers again, A releases
 *   and reserves WRITE EXCLUSIVE, REGISTRANTS ONLY (B, registered, may write), A releases: B gets
 *   2A/04 (RESERVATIONS RELEASED); A reserves WRITE EXCLUSIVE: B's write conflicts; A clears: B
 *   gets 2A/03 (RESERVATIONS PREEMPTED), then writes, and READ KEYS through B is empty.
 */
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BS 512
#define KEY_A 0xa11ceULL
#define KEY_B 0xb0bULL

struct host {
    const char *name;
    struct iscsi_context *iscsi;
    struct iscsi_url *url;
};

static int failures;

static int login(struct host *h, const char *initiator, const char *text) {
    h->iscsi = iscsi_create_context(initiator);
    h->url = iscsi_parse_full_url(h->iscsi, text);
    if (!h->url) return fprintf(stderr, "%s\n", iscsi_get_error(h->iscsi)), -1;
    iscsi_set_session_type(h->iscsi, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(h->iscsi, ISCSI_HEADER_DIGEST_NONE);
    iscsi_set_timeout(h->iscsi, 10);
    if (iscsi_full_connect_sync(h->iscsi, h->url->portal, h->url->lun) != 0)
        return fprintf(stderr, "login %s: %s\n", text, iscsi_get_error(h->iscsi)), -1;
    for (int i = 0; i < 5; i++) { /* the new session's unit attentions */
        struct scsi_task *t = iscsi_testunitready_sync(h->iscsi, h->url->lun);
        int good = t && t->status == SCSI_STATUS_GOOD;
        if (t) scsi_free_scsi_task(t);
        if (good) break;
    }
    return 0;
}

/* "good", "conflict", "ua=2a/05" or "check=K/ASC/ASCQ" for a finished task (freed). */
static const char *outcome(struct scsi_task *t) {
    static char buf[32];
    if (!t) return "no-answer";
    if (t->status == SCSI_STATUS_GOOD) snprintf(buf, sizeof buf, "good");
    else if (t->status == SCSI_STATUS_RESERVATION_CONFLICT) snprintf(buf, sizeof buf, "conflict");
    else if (t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION)
        snprintf(buf, sizeof buf, "ua=%02x/%02x", (t->sense.ascq >> 8) & 0xff, t->sense.ascq & 0xff);
    else if (t->status == SCSI_STATUS_CHECK_CONDITION)
        snprintf(buf, sizeof buf, "check=%x/%02x/%02x", t->sense.key, (t->sense.ascq >> 8) & 0xff, t->sense.ascq & 0xff);
    else snprintf(buf, sizeof buf, "status=%02x", t->status);
    scsi_free_scsi_task(t);
    return buf;
}

static void expect(const char *step, const char *got, const char *want) {
    printf("%-44s %s\n", step, got);
    if (strcmp(got, want) != 0) {
        printf("FAIL: %s: got %s, want %s\n", step, got, want);
        failures++;
    }
}

static struct scsi_task *prout(struct host *h, int sa, int type, uint64_t key, uint64_t sa_key) {
    struct scsi_persistent_reserve_out_basic p = {0};
    p.reservation_key = key;
    p.service_action_reservation_key = sa_key;
    return iscsi_persistent_reserve_out_sync(h->iscsi, h->url->lun, sa, 0, type, &p);
}

static struct scsi_task *write1(struct host *h) {
    unsigned char block[BS];
    memset(block, 0x5a, sizeof block);
    return iscsi_write10_sync(h->iscsi, h->url->lun, 0, block, BS, BS, 0, 0, 0, 0, 0);
}

/* READ FULL STATUS: "KEY@RELPORT" for each registration, "-" for none. */
static const char *full_status(struct host *h) {
    static char out[256];
    struct scsi_task *t = iscsi_persistent_reserve_in_sync(h->iscsi, h->url->lun, 3, 1024);
    snprintf(out, sizeof out, "-");
    if (!t || t->status != SCSI_STATUS_GOOD || t->datain.size < 8) return t ? (void)scsi_free_scsi_task(t), out : out;
    const unsigned char *d = t->datain.data;
    size_t len = 8 + ((size_t)d[4] << 24 | (size_t)d[5] << 16 | (size_t)d[6] << 8 | d[7]);
    if (len > (size_t)t->datain.size) len = (size_t)t->datain.size;
    size_t at = 8, used = 0;
    out[0] = '\0';
    while (at + 24 <= len) {
        uint64_t key = 0;
        for (int i = 0; i < 8; i++) key = key << 8 | d[at + i];
        const unsigned relport = (unsigned)d[at + 18] << 8 | d[at + 19];
        const size_t tid = (size_t)d[at + 20] << 24 | (size_t)d[at + 21] << 16 | (size_t)d[at + 22] << 8 | d[at + 23];
        used += (size_t)snprintf(out + used, sizeof out - used, "%s%llx@%u%s", used ? " " : "",
                                 (unsigned long long)key, relport, (d[at + 12] & 1) ? "*" : "");
        if (used >= sizeof out) break;
        at += 24 + tid;
    }
    scsi_free_scsi_task(t);
    return out;
}

static char *copy(const char *s) { return strdup(s); }

int main(int argc, char **argv) {
    if (argc != 3) return fprintf(stderr, "usage: pr_probe URL_A URL_B\n"), 2;
    struct host a = {"A", NULL, NULL}, b = {"B", NULL, NULL};
    if (login(&a, "iqn.2026-12.org.vstor:pr-host-a", argv[1]) || login(&b, "iqn.2026-12.org.vstor:pr-host-b", argv[2]))
        return 1;
    const int WE = SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE, EA = SCSI_PERSISTENT_RESERVE_TYPE_EXCLUSIVE_ACCESS;
    const int WERO = SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY;
    /* Leftovers of an earlier run: A registers (ignoring any key) and clears. */
    outcome(prout(&a, SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY, 0, 0, KEY_A));
    outcome(prout(&a, SCSI_PERSISTENT_RESERVE_CLEAR, 0, KEY_A, 0));
    outcome(write1(&b)); /* B's 2A/03 from that clear, if any */
    expect("A registers", outcome(prout(&a, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, KEY_A)), "good");
    expect("B registers", outcome(prout(&b, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, KEY_B)), "good");
    expect("B reserves EXCLUSIVE ACCESS", outcome(prout(&b, SCSI_PERSISTENT_RESERVE_RESERVE, EA, KEY_B, 0)), "good");
    expect("A writes", outcome(write1(&a)), "conflict");
    char *fs = copy(full_status(&a));
    expect("A: READ FULL STATUS", fs, "a11ce@1 b0b@2*");
    free(fs);
    expect("A preempts B", outcome(prout(&a, SCSI_PERSISTENT_RESERVE_PREEMPT, EA, KEY_A, KEY_B)), "good");
    expect("B writes", outcome(write1(&b)), "ua=2a/05");
    expect("B writes again", outcome(write1(&b)), "conflict");
    expect("A writes", outcome(write1(&a)), "good");
    expect("B registers again", outcome(prout(&b, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, KEY_B)), "good");
    expect("A releases", outcome(prout(&a, SCSI_PERSISTENT_RESERVE_RELEASE, EA, KEY_A, 0)), "good");
    expect("A reserves WRITE EXCLUSIVE, REGISTRANTS ONLY", outcome(prout(&a, SCSI_PERSISTENT_RESERVE_RESERVE, WERO, KEY_A, 0)),
           "good");
    expect("B (registered) writes", outcome(write1(&b)), "good");
    expect("A releases", outcome(prout(&a, SCSI_PERSISTENT_RESERVE_RELEASE, WERO, KEY_A, 0)), "good");
    expect("B writes", outcome(write1(&b)), "ua=2a/04");
    expect("A reserves WRITE EXCLUSIVE", outcome(prout(&a, SCSI_PERSISTENT_RESERVE_RESERVE, WE, KEY_A, 0)), "good");
    expect("B writes", outcome(write1(&b)), "conflict");
    expect("A clears", outcome(prout(&a, SCSI_PERSISTENT_RESERVE_CLEAR, 0, KEY_A, 0)), "good");
    expect("B writes", outcome(write1(&b)), "ua=2a/03");
    expect("B writes again", outcome(write1(&b)), "good");
    fs = copy(full_status(&b));
    expect("B: READ FULL STATUS", fs, "");
    free(fs);
    iscsi_logout_sync(a.iscsi);
    iscsi_logout_sync(b.iscsi);
    iscsi_destroy_url(a.url), iscsi_destroy_context(a.iscsi);
    iscsi_destroy_url(b.url), iscsi_destroy_context(b.iscsi);
    printf("%s\n", failures ? "FAIL pr_probe" : "PASS pr_probe");
    return failures ? 1 : 0;
}
