// vstor-storport.exe: the vstor engine serving RAM disks to vstor.sys on Windows, through the bridge
// service (src/bridge) and the device-interface channel. A stand-in for `vstor.exe serve --storport`
// until the CLI builds for Windows: same engine, `mem` backends only (the file backend needs
// liburing), no iSCSI/NBD. Cross-built with mingw-w64; never run on Windows yet.
//
//   vstor-storport.exe [--threads N] --mem SIZE [--mem SIZE ...]     SIZE: bytes, or with K/M/G/T
//   vstor-storport.exe --self-test --mem SIZE    run CDBs through the engine, no driver (Wine smoke test)
//   vstor-storport.exe --connect 127.0.0.1:PORT --mem SIZE   IOCTLs over TCP to the Linux StorPort
//                                                            emulator (tests under Wine only)
#include <windows.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "bridge/service.hpp"
#include "bridge/tcp_channel.hpp"
#include "bridge/win32_channel.hpp"
#include "vstor/adapter.hpp"

namespace {

std::atomic<bool> g_stop{false};

BOOL WINAPI on_console_event(DWORD) {
    g_stop = true;
    return TRUE;
}

bool parse_size(const std::string& s, std::uint64_t& out) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (end == s.c_str()) return false;
    std::uint64_t mult = 1;
    switch (*end) {
        case '\0': break;
        case 'K': case 'k': mult = 1ull << 10; ++end; break;
        case 'M': case 'm': mult = 1ull << 20; ++end; break;
        case 'G': case 'g': mult = 1ull << 30; ++end; break;
        case 'T': case 't': mult = 1ull << 40; ++end; break;
        default: return false;
    }
    if (*end != '\0' || v == 0) return false;
    out = v * mult;
    return true;
}

// Drives the engine the way the bridge would, without a driver: INQUIRY, READ CAPACITY(10),
// REPORT LUNS, a written pattern read back. Proves the Windows build of the engine runs.
int self_test(vstor::Adapter& adapter) {
    auto nexus = adapter.open_nexus(0, "vstor-storport-self-test");
    auto run = [&](std::vector<std::uint8_t> cdb, vstor::DataDirection dir, std::vector<std::uint8_t>& data) {
        vstor::Command cmd;
        cmd.nexus = nexus;
        cmd.lun = vstor::encode_sam_lun(0);
        std::copy(cdb.begin(), cdb.end(), cmd.cdb.begin());
        cmd.cdb_len = static_cast<std::uint8_t>(cdb.size());
        cmd.dir = dir;
        cmd.expected_length = static_cast<std::uint32_t>(data.size());
        cmd.data = std::span<std::byte>(reinterpret_cast<std::byte*>(data.data()), data.size());
        std::promise<vstor::Completion> done;
        auto f = done.get_future();
        adapter.submit(std::move(cmd), [&done](const vstor::Completion& c) { done.set_value(c); });
        return f.get();
    };
    std::vector<std::uint8_t> inq(96), cap(8), luns(64), pattern(4096), back(4096), none;
    for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::uint8_t>(i * 7 + 3);
    // The first command after the nexus opens may report a UNIT ATTENTION (power on): retry once.
    auto c = run({0x00, 0, 0, 0, 0, 0}, vstor::DataDirection::none, none);
    if (c.status != 0) c = run({0x00, 0, 0, 0, 0, 0}, vstor::DataDirection::none, none);
    const bool tur = c.status == 0;
    const bool inquiry = run({0x12, 0, 0, 0, 96, 0}, vstor::DataDirection::read, inq).status == 0 &&
                         std::string(inq.begin() + 8, inq.begin() + 13) == "VSTOR";
    const bool capacity = run({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, vstor::DataDirection::read, cap).status == 0;
    const bool report = run({0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0}, vstor::DataDirection::read, luns).status == 0;
    const bool write = run({0x2A, 0, 0, 0, 0, 16, 0, 0, 8, 0}, vstor::DataDirection::write, pattern).status == 0;
    const bool read = run({0x28, 0, 0, 0, 0, 16, 0, 0, 8, 0}, vstor::DataDirection::read, back).status == 0;
    const bool same = back == pattern;
    std::printf("self-test: TEST UNIT READY %s, INQUIRY %s, READ CAPACITY %s (last LBA %u), REPORT LUNS %s, "
                "WRITE %s, READ %s, data %s\n",
                tur ? "ok" : "FAIL", inquiry ? "ok" : "FAIL", capacity ? "ok" : "FAIL",
                (unsigned{cap[0]} << 24) | (unsigned{cap[1]} << 16) | (unsigned{cap[2]} << 8) | cap[3],
                report ? "ok" : "FAIL", write ? "ok" : "FAIL", read ? "ok" : "FAIL", same ? "ok" : "MISMATCH");
    adapter.nexus_lost(nexus);
    return tur && inquiry && capacity && report && write && read && same ? 0 : 1;
}

int usage() {
    std::fprintf(stderr, "usage: vstor-storport [--threads N | --self-test] --mem SIZE [--mem SIZE ...]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    unsigned threads = 8;
    bool self = false;
    std::string connect;
    std::vector<std::uint64_t> sizes;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--self-test") {
            self = true;
        } else if (arg == "--connect" && i + 1 < argc) {
            connect = argv[++i];
        } else if (arg == "--threads" && i + 1 < argc) {
            threads = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
        } else if (arg == "--mem" && i + 1 < argc) {
            std::uint64_t size = 0;
            if (!parse_size(argv[++i], size) || size % 512 != 0) return usage();
            sizes.push_back(size);
        } else {
            return usage();
        }
    }
    if (sizes.empty() || sizes.size() > 8 || threads == 0) return usage();

    auto adapter = vstor::Adapter::create("vstor-storport");
    auto target = adapter->add_target("iqn.2026-12.org.vstor:storport");
    if (!target || *target.value != 0) {
        std::fprintf(stderr, "vstor-storport: cannot create the target: %s\n", target.error.c_str());
        return 1;
    }
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        auto st = adapter->add_lun(0, static_cast<std::uint16_t>(i),
                                   std::make_shared<vstor::backends::MemBackend>(sizes[i]));
        if (!st) {
            std::fprintf(stderr, "vstor-storport: LUN %zu: %s\n", i, st.error.c_str());
            return 1;
        }
    }
    if (self) return self_test(*adapter);
    std::string error;
    std::unique_ptr<vstor::bridge::Channel> channel;
    if (connect.empty()) {
        channel = vstor::bridge::Win32Channel::open(error);
    } else {
        const auto colon = connect.rfind(':');
        if (colon == std::string::npos) return usage();
        channel = vstor::bridge::TcpChannel::connect(
            connect.substr(0, colon), static_cast<std::uint16_t>(std::strtoul(connect.c_str() + colon + 1, nullptr, 10)),
            error);
    }
    if (!channel) {
        std::fprintf(stderr, "vstor-storport: %s\n", error.c_str());
        return 1;
    }
    vstor::bridge::ServiceOptions opts;
    opts.threads = threads;
    vstor::bridge::Service service(*adapter, *channel, opts);
    if (auto st = service.start(); !st) {
        std::fprintf(stderr, "vstor-storport: %s\n", st.error.c_str());
        return 1;
    }
    std::printf("vstor-storport: serving %zu LUN(s), session %u; Ctrl+C to stop\n", sizes.size(), service.session());
    std::fflush(stdout);
    SetConsoleCtrlHandler(on_console_event, TRUE);
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    service.stop();
    adapter->flush_all();
    return 0;
}
