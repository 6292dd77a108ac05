/* What libiscsi's own tools cannot show: the sense data's INFORMATION field and a unit attention
 * on a session that stays logged in. Used by tests/ceph/rbd_clients.sh.
 *
 *   sense_probe URL miscompare LBA   COMPARE AND WRITE of one block at LBA whose verify data
 *                                    differs from the medium at byte 300 only: prints the sense
 *                                    key, ASC/ASCQ and INFORMATION ("E 1d/00 info=300").
 *   sense_probe URL ua               logs in, clears the power-on unit attention, prints "ready",
 *                                    waits for a line on stdin, then prints what the next TEST
 *                                    UNIT READY gets ("6 2a/09" for CAPACITY DATA HAS CHANGED).
 */
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sense bytes follow the 2-byte SenseLength of the SCSI Response's data segment. */
static void print_sense(struct scsi_task *t) {
    const unsigned char *s = t->datain.size > 2 ? t->datain.data + 2 : NULL;
    uint64_t info = 0;
    int have_info = 0;
    if (s && (s[0] & 0x7f) >= 0x72) { /* descriptor format: look for the information descriptor */
        for (int at = 8; at + 12 <= 8 + s[7] && at + 12 <= t->datain.size - 2; at += 2 + s[at + 1]) {
            if (s[at] == 0) {
                for (int i = 0; i < 8; i++) info = info << 8 | s[at + 4 + i];
                have_info = 1;
            }
        }
    } else if (s && (s[0] & 0x80)) { /* fixed format, VALID */
        for (int i = 0; i < 4; i++) info = info << 8 | s[3 + i];
        have_info = 1;
    }
    printf("%X %02x/%02x", t->sense.key, (t->sense.ascq >> 8) & 0xff, t->sense.ascq & 0xff);
    if (have_info) printf(" info=%llu", (unsigned long long)info);
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc < 3) return fprintf(stderr, "usage: sense_probe URL miscompare LBA | URL ua\n"), 2;
    struct iscsi_context *iscsi = iscsi_create_context("iqn.2026-12.org.vstor:sense-probe");
    struct iscsi_url *url = iscsi_parse_full_url(iscsi, argv[1]);
    if (!url) return fprintf(stderr, "%s\n", iscsi_get_error(iscsi)), 2;
    iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE);
    if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0)
        return fprintf(stderr, "login: %s\n", iscsi_get_error(iscsi)), 2;
    struct scsi_task *t;
    for (int i = 0; i < 5; i++) { /* the power-on/reset unit attention */
        t = iscsi_testunitready_sync(iscsi, url->lun);
        int good = t && t->status == SCSI_STATUS_GOOD;
        if (t) scsi_free_scsi_task(t);
        if (good) break;
    }
    if (strcmp(argv[2], "ua") == 0) {
        printf("ready\n");
        fflush(stdout);
        char line[16];
        if (!fgets(line, sizeof line, stdin)) return 2;
        t = iscsi_testunitready_sync(iscsi, url->lun);
    } else if (strcmp(argv[2], "miscompare") == 0 && argc == 4) {
        const uint64_t lba = strtoull(argv[3], NULL, 0);
        unsigned char block[512], buf[1024];
        memset(block, 0x5a, sizeof block);
        t = iscsi_write10_sync(iscsi, url->lun, (uint32_t)lba, block, sizeof block, 512, 0, 0, 0, 0, 0);
        if (!t || t->status != SCSI_STATUS_GOOD) return fprintf(stderr, "write failed\n"), 2;
        scsi_free_scsi_task(t);
        memcpy(buf, block, 512);
        buf[300] ^= 0xff;
        memset(buf + 512, 0xa5, 512);
        t = iscsi_compareandwrite_sync(iscsi, url->lun, lba, buf, sizeof buf, 512, 0, 0, 0, 0, 0);
    } else {
        return fprintf(stderr, "unknown probe %s\n", argv[2]), 2;
    }
    if (!t) return fprintf(stderr, "%s\n", iscsi_get_error(iscsi)), 2;
    if (t->status == SCSI_STATUS_GOOD) printf("GOOD\n");
    else print_sense(t);
    scsi_free_scsi_task(t);
    iscsi_logout_sync(iscsi);
    iscsi_destroy_url(url);
    iscsi_destroy_context(iscsi);
    return 0;
}
