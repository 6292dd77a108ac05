// vstor.sys under the user-mode StorPort emulator, with the real engine behind the bridge service.
// The emulator records every broken StorPort rule (double or missing completion, SRBs left after a
// reset or stop, timeouts, leaked service IRPs); each test ends by asserting there were none.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/factory.hpp"
#include "bridge/service.hpp"
#include "miniport.h"
#include "ioctl_server.hpp"
#include "storport_sim.hpp"
#include "tests/driver_image.hpp"
#include "tests/storport_helpers.hpp"

using namespace std::chrono_literals;
using vstor::storport_sim::Emulator;
using vstor::storport_sim::Request;
using vstor::storport_sim::RequestPtr;
using namespace vstor::storport_sim::test;

namespace {

std::shared_ptr<vstor::Backend> mem_backend(std::uint64_t bytes) {
    vstor::backends::BackendSpec spec;
    spec.kind = "mem";
    spec.size_bytes = bytes;
    spec.block_size = kBlock;
    std::string err;
    auto b = vstor::backends::open_backend(spec, err);
    EXPECT_TRUE(b) << err;
    return b;
}

// Holds backend I/O while closed, so requests stay inside the service (a slow or hung backend).
class GatedBackend final : public vstor::Backend {
public:
    explicit GatedBackend(std::shared_ptr<vstor::Backend> inner) : inner_(std::move(inner)) {}
    std::string kind() const override { return "gated"; }
    std::uint32_t block_size() const override { return inner_->block_size(); }
    std::uint64_t block_count() const override { return inner_->block_count(); }
    vstor::BackendCaps caps() const override { return inner_->caps(); }
    void read(std::uint64_t lba, std::span<std::byte> buf, vstor::IoCallback done) override {
        if (hold([=, this] { inner_->read(lba, buf, done); })) return;
        inner_->read(lba, buf, std::move(done));
    }
    void write(std::uint64_t lba, std::span<const std::byte> buf, bool fua, vstor::IoCallback done) override {
        if (hold([=, this] { inner_->write(lba, buf, fua, done); })) return;
        inner_->write(lba, buf, fua, std::move(done));
    }
    void flush(vstor::IoCallback done) override { inner_->flush(std::move(done)); }
    void close() {
        std::lock_guard lk(mu_);
        closed_ = true;
    }
    void open() {
        std::vector<std::function<void()>> run;
        {
            std::lock_guard lk(mu_);
            closed_ = false;
            run.swap(held_);
        }
        for (auto& f : run) f();
    }
    std::size_t held() {
        std::lock_guard lk(mu_);
        return held_.size();
    }

private:
    bool hold(std::function<void()> f) {
        std::lock_guard lk(mu_);
        if (!closed_) return false;
        held_.push_back(std::move(f));
        return true;
    }
    std::shared_ptr<vstor::Backend> inner_;
    std::mutex mu_;
    bool closed_ = false;
    std::vector<std::function<void()>> held_;
};

// DeviceIoControl on the adapter from "process" `pid`.
class SimChannel final : public vstor::bridge::Channel {
public:
    SimChannel(Emulator& emu, int pid) : emu_(emu), pid_(pid) {}
    using vstor::bridge::Channel::ioctl;
    vstor::bridge::IoctlResult ioctl(const void* in, std::uint32_t in_len, void* out, std::uint32_t out_len) override {
        auto r = emu_.device_ioctl(pid_, VSTOR_BRIDGE_IOCTL, in, in_len, out, out_len);
        return {r.status, r.information};
    }
    void kill() { emu_.kill_process(pid_); }

private:
    Emulator& emu_;
    int pid_;
};

// An emulated Windows with vstor.sys started and a vstor service connected to it.
struct Rig {
    Emulator emu;
    std::unique_ptr<vstor::Adapter> adapter = vstor::Adapter::create("storport-test");
    SimChannel channel{emu, 1};
    std::unique_ptr<vstor::bridge::Service> service;
    std::uint16_t tid = 0;

    explicit Rig(std::vector<std::pair<std::uint16_t, std::shared_ptr<vstor::Backend>>> luns, unsigned threads = 8,
                 bool liveness_irp = true, Emulator::Options options = {})
        : emu(driver(), options) {
        EXPECT_EQ(emu.load_driver(), STATUS_SUCCESS);
        std::string why;
        EXPECT_TRUE(emu.start_adapter(&why)) << why;
        auto t = adapter->add_target("iqn.2026-12.org.vstor:storport");
        EXPECT_TRUE(t);
        tid = *t.value;
        for (auto& [lun, b] : luns) EXPECT_TRUE(adapter->add_lun(tid, lun, b)) << "lun " << lun;
        vstor::bridge::ServiceOptions opts;
        opts.threads = threads;
        opts.hold_liveness_irp = liveness_irp;
        service = std::make_unique<vstor::bridge::Service>(*adapter, channel, opts);
        auto st = service->start();
        EXPECT_TRUE(st) << st.error;
        // The LUN announcements raised BusChangeDetected; wait for the rescan that finds them.
        for (int i = 0; i < 200 && emu.devices().size() < luns.size(); ++i) std::this_thread::sleep_for(10ms);
    }
    ~Rig() {
        service->stop();
        emu.stop_adapter();
    }
    std::vector<std::string> violations() { return emu.violations(); }
};

}  // namespace

TEST_P(StorPort, EnumerationAndConfiguration) {
    Rig rig({{0, mem_backend(8 << 20)}, {1, mem_backend(4 << 20)}});
    Emulator& emu = rig.emu;

    // What DriverEntry registered and HwFindAdapter reported.
    EXPECT_EQ(emu.init_data().HwInitializationDataSize, sizeof(VIRTUAL_HW_INITIALIZATION_DATA));
    EXPECT_TRUE(emu.init_data().MultipleRequestPerLu);
    EXPECT_EQ(emu.init_data().DeviceExtensionSize, sizeof(vs::Adapter));
    EXPECT_TRUE(emu.config().VirtualDevice);
    EXPECT_EQ(emu.config().MaximumTransferLength, VSTOR_BRIDGE_MAX_TRANSFER);
    EXPECT_EQ(emu.config().NumberOfBuses, 1);
    EXPECT_EQ(emu.config().MaximumNumberOfTargets, VSTOR_BRIDGE_MAX_TARGETS);
    EXPECT_EQ(emu.config().MaximumNumberOfLogicalUnits, VSTOR_BRIDGE_MAX_LUNS);
    EXPECT_EQ(emu.config().SynchronizationModel, StorSynchronizeFullDuplex);
    EXPECT_EQ(emu.config().MaxIOsPerLun, 250u);
    EXPECT_FALSE(emu.config().CachesData);
    EXPECT_TRUE(emu.supported_controls()[ScsiStopAdapter]);
    EXPECT_TRUE(emu.supported_controls()[ScsiRestartAdapter]);
    EXPECT_FALSE(emu.supported_controls()[ScsiSetBootConfig]);
    const GUID vstor_interface = VSTOR_BRIDGE_INTERFACE_GUID_INIT;
    EXPECT_TRUE(emu.interface_registered(vstor_interface));  // how the service finds the adapter
    EXPECT_TRUE(emu.interface_enabled());

    // The bus scan found exactly the engine's two LUNs, with the engine's INQUIRY data.
    auto devs = emu.devices();
    ASSERT_EQ(devs.size(), 2u);
    EXPECT_EQ(devs[0].target, 0);
    EXPECT_EQ(devs[0].lun, 0);
    EXPECT_EQ(devs[1].lun, 1);
    EXPECT_EQ(std::string(devs[0].inquiry.begin() + 8, devs[0].inquiry.begin() + 13), "VSTOR");
    EXPECT_EQ(devs[0].inquiry[0] & 0x1F, 0);  // direct-access block device

    const std::uint8_t report_luns[12] = {0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0};
    auto rl = emu.execute(0, 0, report_luns, SRB_FLAGS_DATA_IN, 64);
    ASSERT_TRUE(ok(rl) || rl->status() == SRB_STATUS_DATA_OVERRUN);
    EXPECT_EQ(rl->data[3], 16);  // two 8-byte entries

    const std::uint8_t cap10[10] = {0x25};
    auto rc = emu.execute(0, 0, cap10, SRB_FLAGS_DATA_IN, 8);
    ASSERT_TRUE(ok(rc));
    EXPECT_EQ(rc->srb.DataTransferLength, 8u);
    const std::uint32_t last = (rc->data[0] << 24) | (rc->data[1] << 16) | (rc->data[2] << 8) | rc->data[3];
    EXPECT_EQ(last, (8u << 20) / kBlock - 1);
    EXPECT_EQ(rc->data[6], 0x02);  // 512-byte blocks

    // READ CAPACITY(16) into the 12-byte buffer Windows uses: truncated data, not an error.
    const std::uint8_t cap16[16] = {0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0};
    auto r16 = emu.execute(0, 1, cap16, SRB_FLAGS_DATA_IN, 12);
    EXPECT_TRUE(ok(r16)) << int(r16->status());
    EXPECT_EQ(r16->srb.DataTransferLength, 12u);
    EXPECT_EQ(r16->data[7] + (r16->data[6] << 8), ((4u << 20) / kBlock - 1) & 0xFFFF);
    EXPECT_TRUE(r16->guard_intact());

    // A command the engine rejects comes back as CHECK CONDITION with autosense.
    auto bad = emu.execute(0, 1, cdb_rw10(false, (4u << 20) / kBlock, 1), SRB_FLAGS_DATA_IN, kBlock);
    EXPECT_EQ(bad->status(), SRB_STATUS_ERROR);
    EXPECT_TRUE(bad->srb.SrbStatus & SRB_STATUS_AUTOSENSE_VALID);
    EXPECT_EQ(bad->srb.ScsiStatus, 0x02);
    EXPECT_EQ(bad->sense[2] & 0x0F, 0x05);  // ILLEGAL REQUEST
    EXPECT_EQ(bad->sense[12], 0x21);        // LBA OUT OF RANGE

    // No such LUN / target: SRB_STATUS_NO_DEVICE, which the port driver treats as "nothing there".
    const std::uint8_t inquiry[6] = {0x12, 0, 0, 0, 36, 0};
    EXPECT_EQ(emu.execute(0, 5, inquiry, SRB_FLAGS_DATA_IN, 36)->status(), SRB_STATUS_NO_DEVICE);
    EXPECT_EQ(emu.execute(3, 0, inquiry, SRB_FLAGS_DATA_IN, 36)->status(), SRB_STATUS_NO_DEVICE);
    EXPECT_EQ(emu.execute(VSTOR_BRIDGE_MAX_TARGETS, 0, inquiry, SRB_FLAGS_DATA_IN, 36)->status(), SRB_STATUS_NO_DEVICE);

    // Not a dump target; unknown functions refused; flush/shutdown are no-ops (CachesData = FALSE).
    auto dump = rig.emu.start_function(SRB_FUNCTION_DUMP_POINTERS, 0, 0);
    ASSERT_TRUE(emu.wait(dump));
    EXPECT_EQ(dump->status(), SRB_STATUS_INVALID_REQUEST);
    auto flush = rig.emu.start_function(SRB_FUNCTION_FLUSH, 0, 0);
    ASSERT_TRUE(emu.wait(flush));
    EXPECT_EQ(flush->status(), SRB_STATUS_SUCCESS);
    EXPECT_TRUE(rig.violations().empty()) << rig.violations().front();
}

TEST_P(StorPort, MaximumTransferAndBeyond) {
    Rig rig({{0, mem_backend(8 << 20)}});
    std::vector<std::uint8_t> pattern(VSTOR_BRIDGE_MAX_TRANSFER);
    std::mt19937 rng(7);
    for (auto& b : pattern) b = static_cast<std::uint8_t>(rng());
    const std::uint16_t blocks = VSTOR_BRIDGE_MAX_TRANSFER / kBlock;
    auto w = rig.emu.execute(0, 0, cdb_rw10(true, 100, blocks), SRB_FLAGS_DATA_OUT, VSTOR_BRIDGE_MAX_TRANSFER, pattern.data());
    ASSERT_TRUE(ok(w)) << int(w->status());
    auto r = rig.emu.execute(0, 0, cdb_rw10(false, 100, blocks), SRB_FLAGS_DATA_IN, VSTOR_BRIDGE_MAX_TRANSFER);
    ASSERT_TRUE(ok(r));
    EXPECT_EQ(r->srb.DataTransferLength, VSTOR_BRIDGE_MAX_TRANSFER);
    EXPECT_EQ(0, std::memcmp(r->data.data(), pattern.data(), pattern.size()));
    EXPECT_TRUE(r->guard_intact());
    // Past MaximumTransferLength (StorPort would have split it): refused, not truncated.
    auto big = rig.emu.execute(0, 0, cdb_rw10(false, 0, blocks + 1), SRB_FLAGS_DATA_IN, VSTOR_BRIDGE_MAX_TRANSFER + kBlock);
    EXPECT_EQ(big->status(), SRB_STATUS_INVALID_REQUEST);
    EXPECT_TRUE(rig.violations().empty());
}

// Random patterns through 250 outstanding SRBs per LUN and 8 dispatcher threads: every byte read
// back is the byte written last, and no SRB waits long (WinSpd issues 10 and 13: corruption and
// minute-long stalls with several dispatcher threads).
TEST_P(StorPort, WriteReadVerifyWith250OutstandingAnd8Threads) {
    constexpr std::uint64_t kLunBytes = 32 << 20;
    constexpr std::uint32_t kChunk = 32 << 10;  // each chunk has one writer at a time
    constexpr std::uint32_t kChunks = kLunBytes / kChunk;
    auto lun0 = std::make_shared<GatedBackend>(mem_backend(kLunBytes));
    auto lun1 = std::make_shared<GatedBackend>(mem_backend(kLunBytes));
    Rig rig({{0, lun0}, {1, lun1}}, 8);
    Emulator& emu = rig.emu;
    // Hold the first writes in the backends until both LUNs have the full queue depth outstanding,
    // so the deep-queue path is certainly exercised, then let everything run.
    lun0->close();
    lun1->close();
    std::thread opener([&] {
        for (int i = 0; i < 2000; ++i) {
            if (emu.max_outstanding_seen(0, 0) >= Emulator::queue_depth() &&
                emu.max_outstanding_seen(0, 1) >= Emulator::queue_depth())
                break;
            std::this_thread::sleep_for(5ms);
        }
        lun0->open();
        lun1->open();
    });
    std::vector<std::vector<std::uint8_t>> expected(2, std::vector<std::uint8_t>(kLunBytes, 0));
    std::atomic<long> max_latency_ms{0};
    std::atomic<int> failures{0}, mismatches{0};

    auto track = [&](Request& r) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.completed_at - r.issued).count();
        long prev = max_latency_ms.load();
        while (ms > prev && !max_latency_ms.compare_exchange_weak(prev, ms)) {}
        if (r.status() != SRB_STATUS_SUCCESS) ++failures;
    };
    // Two submitting threads per LUN (HwStartIo runs concurrently), each owning half the chunks.
    auto run_phase = [&](bool write, unsigned round) {
        std::vector<std::thread> submitters;
        for (std::uint8_t lun = 0; lun < 2; ++lun) {
            for (unsigned half = 0; half < 2; ++half) {
                submitters.emplace_back([&, lun, half, write, round] {
                    std::mt19937 rng(round * 131 + lun * 17 + half);
                    std::vector<std::uint32_t> order;
                    for (std::uint32_t c = half; c < kChunks; c += 2) order.push_back(c);
                    std::shuffle(order.begin(), order.end(), rng);
                    std::vector<RequestPtr> mine;
                    for (std::uint32_t c : order) {
                        const std::uint32_t off_blocks = write ? rng() % (kChunk / kBlock) : 0;
                        const std::uint32_t max_blocks = kChunk / kBlock - off_blocks;
                        const std::uint32_t nblocks = write ? 1 + rng() % max_blocks : kChunk / kBlock;
                        const std::uint64_t byte_off = std::uint64_t{c} * kChunk + off_blocks * kBlock;
                        const std::uint32_t len = nblocks * kBlock;
                        const std::uint32_t lba = static_cast<std::uint32_t>(byte_off / kBlock);
                        if (write) {
                            std::uint8_t* dst = expected[lun].data() + byte_off;
                            for (std::uint32_t i = 0; i < len; ++i) dst[i] = static_cast<std::uint8_t>(rng());
                            mine.push_back(emu.start(0, lun, cdb_rw10(true, lba, nblocks), SRB_FLAGS_DATA_OUT, len, dst, 30, track));
                        } else {
                            const std::uint8_t* want = expected[lun].data() + byte_off;
                            mine.push_back(emu.start(0, lun, cdb_rw10(false, lba, nblocks), SRB_FLAGS_DATA_IN, len, nullptr, 30,
                                                     [&, want, len](Request& r) {
                                                         track(r);
                                                         if (std::memcmp(r.data.data(), want, len) != 0 || !r.guard_intact())
                                                             ++mismatches;
                                                     }));
                        }
                    }
                    for (auto& r : mine) EXPECT_TRUE(emu.wait(r, 60s));
                });
            }
        }
        for (auto& t : submitters) t.join();
    };
    for (unsigned round = 0; round < 2; ++round) {
        run_phase(true, round);
        if (round == 0) {
            opener.join();
            max_latency_ms = 0;  // the first writes were held on purpose until the queues were full
        }
        run_phase(false, round);
    }
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(mismatches.load(), 0);
    EXPECT_EQ(emu.max_outstanding_seen(0, 0), Emulator::queue_depth());  // the queue really was full
    EXPECT_EQ(emu.max_outstanding_seen(0, 1), Emulator::queue_depth());
    // Milliseconds here; the bound (generous for sanitizer builds) is what rules out the stalls of
    // WinSpd issue 10.
    EXPECT_LT(max_latency_ms.load(), 30000) << "an SRB waited " << max_latency_ms.load() << " ms";
    EXPECT_GE(rig.service->stats().commands.load(), 4u * kChunks * 2);
    EXPECT_EQ(driver_stats(emu).rejected_replies, 0u);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// The service process dies with 250 SRBs outstanding, all inside a stalled engine: every SRB completes with an error well inside its timeout, Windows is told the LUN is
// gone, and nothing is completed twice when the dead service's work finally finishes.
// With the liveness IRP the driver learns of the death from its cancellation; without it, from the
// watchdog (no IRP parked, none arriving, for 4 s).
void kill_mid_io(bool liveness_irp, std::chrono::milliseconds bound) {
    auto gated = std::make_shared<GatedBackend>(mem_backend(8 << 20));
    Rig rig({{0, gated}}, 8, liveness_irp);
    Emulator& emu = rig.emu;
    ASSERT_EQ(emu.devices().size(), 1u);
    gated->close();
    std::vector<RequestPtr> reqs;
    std::vector<std::uint8_t> block(kBlock, 0x5A);
    for (unsigned i = 0; i < 250; ++i)
        reqs.push_back(emu.start(0, 0, cdb_rw10(true, i, 1), SRB_FLAGS_DATA_OUT, kBlock, block.data(), 20));
    for (int i = 0; i < 500 && gated->held() < 250; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(gated->held(), 250u);  // all of them inside the engine

    const auto killed = std::chrono::steady_clock::now();
    const unsigned rescans = emu.rescans();
    rig.channel.kill();
    for (auto& r : reqs) ASSERT_TRUE(emu.wait(r, 15s));
    const auto took = std::chrono::steady_clock::now() - killed;
    EXPECT_LT(took, bound);
    for (auto& r : reqs) EXPECT_EQ(r->status(), SRB_STATUS_NO_DEVICE);
    EXPECT_EQ(driver_stats(emu).disconnects, 1u);
    EXPECT_TRUE(emu.wait_for_rescan(rescans + 1, 10s));
    EXPECT_TRUE(emu.devices().empty());  // the disk is gone, not hung
    EXPECT_EQ(settled_service_irps(emu), 0u);  // the dead process holds no IRP: it can exit

    gated->open();  // the dead service's engine work completes; nobody may complete an SRB again
    rig.service->join();
    const std::uint8_t tur[6] = {0};
    EXPECT_EQ(emu.execute(0, 0, tur, 0, 0)->status(), SRB_STATUS_NO_DEVICE);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

TEST_P(StorPort, ServiceKilledMidIoFailsEverySrbAtOnce) { kill_mid_io(true, 1s); }

TEST_P(StorPort, ServiceKilledMidIoWithoutLivenessIrpFailsEverySrbWithinTheGrace) { kill_mid_io(false, 6s); }

// A backend that stalls longer than the watchdog's grace is not mistaken for a dead service.
TEST_P(StorPort, SlowBackendIsNotTakenForADeadService) {
    auto gated = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    Rig rig({{0, gated}}, 4);
    Emulator& emu = rig.emu;
    gated->close();
    std::vector<RequestPtr> reqs;
    for (unsigned i = 0; i < 20; ++i) reqs.push_back(emu.start(0, 0, cdb_rw10(false, i, 1), SRB_FLAGS_DATA_IN, kBlock));
    std::this_thread::sleep_for(std::chrono::milliseconds(vs::kServiceGraceTicks * vs::kTimerMicroseconds / 1000 + 1500));
    EXPECT_EQ(gated->held(), 20u);
    EXPECT_EQ(driver_stats(emu).disconnects, 0u);
    gated->open();
    for (auto& r : reqs) {
        ASSERT_TRUE(emu.wait(r));
        EXPECT_TRUE(ok(r));
    }
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// Killed while idle: its parked IRPs are cancelled (the process can exit) and the watchdog drops it.
TEST_P(StorPort, ServiceKilledWhileIdleCancelsParkedIrps) {
    Rig rig({{0, mem_backend(1 << 20)}}, 4);
    Emulator& emu = rig.emu;
    for (int i = 0; i < 200 && emu.pending_service_irps() < 5; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(emu.pending_service_irps(), 5u);  // 4 dispatchers and the liveness IRP
    rig.channel.kill();
    EXPECT_EQ(settled_service_irps(emu), 0u);
    EXPECT_EQ(driver_stats(emu).disconnects, 1u);  // the liveness IRP's cancellation said so
    rig.service->join();
    const std::uint8_t tur[6] = {0};
    EXPECT_EQ(emu.execute(0, 0, tur, 0, 0)->status(), SRB_STATUS_NO_DEVICE);

    // A new service instance connects and serves again.
    SimChannel fresh(emu, 2);
    vstor::bridge::Service again(*rig.adapter, fresh, {});
    ASSERT_TRUE(again.start());
    EXPECT_TRUE(emu.execute(0, 0, tur, 0, 0)->status() == SRB_STATUS_SUCCESS);
    again.stop();
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// HwResetBus with work inside the service: everything completes with BUS_RESET before HwResetBus
// returns, the service is told, and its 100 late replies are ignored.
TEST_P(StorPort, BusResetAbortsOutstandingWork) {
    auto gated = std::make_shared<GatedBackend>(mem_backend(8 << 20));
    Rig rig({{0, gated}}, 8);
    Emulator& emu = rig.emu;
    gated->close();
    std::vector<RequestPtr> reqs;
    for (unsigned i = 0; i < 100; ++i)
        reqs.push_back(emu.start(0, 0, cdb_rw10(false, i, 1), SRB_FLAGS_DATA_IN, kBlock));
    for (int i = 0; i < 500 && gated->held() < 100; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(gated->held(), 100u);

    emu.reset_bus(0);  // the emulator checks nothing is outstanding when it returns
    for (auto& r : reqs) {
        ASSERT_TRUE(r->completed.load());
        EXPECT_EQ(r->status(), SRB_STATUS_BUS_RESET);
        EXPECT_TRUE(r->guard_intact());
    }
    gated->open();
    for (int i = 0; i < 500 && (driver_stats(emu).stale_replies < 100 || rig.service->stats().bus_resets == 0); ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(driver_stats(emu).stale_replies, 100u);
    EXPECT_EQ(rig.service->stats().bus_resets.load(), 1u);

    // Still serving after the reset (the engine reports the reset as a UNIT ATTENTION first).
    std::vector<std::uint8_t> block(kBlock, 0xC3);
    int attentions = 0;
    ASSERT_TRUE(ok(execute_as_disk(emu, 0, cdb_rw10(true, 9, 1), SRB_FLAGS_DATA_OUT, kBlock, block.data(), &attentions)));
    EXPECT_EQ(attentions, 1);
    auto r = emu.execute(0, 0, cdb_rw10(false, 9, 1), SRB_FLAGS_DATA_IN, kBlock);
    ASSERT_TRUE(ok(r));
    EXPECT_EQ(0, std::memcmp(r->data.data(), block.data(), kBlock));
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// LUN reset touches only its LUN; ABORT_COMMAND takes exactly the named SRB.
TEST_P(StorPort, LunResetAndAbortCommand) {
    auto gated0 = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    auto gated1 = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    Rig rig({{0, gated0}, {1, gated1}}, 2);
    Emulator& emu = rig.emu;
    gated0->close();
    gated1->close();
    std::vector<RequestPtr> l0, l1;
    for (unsigned i = 0; i < 10; ++i) {
        l0.push_back(emu.start(0, 0, cdb_rw10(false, i, 1), SRB_FLAGS_DATA_IN, kBlock));
        l1.push_back(emu.start(0, 1, cdb_rw10(false, i, 1), SRB_FLAGS_DATA_IN, kBlock));
    }
    for (int i = 0; i < 500 && gated0->held() + gated1->held() < 20; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(gated0->held() + gated1->held(), 20u);

    auto reset = emu.start_function(SRB_FUNCTION_RESET_LOGICAL_UNIT, 0, 1);
    ASSERT_TRUE(emu.wait(reset));
    EXPECT_EQ(reset->status(), SRB_STATUS_SUCCESS);
    for (auto& r : l1) {
        ASSERT_TRUE(r->completed.load());
        EXPECT_EQ(r->status(), SRB_STATUS_BUS_RESET);
    }
    for (auto& r : l0) EXPECT_FALSE(r->completed.load());

    // Abort the last SRB sent for LUN 0 (inside the engine; its late reply will be stale).
    auto abort = emu.start_function(SRB_FUNCTION_ABORT_COMMAND, 0, 0, &l0.back()->srb);
    ASSERT_TRUE(emu.wait(abort));
    EXPECT_EQ(abort->status(), SRB_STATUS_SUCCESS);
    EXPECT_EQ(l0.back()->status(), SRB_STATUS_ABORTED);
    auto again = emu.start_function(SRB_FUNCTION_ABORT_COMMAND, 0, 0, &l0.back()->srb);
    ASSERT_TRUE(emu.wait(again));
    EXPECT_EQ(again->status(), SRB_STATUS_ABORT_FAILED);

    gated0->open();
    gated1->open();
    for (std::size_t i = 0; i + 1 < l0.size(); ++i) {
        ASSERT_TRUE(emu.wait(l0[i]));
        EXPECT_TRUE(ok(l0[i])) << i;
    }
    for (int i = 0; i < 500 && rig.service->stats().lun_resets == 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(rig.service->stats().lun_resets.load(), 1u);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// Adding a LUN in the service raises BusChangeDetected and the rescan finds it; removing it does
// the reverse and its SRBs get SRB_STATUS_NO_DEVICE.
TEST_P(StorPort, LunHotAddAndRemove) {
    Rig rig({{0, mem_backend(1 << 20)}});
    Emulator& emu = rig.emu;
    ASSERT_EQ(emu.devices().size(), 1u);
    const unsigned changes = emu.bus_changes();
    const unsigned rescans = emu.rescans();
    // The service follows the adapter: adding the LUN (as `vstor ctl lun add` does) announces it.
    ASSERT_TRUE(rig.adapter->add_lun(rig.tid, 3, mem_backend(2 << 20)));
    EXPECT_EQ(emu.bus_changes(), changes + 1);
    ASSERT_TRUE(emu.wait_for_rescan(rescans + 1, 10s));
    auto devs = emu.devices();
    ASSERT_EQ(devs.size(), 2u);
    EXPECT_EQ(devs[1].lun, 3);

    std::vector<std::uint8_t> block(kBlock, 0x3C);
    ASSERT_TRUE(ok(execute_as_disk(emu, 3, cdb_rw10(true, 1, 1), SRB_FLAGS_DATA_OUT, kBlock, block.data())));
    auto r = emu.execute(0, 3, cdb_rw10(false, 1, 1), SRB_FLAGS_DATA_IN, kBlock);
    ASSERT_TRUE(ok(r));
    EXPECT_EQ(0, std::memcmp(r->data.data(), block.data(), kBlock));

    ASSERT_TRUE(rig.adapter->remove_lun(rig.tid, 3));
    EXPECT_EQ(emu.bus_changes(), changes + 2);
    ASSERT_TRUE(emu.wait_for_rescan(rescans + 2, 10s));
    EXPECT_EQ(emu.devices().size(), 1u);
    EXPECT_EQ(emu.execute(0, 3, cdb_rw10(false, 1, 1), SRB_FLAGS_DATA_IN, kBlock)->status(), SRB_STATUS_NO_DEVICE);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// A LUN whose backend hangs with a full queue (250 SRBs) does not hold up another LUN: the service
// never waits on the engine, so the other LUN's I/O flows (a dispatcher per request would starve).
TEST_P(StorPort, HungLunDoesNotStallOtherLuns) {
    auto hung = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    Rig rig({{0, mem_backend(4 << 20)}, {1, hung}}, 8);
    Emulator& emu = rig.emu;
    hung->close();
    std::vector<RequestPtr> stuck;
    for (unsigned i = 0; i < Emulator::queue_depth(); ++i)
        stuck.push_back(emu.start(0, 1, cdb_rw10(false, i, 1), SRB_FLAGS_DATA_IN, kBlock));
    for (int i = 0; i < 500 && hung->held() < Emulator::queue_depth(); ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(hung->held(), Emulator::queue_depth());

    const auto t0 = std::chrono::steady_clock::now();
    std::mt19937 rng(3);
    for (unsigned i = 0; i < 200; ++i) {
        std::vector<std::uint8_t> data(8 * kBlock);
        for (auto& b : data) b = static_cast<std::uint8_t>(rng());
        ASSERT_TRUE(ok(execute_as_disk(emu, 0, cdb_rw10(true, i * 8, 8), SRB_FLAGS_DATA_OUT, 8 * kBlock, data.data())));
        auto r = emu.execute(0, 0, cdb_rw10(false, i * 8, 8), SRB_FLAGS_DATA_IN, 8 * kBlock);
        ASSERT_TRUE(ok(r));
        ASSERT_EQ(0, std::memcmp(r->data.data(), data.data(), data.size()));
    }
    // Milliseconds normally; the bound only separates "flows" from "stalled behind the hung LUN"
    // (which never completes) and leaves room for sanitizer builds.
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
    for (auto& r : stuck) EXPECT_FALSE(r->completed.load());
    hung->open();
    for (auto& r : stuck) {
        ASSERT_TRUE(emu.wait(r));
        EXPECT_TRUE(ok(r));
    }
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// A LUN withdrawn by the service while its SRBs are queued and inside the engine: they complete
// with NO_DEVICE at once, the other LUN is untouched, and the late replies are ignored.
TEST_P(StorPort, LunWithdrawnWithIoOutstanding) {
    auto gated = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    Rig rig({{0, mem_backend(1 << 20)}, {1, gated}}, 4);
    Emulator& emu = rig.emu;
    gated->close();
    std::vector<RequestPtr> reqs;
    for (unsigned i = 0; i < 40; ++i) reqs.push_back(emu.start(0, 1, cdb_rw10(false, i, 1), SRB_FLAGS_DATA_IN, kBlock));
    for (int i = 0; i < 500 && gated->held() < 40; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(gated->held(), 40u);
    const unsigned rescans = emu.rescans();
    ASSERT_TRUE(rig.service->announce(rig.tid, 1, false));
    for (auto& r : reqs) {
        ASSERT_TRUE(r->completed.load());
        EXPECT_EQ(r->status(), SRB_STATUS_NO_DEVICE);
    }
    ASSERT_TRUE(emu.wait_for_rescan(rescans + 1, 10s));
    EXPECT_EQ(emu.devices().size(), 1u);
    gated->open();
    for (int i = 0; i < 500 && driver_stats(emu).stale_replies < 40; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(driver_stats(emu).stale_replies, 40u);
    std::vector<std::uint8_t> block(kBlock, 0x42);
    EXPECT_TRUE(ok(execute_as_disk(emu, 0, cdb_rw10(true, 0, 1), SRB_FLAGS_DATA_OUT, kBlock, block.data())));
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// Stop/remove with I/O outstanding: every SRB completes, every parked service IRP is returned by
// HwCompleteServiceIrp (the emulator checks both).
// Removal with requests stuck in the service: StorPort waits for them before ScsiStopAdapter, and
// when they time out it resets the bus (HwResetBus), which completes them; then the adapter stops
// (DIRQL: nothing to fail there) and HwCompleteServiceIrp returns the parked IRPs.
TEST_P(StorPort, StopWithIoOutstanding) {
    auto gated = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    Emulator::Options options;
    options.reset_on_timeout = true;
    Rig rig({{0, gated}}, 8, true, options);
    Emulator& emu = rig.emu;
    gated->close();
    std::vector<RequestPtr> reqs;
    for (unsigned i = 0; i < 50; ++i)
        reqs.push_back(emu.start(0, 0, cdb_rw10(false, i, 1), SRB_FLAGS_DATA_IN, kBlock, nullptr, 2));
    for (int i = 0; i < 500 && gated->held() < 50; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(gated->held(), 50u);
    emu.stop_adapter();
    EXPECT_GE(emu.timeouts(), 1u);
    for (auto& r : reqs) {
        ASSERT_TRUE(r->completed.load());
        EXPECT_EQ(r->status(), SRB_STATUS_BUS_RESET);
    }
    gated->open();
    rig.service->join();
    EXPECT_EQ(settled_service_irps(emu), 0u);
    EXPECT_FALSE(emu.interface_enabled());  // disabled and freed in HwFreeAdapterResources
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// Sleep/hibernate: StorPort stops the adapter (ScsiStopAdapter) and restarts it on resume. The
// service session survives, and requests issued meanwhile wait and then succeed.
TEST_P(StorPort, PowerCycleKeepsTheService) {
    Rig rig({{0, mem_backend(1 << 20)}});
    Emulator& emu = rig.emu;
    std::vector<std::uint8_t> block(kBlock, 0x77);
    ASSERT_TRUE(ok(execute_as_disk(emu, 0, cdb_rw10(true, 5, 1), SRB_FLAGS_DATA_OUT, kBlock, block.data())));
    std::thread resume([&] { emu.power_cycle(); });
    auto during = emu.execute(0, 0, cdb_rw10(false, 5, 1), SRB_FLAGS_DATA_IN, kBlock);
    resume.join();
    ASSERT_TRUE(ok(during));
    EXPECT_EQ(0, std::memcmp(during->data.data(), block.data(), kBlock));
    auto after = emu.execute(0, 0, cdb_rw10(false, 5, 1), SRB_FLAGS_DATA_IN, kBlock);
    ASSERT_TRUE(ok(after));
    EXPECT_EQ(driver_stats(emu).disconnects, 0u);
    EXPECT_EQ(emu.devices().size(), 1u);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// Windows 7's StorPort: a PORT_CONFIGURATION_INFORMATION that ends at MaxNumberOfIO (nothing may be
// written past it), control types 0-4 only, and power transitions by ScsiStopAdapter and
// ScsiRestartAdapter at DIRQL, where a spin lock acquire or an IRP completion is a violation.
TEST_P(StorPort, Windows7StopAndRestartAtDirql) {
    Emulator::Options options;
    options.windows_version = 7;
    Rig rig({{0, mem_backend(1 << 20)}}, 8, true, options);
    Emulator& emu = rig.emu;
    EXPECT_EQ(emu.config().Length, offsetof(PORT_CONFIGURATION_INFORMATION, MaxIOsPerLun));
    EXPECT_EQ(emu.config().MaxNumberOfIO, vs::kMaxSlots);
    EXPECT_EQ(emu.config().MaxIOsPerLun, 0u);  // Windows 8's fields: not written
    EXPECT_EQ(emu.config().InitialLunQueueDepth, 0u);
    std::vector<std::uint8_t> block(kBlock, 0x5C);
    ASSERT_TRUE(ok(execute_as_disk(emu, 0, cdb_rw10(true, 9, 1), SRB_FLAGS_DATA_OUT, kBlock, block.data())));
    for (int cycle = 0; cycle < 3; ++cycle) {
        std::thread resume([&] { emu.power_cycle(); });
        auto during = emu.execute(0, 0, cdb_rw10(false, 9, 1), SRB_FLAGS_DATA_IN, kBlock);
        resume.join();
        ASSERT_TRUE(ok(during));
        EXPECT_EQ(0, std::memcmp(during->data.data(), block.data(), kBlock));
    }
    EXPECT_EQ(emu.power_cycles(), 3u);
    EXPECT_EQ(driver_stats(emu).disconnects, 0u);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// Windows 10's control-type numbers: SystemPowerHints (12, Modern Standby) is not a stop, and
// SurpriseRemoval is 16. A power transition goes through ScsiAdapterPower, not Stop/Restart.
TEST_P(StorPort, ControlTypesUseMicrosoftsNumbers) {
    auto gated = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    Rig rig({{0, gated}});
    Emulator& emu = rig.emu;
    const auto& supported = emu.supported_controls();
    EXPECT_TRUE(supported[ScsiStopAdapter] && supported[ScsiRestartAdapter] && supported[ScsiAdapterPower]);
    EXPECT_TRUE(supported[ScsiAdapterSurpriseRemoval]);
    emu.system_power_hint();  // sent only if advertised; either way the adapter keeps working
    const std::uint8_t tur[6] = {0};
    ASSERT_TRUE(ok(emu.execute(0, 0, tur, 0, 0)));
    emu.power_cycle();
    ASSERT_TRUE(ok(emu.execute(0, 0, tur, 0, 0)));
    EXPECT_EQ(driver_stats(emu).disconnects, 0u);

    // Surprise removal with a read stuck in the service: the read fails with NO_DEVICE, the
    // service is told to go, and removal finds nothing left.
    gated->close();
    auto stuck = emu.start(0, 0, cdb_rw10(false, 1, 1), SRB_FLAGS_DATA_IN, kBlock);
    for (int i = 0; i < 500 && gated->held() < 1; ++i) std::this_thread::sleep_for(10ms);
    emu.surprise_remove();
    ASSERT_TRUE(emu.wait(stuck, 5s));
    EXPECT_EQ(stuck->status(), SRB_STATUS_NO_DEVICE);
    EXPECT_EQ(emu.execute(0, 0, tur, 0, 0)->status(), SRB_STATUS_NO_DEVICE);
    gated->open();
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// The PnP and power SRBs StorPort sends a LUN (and, flagged, the adapter) each complete once with a
// final status, write nothing beyond their buffer, and leave the LUN working. vstor answers the PnP
// actions it has nothing to add to with INVALID_REQUEST (StorPort then does its default) and power
// SRBs with SUCCESS (Windows 7: it gets them; Windows 8+ does not once ScsiAdapterPower is supported).
TEST_P(StorPort, PnpAndPowerSrbsCompleteOnce) {
    Rig rig({{0, mem_backend(1 << 20)}});
    Emulator& emu = rig.emu;
    const struct {
        STOR_PNP_ACTION action;
        bool adapter;
        std::uint32_t length;
    } cases[] = {{StorQueryCapabilities, false, 16}, {StorQueryCapabilities, true, 16}, {StorStartDevice, false, 0},
                 {StorStopDevice, false, 0},          {StorRemoveDevice, false, 0},     {StorSurpriseRemoval, false, 0}};
    for (const auto& c : cases) {
        auto r = emu.start_pnp(0, 0, c.action, c.adapter, c.length);
        ASSERT_TRUE(emu.wait(r, 5s)) << "PnP action " << c.action;
        EXPECT_TRUE(r->status() == SRB_STATUS_SUCCESS || r->status() == SRB_STATUS_INVALID_REQUEST)
            << "PnP action " << c.action << ": status " << int{r->status()};
        EXPECT_TRUE(r->guard_intact());
    }
    auto power = emu.start_function(SRB_FUNCTION_POWER, 0, 0);
    ASSERT_TRUE(emu.wait(power, 5s));
    EXPECT_EQ(power->status(), SRB_STATUS_SUCCESS);
    EXPECT_TRUE(ok(emu.execute(0, 0, cdb_rw10(false, 0, 1), SRB_FLAGS_DATA_IN, kBlock)));
    EXPECT_EQ(emu.outstanding(), 0u);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// StorPortGetSystemAddress can fail for want of system PTEs: the SRB comes back BUSY, not
// INTERNAL_ERROR, so StorPort issues it again (the emulator does, 50 ms apart) and it succeeds once
// the shortage is over. With StorPort's retries exhausted the
// caller sees BUSY. A data SRB whose direction bits say nothing, or both, is refused with
// INVALID_REQUEST; a TEST UNIT READY without data goes through.
TEST_P(StorPort, GetSystemAddressFailureIsRetryable) {
    Rig rig({{0, mem_backend(1 << 20)}});
    Emulator& emu = rig.emu;
    std::vector<std::uint8_t> block(kBlock, 0x3C);
    ASSERT_TRUE(ok(emu.execute(0, 0, cdb_rw10(true, 0, 1), SRB_FLAGS_DATA_OUT, kBlock, block.data())));
    emu.fail_system_address(true);
    auto r = emu.start(0, 0, cdb_rw10(false, 0, 1), SRB_FLAGS_DATA_IN, kBlock);
    for (int i = 0; i < 500 && emu.busy_retries() < 2; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_GE(emu.busy_retries(), 2u);
    EXPECT_FALSE(r->completed.load());  // StorPort is still retrying it (20 tries, at least 50 ms apart)
    emu.fail_system_address(false);
    ASSERT_TRUE(emu.wait(r, 5s));
    EXPECT_TRUE(ok(r));
    EXPECT_EQ(0, std::memcmp(r->data.data(), block.data(), kBlock));
    EXPECT_TRUE(r->guard_intact());
    emu.fail_system_address(true);
    auto exhausted = emu.execute(0, 0, cdb_rw10(false, 0, 1), SRB_FLAGS_DATA_IN, kBlock);
    EXPECT_EQ(exhausted->status(), SRB_STATUS_BUSY);
    EXPECT_EQ(exhausted->busy_retries, Emulator::kMaxBusyRetries);
    emu.fail_system_address(false);
    EXPECT_TRUE(ok(emu.execute(0, 0, cdb_rw10(false, 0, 1), SRB_FLAGS_DATA_IN, kBlock)));
    EXPECT_EQ(emu.execute(0, 0, cdb_rw10(false, 0, 1), SRB_FLAGS_UNSPECIFIED_DIRECTION, kBlock)->status(),
              SRB_STATUS_INVALID_REQUEST);
    EXPECT_EQ(emu.execute(0, 0, cdb_rw10(false, 0, 1), 0, kBlock)->status(), SRB_STATUS_INVALID_REQUEST);
    const std::uint8_t tur[6] = {0};
    EXPECT_TRUE(ok(emu.execute(0, 0, tur, 0, 0)));
    EXPECT_EQ(emu.outstanding(), 0u);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// Throughput of the emulated path (HwStartIo -> parked service IRP -> engine -> reply) at StorPort's
// queue depth: 250 outstanding 4 KiB reads on one mem LUN, 8 service threads. Prints the rate; no
// timed assertion. Not part of the storport label (DISABLED_): run it with
//   vstor_storport_tests --gtest_also_run_disabled_tests --gtest_filter='StorPortBench.*'
TEST(StorPortBench, DISABLED_Qd250x8Threads4KiBReads) {
    Rig rig({{0, mem_backend(256ull << 20)}}, 8);
    Emulator& emu = rig.emu;
    constexpr std::uint32_t kIo = 4096;
    constexpr std::uint32_t kBlocks = (256u << 20) / kBlock;
    std::atomic<std::uint64_t> done{0}, failed{0};
    const auto seconds = std::chrono::seconds(std::getenv("VSTOR_BENCH_SECONDS") ? std::atoi(std::getenv("VSTOR_BENCH_SECONDS")) : 5);
    const auto start = std::chrono::steady_clock::now();
    const auto until = start + seconds;
    // Four issuing threads; start() blocks while the LUN has 250 outstanding, as StorPort holds them.
    std::vector<std::thread> issuers;
    for (unsigned t = 0; t < 4; ++t)
        issuers.emplace_back([&, t] {
            std::uint32_t lba = t * 7919u * 8u;
            while (std::chrono::steady_clock::now() < until) {
                lba = (lba + 8u * 104729u) % (kBlocks - 8u);
                emu.start(0, 0, cdb_rw10(false, lba, kIo / kBlock), SRB_FLAGS_DATA_IN, kIo, nullptr, 60,
                          [&](Request& r) { (r.status() == SRB_STATUS_SUCCESS ? done : failed).fetch_add(1); });
            }
        });
    for (auto& t : issuers) t.join();
    for (int i = 0; i < 3000 && emu.outstanding() != 0; ++i) std::this_thread::sleep_for(10ms);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(failed.load(), 0u);
    EXPECT_EQ(emu.max_outstanding_seen(0, 0), Emulator::queue_depth());
    std::printf("QD %zu x 8 service threads, 4 KiB reads: %.0f IOPS, %.1f MiB/s over %.1f s\n",
                emu.max_outstanding_seen(0, 0), done.load() / elapsed, done.load() * 4096.0 / elapsed / (1 << 20), elapsed);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// The service channel belongs to the process that CONNECTed: another process that opens the
// adapter can neither take the session over (CONNECT: DEVICE_BUSY) nor act in it, even with the
// right session id (ACCESS_DENIED), and the service's I/O goes on. Session ids are not sequential.
TEST_P(StorPort, ServiceChannelBelongsToTheConnectingProcess) {
    Rig rig({{0, mem_backend(1 << 20)}});
    Emulator& emu = rig.emu;
    const std::uint32_t session = [&] {
        auto* a = static_cast<vs::Adapter*>(emu.device_extension());
        vs::Locked lock(a);
        return a->session;
    }();
    std::vector<std::uint8_t> buf(VSTOR_TRANSACT_MIN_BUFFER);
    const int intruder = 2;
    vstor_bridge_connect c{};
    c.hdr = {VSTOR_BRIDGE_MAGIC, VSTOR_BRIDGE_VERSION, VSTOR_OP_CONNECT, 0, 0};
    c.buffer_size = VSTOR_TRANSACT_MIN_BUFFER;
    std::memcpy(buf.data(), &c, sizeof(c));
    EXPECT_EQ(emu.device_ioctl(intruder, VSTOR_BRIDGE_IOCTL, buf.data(), sizeof(c), static_cast<ULONG>(buf.size())).status,
              STATUS_DEVICE_BUSY);
    for (std::uint16_t op : {VSTOR_OP_DISCONNECT, VSTOR_OP_LUN, VSTOR_OP_TRANSACT, VSTOR_OP_HOLD}) {
        vstor_bridge_lun l{};
        l.hdr = {VSTOR_BRIDGE_MAGIC, VSTOR_BRIDGE_VERSION, op, session, op == VSTOR_OP_TRANSACT ? VSTOR_FLAG_NO_WAIT : 0u};
        std::memcpy(buf.data(), &l, sizeof(l));
        EXPECT_EQ(emu.device_ioctl(intruder, VSTOR_BRIDGE_IOCTL, buf.data(), sizeof(l), static_cast<ULONG>(buf.size())).status,
                  STATUS_ACCESS_DENIED) << "op " << op;
    }
    EXPECT_EQ(driver_stats(emu).disconnects, 0u);
    EXPECT_TRUE(ok(emu.execute(0, 0, cdb_rw10(false, 0, 1), SRB_FLAGS_DATA_IN, kBlock)));
    EXPECT_EQ(emu.devices().size(), 1u);

    // Once the service has gone (DISCONNECT), another process may connect; ids never repeat a
    // pattern a guesser could follow.
    rig.service->stop();
    std::vector<std::uint32_t> ids{session};
    for (int i = 0; i < 8; ++i) {
        std::memcpy(buf.data(), &c, sizeof(c));
        ASSERT_EQ(emu.device_ioctl(3 + i, VSTOR_BRIDGE_IOCTL, buf.data(), sizeof(c), static_cast<ULONG>(buf.size())).status,
                  STATUS_SUCCESS);
        vstor_bridge_connect_reply reply;
        std::memcpy(&reply, buf.data(), sizeof(reply));
        ids.push_back(reply.session);
        vstor_bridge_header bye{VSTOR_BRIDGE_MAGIC, VSTOR_BRIDGE_VERSION, VSTOR_OP_DISCONNECT, reply.session, 0};
        std::memcpy(buf.data(), &bye, sizeof(bye));
        ASSERT_EQ(emu.device_ioctl(3 + i, VSTOR_BRIDGE_IOCTL, buf.data(), sizeof(bye), sizeof(bye)).status, STATUS_SUCCESS);
    }
    for (std::size_t i = 1; i < ids.size(); ++i) {
        EXPECT_NE(ids[i], 0u);
        EXPECT_GT(ids[i] - ids[i - 1], 1000u) << "sequential session ids: " << ids[i - 1] << ", " << ids[i];
    }
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}


// Persistent reservations pass through the bridge untouched (wnbd 61: none, hence no CSV there).
TEST_P(StorPort, PersistentReservationsPassThrough) {
    Rig rig({{0, mem_backend(1 << 20)}});
    Emulator& emu = rig.emu;
    const std::uint8_t key[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    std::vector<std::uint8_t> params(24, 0);
    std::memcpy(params.data() + 8, key, 8);  // REGISTER: service action reservation key
    const std::vector<std::uint8_t> reg = {0x5F, 0x00, 0x00, 0, 0, 0, 0, 0, 24, 0};
    ASSERT_TRUE(ok(execute_as_disk(emu, 0, reg, SRB_FLAGS_DATA_OUT, 24, params.data())));
    std::fill(params.begin(), params.end(), 0);
    std::memcpy(params.data(), key, 8);  // RESERVE, WRITE EXCLUSIVE
    const std::vector<std::uint8_t> reserve = {0x5F, 0x01, 0x01, 0, 0, 0, 0, 0, 24, 0};
    ASSERT_TRUE(ok(execute_as_disk(emu, 0, reserve, SRB_FLAGS_DATA_OUT, 24, params.data())));
    const std::vector<std::uint8_t> read_reservation = {0x5E, 0x01, 0, 0, 0, 0, 0, 0, 24, 0};
    auto r = execute_as_disk(emu, 0, read_reservation, SRB_FLAGS_DATA_IN, 24);
    ASSERT_TRUE(ok(r) || r->status() == SRB_STATUS_DATA_OVERRUN);
    EXPECT_EQ(r->data[7], 16);  // one reservation
    EXPECT_EQ(0, std::memcmp(r->data.data() + 8, key, 8));
    EXPECT_EQ(r->data[21] & 0x0F, 0x01);  // WRITE EXCLUSIVE
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// The emulator's rule checks themselves: a second RequestComplete for a finished SRB, an SRB
// outliving its TimeOutValue and a PASSIVE_LEVEL routine called under a spin lock are all reported
// (so the "no violations" assertions above can fail).
TEST_P(StorPortEmulator, ReportsBrokenRules) {
    auto gated = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    Rig rig({{0, gated}}, 2);
    Emulator& emu = rig.emu;
    const std::uint8_t tur[6] = {0};
    auto r = emu.execute(0, 0, tur, 0, 0);
    ASSERT_TRUE(r->completed.load());
    ASSERT_TRUE(rig.violations().empty());
    VsRequestComplete(emu.device_extension(), &r->srb);  // what a buggy miniport does
    ASSERT_EQ(rig.violations().size(), 1u);
    EXPECT_NE(rig.violations()[0].find("not outstanding"), std::string::npos);

    gated->close();
    auto slow = emu.start(0, 0, cdb_rw10(false, 0, 1), SRB_FLAGS_DATA_IN, kBlock, nullptr, 1);
    std::this_thread::sleep_for(1500ms);
    gated->open();
    ASSERT_TRUE(emu.wait(slow));
    auto v = rig.violations();
    ASSERT_EQ(v.size(), 2u);
    EXPECT_NE(v[1].find("TimeOutValue"), std::string::npos);

    {
        // A PASSIVE_LEVEL-only routine under the driver's spin lock (DISPATCH_LEVEL).
        vs::Locked lock(static_cast<vs::Adapter*>(emu.device_extension()));
        UNICODE_STRING empty{};
        RtlFreeUnicodeString(&empty);
    }
    v = rig.violations();
    ASSERT_EQ(v.size(), 3u);
    EXPECT_NE(v[2].find("above PASSIVE_LEVEL"), std::string::npos);
}
