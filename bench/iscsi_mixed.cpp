// vstor-bench-iscsi: a libiscsi client for the scenarios iscsi-perf cannot drive — random reads
// and writes mixed at a given ratio — keeping QD commands in flight for a fixed time.
//   vstor-bench-iscsi URL BLOCK_BYTES QUEUE_DEPTH READ_PERCENT SECONDS  ->  "IOPS MB/s"
// READ_PERCENT "idle" logs in and holds the session for SECONDS without I/O (memory per session).
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <poll.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace {

struct Bench {
    iscsi_context* ctx = nullptr;
    int lun = 0;
    std::uint32_t block = 512;
    std::uint64_t blocks = 0;
    std::uint32_t io_bytes = 0;
    int read_percent = 100;
    std::mt19937_64 rng{12345};
    std::vector<unsigned char> wbuf;
    std::uint64_t done = 0, errors = 0;
    bool stop = false;
    int in_flight = 0;

    void issue();
};

void on_done(iscsi_context*, int status, void* command_data, void* private_data) {
    auto* b = static_cast<Bench*>(private_data);
    --b->in_flight;
    if (status != SCSI_STATUS_GOOD) ++b->errors;
    ++b->done;
    scsi_free_scsi_task(static_cast<scsi_task*>(command_data));
    if (!b->stop) b->issue();
}

void Bench::issue() {
    const std::uint64_t per_io = io_bytes / block;
    const std::uint64_t lba = (rng() % (blocks / per_io)) * per_io;
    const bool read = static_cast<int>(rng() % 100) < read_percent;
    scsi_task* t = read ? iscsi_read16_task(ctx, lun, lba, io_bytes, static_cast<int>(block), 0, 0, 0, 0, 0, on_done, this)
                        : iscsi_write16_task(ctx, lun, lba, wbuf.data(), io_bytes, static_cast<int>(block), 0, 0, 0, 0, 0,
                                             on_done, this);
    if (t) ++in_flight;
    else ++errors;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s URL BLOCK_BYTES QUEUE_DEPTH READ_PERCENT SECONDS\n", argv[0]);
        return 2;
    }
    Bench b;
    b.io_bytes = static_cast<std::uint32_t>(std::strtoul(argv[2], nullptr, 10));
    const int qd = std::atoi(argv[3]);
    const bool idle = std::string(argv[4]) == "idle";
    b.read_percent = idle ? 100 : std::atoi(argv[4]);
    const double seconds = std::atof(argv[5]);
    b.ctx = iscsi_create_context("iqn.2026-12.org.vstor:bench-client");
    iscsi_url* url = iscsi_parse_full_url(b.ctx, argv[1]);
    if (!url) {
        std::fprintf(stderr, "bad URL %s: %s\n", argv[1], iscsi_get_error(b.ctx));
        return 1;
    }
    iscsi_set_targetname(b.ctx, url->target);
    iscsi_set_session_type(b.ctx, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(b.ctx, ISCSI_HEADER_DIGEST_NONE);
    b.lun = url->lun;
    if (iscsi_full_connect_sync(b.ctx, url->portal, url->lun) != 0) {
        std::fprintf(stderr, "login failed: %s\n", iscsi_get_error(b.ctx));
        return 1;
    }
    scsi_task* rc = iscsi_readcapacity16_sync(b.ctx, b.lun);
    auto* cap = rc ? static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(rc)) : nullptr;
    if (!cap) {
        std::fprintf(stderr, "READ CAPACITY(16) failed\n");
        return 1;
    }
    b.block = cap->block_length;
    b.blocks = cap->returned_lba + 1;
    scsi_free_scsi_task(rc);
    if (b.io_bytes == 0 || b.io_bytes % b.block || b.blocks < b.io_bytes / b.block) {
        std::fprintf(stderr, "block size %u does not fit the LUN's %u-byte blocks\n", b.io_bytes, b.block);
        return 2;
    }
    b.wbuf.assign(b.io_bytes, 0xa5);
    if (idle) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (std::chrono::steady_clock::now() < until) {  // answer NOP-Ins while holding the session
            pollfd pfd{iscsi_get_fd(b.ctx), static_cast<short>(iscsi_which_events(b.ctx)), 0};
            if (poll(&pfd, 1, 200) > 0 && iscsi_service(b.ctx, pfd.revents) < 0) return 1;
        }
        std::printf("0 0\n");
        return 0;
    }
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < qd; ++i) b.issue();
    while (b.in_flight > 0) {
        pollfd pfd{iscsi_get_fd(b.ctx), static_cast<short>(iscsi_which_events(b.ctx)), 0};
        if (poll(&pfd, 1, 1000) < 0) break;
        if (iscsi_service(b.ctx, pfd.revents) < 0) {
            std::fprintf(stderr, "iscsi_service: %s\n", iscsi_get_error(b.ctx));
            return 1;
        }
        if (!b.stop && std::chrono::steady_clock::now() - start >= std::chrono::duration<double>(seconds)) b.stop = true;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%.0f %.0f\n", static_cast<double>(b.done) / secs, static_cast<double>(b.done) * b.io_bytes / secs / 1e6);
    iscsi_logout_sync(b.ctx);
    iscsi_destroy_url(url);
    iscsi_destroy_context(b.ctx);
    return b.errors ? 1 : 0;
}
