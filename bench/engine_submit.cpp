// The engine's own CPU per command, without a network or a front end: one thread submits 4 KiB
// READ(10) or WRITE(10) commands to a mem LUN through Adapter::submit, each completing inside
// the call (as a mem LUN's do on a front end's loop), and reports the thread's CPU time per
// command. Used to compare builds of the engine's hot path (docs/performance.md):
//
//     vstor-bench-engine read|write [commands per pass, default 1000000] [passes, default 5]
//                        [MiB addressed, default 4] [queue depth, default 0]
//
// Queue depth 0: a mem LUN, every command completes inside its submit (one task in the LU's task
// set at a time). Depth D: a backend that only queues, D commands submitted, then their
// completions run in a shuffled order: the task set holds D tasks, as with a file or RBD LUN.
//
// The commands address a few MiB of a 256 MiB LUN at random, so that the data stays in the
// caches and the engine's own cost is not hidden behind misses in the copy.
// Prints one line: "<op> ns/cmd median <m> min <n> passes <list>".
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "vstor/adapter.hpp"

using namespace vstor;

namespace {

// Completes nothing by itself: the bench runs the queued callbacks (no data is moved).
class QueueBackend : public Backend {
public:
    std::string kind() const override { return "queue"; }
    std::uint32_t block_size() const override { return 512; }
    std::uint64_t block_count() const override { return (256u << 20) / 512; }
    BackendCaps caps() const override { return {}; }
    void read(std::uint64_t, std::span<std::byte>, IoCallback done) override { queued.push_back(std::move(done)); }
    void write(std::uint64_t, std::span<const std::byte>, bool, IoCallback done) override {
        queued.push_back(std::move(done));
    }
    void flush(IoCallback done) override { done(IoStatus::ok, {}); }
    std::vector<IoCallback> queued;
};

double thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
    const bool write = argc > 1 && std::strcmp(argv[1], "write") == 0;
    const long n = argc > 2 ? std::atol(argv[2]) : 1000000;
    const int passes = argc > 3 ? std::atoi(argv[3]) : 5;
    const std::uint32_t span_mib = argc > 4 ? static_cast<std::uint32_t>(std::atoi(argv[4])) : 4;
    const long depth = argc > 5 ? std::atol(argv[5]) : 0;
    constexpr std::uint32_t kBlocks = 8, kBlockSize = 512, kLunBlocks = (256u << 20) / kBlockSize;

    auto adapter = Adapter::create();
    const auto tid = *adapter->add_target("iqn.2026-12.org.vstor:bench").value;
    std::shared_ptr<Backend> lun;
    auto queue = std::make_shared<QueueBackend>();
    if (depth > 0) lun = queue;
    else lun = std::make_shared<backends::MemBackend>(std::uint64_t{kLunBlocks} * kBlockSize, kBlockSize);
    if (!adapter->add_lun(tid, 0, lun)) return 1;
    auto nexus = adapter->open_nexus(tid, "iqn.2026-12.org.vstor:initiator,i,0x1");

    std::vector<std::byte> buf(kBlocks * kBlockSize, std::byte{0x5a});
    std::uint8_t status = 0;
    long bad = 0, completed = 0;
    auto submit = [&](std::uint8_t opcode, std::uint32_t lba) {
        Command c;
        c.nexus = nexus;
        c.lun = encode_sam_lun(0);
        c.cdb[0] = opcode;
        c.cdb[2] = static_cast<std::uint8_t>(lba >> 24);
        c.cdb[3] = static_cast<std::uint8_t>(lba >> 16);
        c.cdb[4] = static_cast<std::uint8_t>(lba >> 8);
        c.cdb[5] = static_cast<std::uint8_t>(lba);
        c.cdb[8] = kBlocks;
        c.cdb_len = opcode == 0 ? 6 : 10;
        c.tag = lba;
        c.dir = opcode == 0x2a ? DataDirection::write : opcode == 0x28 ? DataDirection::read : DataDirection::none;
        c.expected_length = opcode == 0 ? 0 : kBlocks * kBlockSize;
        if (opcode) c.data = buf;
        adapter->submit(std::move(c), [&](const Completion& r) {
            status = r.status;
            ++completed;
            if (status != scsi_status::good) ++bad;
        });
    };
    for (int i = 0; i < 4; ++i) submit(0x00, 0);  // TEST UNIT READY: uses up the unit attention
    bad = 0;
    // Written once first, so that reads copy stored data (not an unwritten block's memset).
    const std::uint32_t span_blocks = std::min(kLunBlocks, (span_mib << 20) / kBlockSize);
    if (depth == 0)
        for (std::uint32_t lba = 0; lba < span_blocks; lba += kBlocks) submit(0x2a, lba);
    std::mt19937 shuffle_rng(7);
    auto run_queued = [&] {
        std::shuffle(queue->queued.begin(), queue->queued.end(), shuffle_rng);
        auto callbacks = std::move(queue->queued);
        queue->queued.clear();
        for (auto& cb : callbacks) cb(IoStatus::ok, {});
    };

    std::vector<double> per;
    std::uint32_t x = 12345;
    for (int p = 0; p < passes; ++p) {
        const double t0 = thread_cpu_ns();
        for (long i = 0; i < n; ++i) {
            x = x * 1664525u + 1013904223u;  // random 4 KiB-aligned LBAs in the span
            submit(write ? 0x2a : 0x28, ((x >> 8) % (span_blocks / kBlocks)) * kBlocks);
            if (depth > 0 && static_cast<long>(queue->queued.size()) >= depth) run_queued();
        }
        run_queued();
        per.push_back((thread_cpu_ns() - t0) / static_cast<double>(n));
    }
    std::vector<double> sorted = per;
    std::sort(sorted.begin(), sorted.end());
    std::string list;
    for (double v : per) list += (list.empty() ? "" : ",") + std::to_string(static_cast<long>(v));
    std::printf("%s ns/cmd median %.0f min %.0f passes %s%s\n", write ? "write" : "read", sorted[sorted.size() / 2],
                sorted.front(), list.c_str(), bad ? " (commands failed!)" : "");
    if (completed != n * passes + 4 + (depth == 0 ? span_blocks / kBlocks : 0)) {
        std::printf("lost completions: %ld\n", completed);
        return 1;
    }
    return bad ? 1 : 0;
}
