// The rig the engine-backed storport tests share: vstor.sys (native or a PE image) started under
// the emulator, the real engine with `mem` backends behind the bridge service, a backend that can
// hold I/O (a slow or hung disk) and the service's DeviceIoControl as an emulated process.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "bridge/service.hpp"
#include "storport_sim.hpp"
#include "tests/driver_image.hpp"
#include "tests/storport_helpers.hpp"

namespace vstor::storport_sim::test {

inline std::shared_ptr<vstor::Backend> mem_backend(std::uint64_t bytes) {
    return std::make_shared<vstor::backends::MemBackend>(bytes, kBlock);
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
    vstor::bridge::IoctlResult ioctl(const void* in, std::uint32_t in_len, void* out, std::uint32_t out_len,
                                     std::uint32_t) override {
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

}  // namespace vstor::storport_sim::test
