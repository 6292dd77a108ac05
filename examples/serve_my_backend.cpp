// Serve your own storage over iSCSI and NBD with nothing but the installed SDK (docs/sdk.md):
//   c++ -std=c++20 serve_my_backend.cpp $(pkg-config --cflags --libs vstor) -o serve_my_backend
//   ./serve_my_backend [ISCSI-PORT [NBD-PORT]]     (0 = any free port; Ctrl-C stops it)
#include <vstor/iscsi_server.hpp>
#include <vstor/nbd_server.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

// 64 MiB of RAM. Memory is immediate, so every call completes inline, after the lock (contract v1).
class RamDisk final : public vstor::Backend {
public:
    std::string kind() const override { return "ram"; }
    std::uint32_t block_size() const override { return 512; }
    std::uint64_t block_count() const override { return bytes_.size() / 512; }
    vstor::BackendCaps caps() const override { return {}; }
    void read(std::uint64_t lba, std::span<std::byte> buf, vstor::IoCallback done) override {
        { std::lock_guard lock(mu_); std::memcpy(buf.data(), &bytes_[lba * 512], buf.size()); }
        done(vstor::IoStatus::ok);
    }
    void write(std::uint64_t lba, std::span<const std::byte> buf, bool, vstor::IoCallback done) override {
        { std::lock_guard lock(mu_); std::memcpy(&bytes_[lba * 512], buf.data(), buf.size()); }
        done(vstor::IoStatus::ok);
    }
    void flush(vstor::IoCallback done) override { done(vstor::IoStatus::ok); }

private:
    std::mutex mu_;
    std::vector<std::byte> bytes_ = std::vector<std::byte>(64 << 20);
};

int main(int argc, char** argv) {
    sigset_t stop_signals;  // blocked before any server thread starts, then awaited below
    sigemptyset(&stop_signals), sigaddset(&stop_signals, SIGINT), sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    auto adapter = vstor::Adapter::create();
    const auto target = *adapter->add_target("iqn.2026-12.org.example:ramdisk").value;
    adapter->add_lun(target, 0, std::make_shared<RamDisk>());
    vstor::IscsiServerOptions iscsi_options;  // every target, under its own name
    vstor::NbdServerOptions nbd_options;      // every LUN: lun0
    if (argc > 1) iscsi_options.port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    if (argc > 2) nbd_options.port = static_cast<std::uint16_t>(std::atoi(argv[2]));
    auto iscsi = vstor::IscsiServer::create(iscsi_options, *adapter);
    auto nbd = vstor::NbdServer::create(nbd_options, *adapter);
    if (!iscsi || !nbd) return std::fprintf(stderr, "%s\n", (iscsi ? nbd.error : iscsi.error).c_str()), 1;
    iscsi.value->start();
    nbd.value->start();
    std::printf("iscsi://127.0.0.1:%u/iqn.2026-12.org.example:ramdisk/0\nnbd://127.0.0.1:%u/lun0\n",
                iscsi.value->port(), nbd.value->port());
    std::fflush(stdout);

    int signal = 0;
    sigwait(&stop_signals, &signal);
    nbd.value->stop();  // the servers first, then the disk they serve
    iscsi.value->stop();
    return adapter->flush_all() ? 0 : 1;
}
