// The storport tests that need no engine in this process, so they also run in the 32-bit emulator
// against the x86 image: a hand-written service sending malformed and random replies, and the
// real `vstor serve --storport-connect` (a 64-bit process) serving the emulated driver over TCP.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ioctl_server.hpp"
#include "miniport.h"
#include "storport_sim.hpp"
#include "tests/driver_image.hpp"
#include "tests/hand_service.hpp"
#include "tests/storport_helpers.hpp"

using namespace std::chrono_literals;
using namespace vstor::storport_sim::test;
using vstor::storport_sim::Emulator;
using vstor::storport_sim::Request;
using vstor::storport_sim::RequestPtr;

namespace {

// A hand-driven service that fetches the READs the storage stack issues and answers each with a
// reply it composes, well-formed or not. Connected, with LUN 0 announced, by the HandService.
struct ReadReplier {
    Emulator& emu;
    std::uint32_t session;
    std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(VSTOR_TRANSACT_MIN_BUFFER);

    vstor::storport_sim::IoctlResult ioctl(std::uint32_t in_len) {
        return emu.device_ioctl(1, VSTOR_BRIDGE_IOCTL, buf.data(), in_len, static_cast<ULONG>(buf.size()));
    }
    void header(std::uint16_t op, std::uint32_t to_session, std::uint32_t flags) {
        vstor_bridge_header h{VSTOR_BRIDGE_MAGIC, VSTOR_BRIDGE_VERSION, op, to_session, flags};
        std::memcpy(buf.data(), &h, sizeof(h));
    }
    // Issues a 4 KiB READ and fetches its request; anything else (the PnP rescan's INQUIRY) is
    // answered "no device". Returns the request's tag.
    std::uint64_t fetch(RequestPtr& r) {
        r = emu.start(0, 0, cdb_rw10(false, 0, 8), SRB_FLAGS_DATA_IN, 4096);
        header(VSTOR_OP_TRANSACT, session, VSTOR_FLAG_NO_WAIT);
        vstor_bridge_request req{};
        std::uint32_t in_len = sizeof(vstor_bridge_header);
        for (int i = 0; i < 1000; ++i) {
            EXPECT_EQ(ioctl(in_len).status, STATUS_SUCCESS);
            std::memcpy(&req, buf.data() + sizeof(vstor_bridge_header), sizeof(req));
            if (req.kind == VSTOR_REQ_SCSI && req.cdb[0] == 0x28) break;
            header(VSTOR_OP_TRANSACT, session, VSTOR_FLAG_NO_WAIT);
            in_len = sizeof(vstor_bridge_header);
            if (req.kind == VSTOR_REQ_SCSI) {
                vstor_bridge_completion comp{};
                comp.tag = req.tag;
                comp.result = VSTOR_RESULT_NO_DEVICE;
                std::memcpy(buf.data() + sizeof(vstor_bridge_header), &comp, sizeof(comp));
                header(VSTOR_OP_TRANSACT, session, VSTOR_FLAG_NO_WAIT | VSTOR_FLAG_HAS_COMPLETION);
                in_len = VSTOR_TRANSACT_IN_DATA_OFFSET;
            }
        }
        EXPECT_EQ(req.kind, VSTOR_REQ_SCSI);
        EXPECT_EQ(req.data_length, 4096u);
        EXPECT_EQ(req.direction, VSTOR_DIR_IN);
        return req.tag;
    }
    // Replies to `tag` with data bytes 0xEE; the lengths, session and magic are the caller's to get wrong.
    // `out_len`: the service's buffer (direct I/O), which holds the data-in; the input ends before it.
    NTSTATUS reply_with(std::uint64_t tag, std::uint32_t data_length, std::uint32_t out_len, std::uint8_t sense_len = 0,
                        std::uint32_t session_override = 0, std::uint32_t magic = VSTOR_BRIDGE_MAGIC) {
        header(VSTOR_OP_TRANSACT, session_override ? session_override : session,
               VSTOR_FLAG_HAS_COMPLETION | VSTOR_FLAG_NO_WAIT);
        std::memcpy(buf.data(), &magic, sizeof(magic));
        vstor_bridge_completion comp{};
        comp.tag = tag;
        comp.result = VSTOR_RESULT_OK;
        comp.data_length = data_length;
        comp.sense_length = sense_len;
        std::memcpy(buf.data() + sizeof(vstor_bridge_header), &comp, sizeof(comp));
        std::memset(buf.data() + VSTOR_TRANSACT_IN_DATA_OFFSET, 0xEE, 8192);
        return emu.device_ioctl(1, VSTOR_BRIDGE_IOCTL, buf.data(), VSTOR_TRANSACT_IN_DATA_OFFSET, out_len).status;
    }
};

}  // namespace

// A hand-driven service that sends malformed replies: each is refused without touching memory the
// reply does not own (the SRB buffer's guard bytes stay intact), and an SRB is completed once.
TEST_P(StorPort, MalformedRepliesAreRejected) {
    Emulator emu{driver()};
    ASSERT_EQ(emu.load_driver(), STATUS_SUCCESS);
    std::string why;
    ASSERT_TRUE(emu.start_adapter(&why)) << why;
    HandService svc{emu, 1};
    ASSERT_EQ(svc.connect(), STATUS_SUCCESS);
    ASSERT_NE(svc.session, 0u);
    ASSERT_EQ(svc.announce_lun0(), STATUS_SUCCESS);
    ReadReplier s{emu, svc.session};
    const std::uint32_t full = VSTOR_TRANSACT_IN_DATA_OFFSET + 4096;

    RequestPtr r1;
    const std::uint64_t t1 = s.fetch(r1);
    EXPECT_EQ(s.reply_with(vs::kMaxSlots + 5, 4096, full), STATUS_INVALID_PARAMETER);           // no such slot
    EXPECT_EQ(s.reply_with(t1, 4096, full, 0, 0, 0x12345678), STATUS_REVISION_MISMATCH);         // bad magic
    EXPECT_EQ(s.reply_with(t1, 4096, full, 0, s.session + 7), STATUS_DEVICE_NOT_CONNECTED);     // other session
    EXPECT_FALSE(r1->completed.load());  // none of those touched the SRB
    EXPECT_EQ(s.reply_with(t1, 4096, VSTOR_TRANSACT_IN_DATA_OFFSET + 100), STATUS_INVALID_PARAMETER);  // buffer shorter than its data
    ASSERT_TRUE(emu.wait(r1));
    EXPECT_EQ(r1->status(), SRB_STATUS_ERROR);
    EXPECT_TRUE(std::all_of(r1->data.begin(), r1->data.begin() + 4096, [](std::uint8_t b) { return b == 0; }));
    EXPECT_TRUE(r1->guard_intact());

    RequestPtr r2;
    const std::uint64_t t2 = s.fetch(r2);
    EXPECT_EQ(s.reply_with(t2, 8192, VSTOR_TRANSACT_IN_DATA_OFFSET + 8192), STATUS_INVALID_PARAMETER);  // longer than the SRB
    ASSERT_TRUE(emu.wait(r2));
    EXPECT_EQ(r2->status(), SRB_STATUS_ERROR);
    EXPECT_TRUE(r2->guard_intact());

    RequestPtr r3;
    const std::uint64_t t3 = s.fetch(r3);
    EXPECT_EQ(s.reply_with(t3, 0, full, 253), STATUS_INVALID_PARAMETER);  // sense longer than the protocol allows
    ASSERT_TRUE(emu.wait(r3));
    EXPECT_EQ(r3->status(), SRB_STATUS_ERROR);

    RequestPtr r4;
    const std::uint64_t t4 = s.fetch(r4);
    EXPECT_EQ(s.reply_with(t4, 4096, full), STATUS_SUCCESS);
    ASSERT_TRUE(emu.wait(r4));
    EXPECT_EQ(r4->status(), SRB_STATUS_SUCCESS);
    EXPECT_TRUE(std::all_of(r4->data.begin(), r4->data.begin() + 4096, [](std::uint8_t b) { return b == 0xEE; }));
    EXPECT_TRUE(r4->guard_intact());
    const auto stale_before = driver_stats(emu).stale_replies;
    EXPECT_EQ(s.reply_with(t4, 4096, full), STATUS_SUCCESS);  // a second reply to a finished request: ignored
    EXPECT_EQ(driver_stats(emu).stale_replies, stale_before + 1);
    EXPECT_EQ(driver_stats(emu).rejected_replies, 4u);

    s.header(99, s.session, 0);
    EXPECT_EQ(s.ioctl(sizeof(vstor_bridge_header)).status, STATUS_INVALID_PARAMETER);  // unknown op
    EXPECT_EQ(emu.device_ioctl(1, 0x12345, s.buf.data(), 16, 16).status, STATUS_INVALID_DEVICE_REQUEST);
    s.header(VSTOR_OP_TRANSACT, s.session, 0);
    EXPECT_EQ(emu.device_ioctl(1, VSTOR_BRIDGE_IOCTL, s.buf.data(), 16, 1024).status,
              STATUS_BUFFER_TOO_SMALL);  // buffer cannot hold a maximum transfer
    emu.stop_adapter();
    auto v = emu.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// Thousands of random replies (real, stale and invented tags; lengths that fit, overflow or lie;
// random results, sense lengths and flags) against live SRBs: the driver never writes outside an
// SRB's buffer, never completes an SRB twice, and every SRB still completes. Run it under ASan too.
TEST_P(StorPort, RandomRepliesNeverCorruptMemoryOrCompleteTwice) {
    Emulator emu{driver()};
    ASSERT_EQ(emu.load_driver(), STATUS_SUCCESS);
    std::string why;
    ASSERT_TRUE(emu.start_adapter(&why)) << why;
    std::vector<std::uint8_t> buf(VSTOR_TRANSACT_MIN_BUFFER);
    auto ioctl = [&](std::uint32_t in_len, std::uint32_t out_len) {
        return emu.device_ioctl(1, VSTOR_BRIDGE_IOCTL, buf.data(), in_len, out_len);
    };
    HandService svc{emu, 1};
    ASSERT_EQ(svc.connect(), STATUS_SUCCESS);
    ASSERT_EQ(svc.announce_lun0(), STATUS_SUCCESS);
    const std::uint32_t session = svc.session;

    std::mt19937_64 rng(20261201);
    std::vector<RequestPtr> all;
    std::vector<vstor_bridge_request> handed;  // requests the "service" received
    std::vector<std::uint8_t> payload(8 * kBlock);
    for (int iter = 0; iter < 4000; ++iter) {
        if (emu.outstanding() < 32) {
            const std::uint16_t blocks = static_cast<std::uint16_t>(rng() % 9);
            const bool write = rng() & 1;
            for (auto& b : payload) b = static_cast<std::uint8_t>(rng());
            all.push_back(emu.start(0, 0, cdb_rw10(write, static_cast<std::uint32_t>(rng() % 1000), blocks),
                                    blocks ? (write ? SRB_FLAGS_DATA_OUT : SRB_FLAGS_DATA_IN) : 0, blocks * kBlock,
                                    write ? payload.data() : nullptr));
        }
        vstor_bridge_header h{VSTOR_BRIDGE_MAGIC, VSTOR_BRIDGE_VERSION, VSTOR_OP_TRANSACT, session,
                              VSTOR_FLAG_NO_WAIT};
        std::uint32_t in_len = sizeof(h);
        if (rng() % 4 != 0) {  // a completion, usually malformed in some way
            h.flags |= VSTOR_FLAG_HAS_COMPLETION;
            vstor_bridge_completion comp{};
            const vstor_bridge_request* real = handed.empty() ? nullptr : &handed[rng() % handed.size()];
            switch (rng() % 4) {
                case 0: comp.tag = rng(); break;                                               // invented
                case 1: comp.tag = real ? real->tag + (std::uint64_t{1} << 32) : rng(); break;  // wrong generation
                default: comp.tag = real ? real->tag : rng() % vs::kMaxSlots; break;          // real (maybe finished)
            }
            const std::uint32_t want = real ? real->data_length : 4096;
            switch (rng() % 4) {
                case 0: comp.data_length = want; break;
                case 1: comp.data_length = want + 1 + static_cast<std::uint32_t>(rng() % 4096); break;
                case 2: comp.data_length = static_cast<std::uint32_t>(rng()); break;
                default: comp.data_length = want ? static_cast<std::uint32_t>(rng() % want) : 0; break;
            }
            comp.result = static_cast<std::uint32_t>(rng() % 6);
            comp.scsi_status = static_cast<std::uint8_t>(rng() % 3 == 0 ? 0x02 : 0);
            comp.sense_length = static_cast<std::uint8_t>(rng() % 3 == 0 ? rng() : 18);
            std::memcpy(buf.data() + sizeof(h), &comp, sizeof(comp));
            in_len = static_cast<std::uint32_t>(rng() % 3 == 0 ? rng() % buf.size() : VSTOR_TRANSACT_IN_DATA_OFFSET + comp.data_length);
            in_len = std::min<std::uint32_t>(in_len, static_cast<std::uint32_t>(buf.size()));
        }
        if (rng() % 50 == 0) h.magic ^= 1;
        if (rng() % 50 == 0) h.session += 1;
        std::memcpy(buf.data(), &h, sizeof(h));
        const std::uint32_t out_len = rng() % 20 == 0 ? static_cast<std::uint32_t>(rng() % buf.size()) : static_cast<std::uint32_t>(buf.size());
        const auto r = ioctl(std::max<std::uint32_t>(in_len, 16), std::max<std::uint32_t>(out_len, std::max<std::uint32_t>(in_len, 16)));
        if (r.status == STATUS_SUCCESS && r.information >= VSTOR_TRANSACT_OUT_DATA_OFFSET) {
            vstor_bridge_request req;
            std::memcpy(&req, buf.data() + sizeof(vstor_bridge_header), sizeof(req));
            if (req.kind == VSTOR_REQ_SCSI) handed.push_back(req);
        }
    }
    // An orderly goodbye fails whatever is left; every SRB has completed exactly once.
    vstor_bridge_header bye{VSTOR_BRIDGE_MAGIC, VSTOR_BRIDGE_VERSION, VSTOR_OP_DISCONNECT, session, 0};
    std::memcpy(buf.data(), &bye, sizeof(bye));
    EXPECT_EQ(ioctl(sizeof(bye), sizeof(bye)).status, STATUS_SUCCESS);
    std::size_t succeeded = 0;
    for (auto& r : all) {
        ASSERT_TRUE(emu.wait(r, 5s));
        EXPECT_TRUE(r->guard_intact());
        succeeded += ok(r);
    }
    EXPECT_GT(handed.size(), 100u);
    EXPECT_GT(driver_stats(emu).rejected_replies, 100u);
    EXPECT_GT(driver_stats(emu).stale_replies, 100u);
    emu.stop_adapter();
    auto v = emu.violations();
    EXPECT_TRUE(v.empty()) << v.front();
    std::printf("%zu SRBs, %zu handed to the service, %zu succeeded, %u replies rejected, %u stale\n", all.size(),
                handed.size(), succeeded, driver_stats(emu).rejected_replies, driver_stats(emu).stale_replies);
}

namespace {

// `vstor serve --storport-connect` as a separate process: the service side of the bridge inside the
// real CLI, its IOCTLs carried over TCP to this process's emulated vstor.sys (windows/sim/ioctl_server).
// Run twice: the Linux `vstor`, and the Windows `vstor.exe` under Wine. The LUNs appear on the
// emulated bus, READ CAPACITY and 100 verified random writes/reads go through the external service,
// a pattern written through StorPort is read back over iSCSI from the same server (the same LUN
// objects; qemu-io), then the process is killed with 200 writes issued: each either completed or
// failed with NO_DEVICE, the disks disappear, no IRP is left.
struct ExternalService {
    std::vector<std::string> argv;  // before "serve ..."
    bool wine = false;
};

std::uint16_t free_tcp_port() {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        a.sin_port = 0;
    ::close(s);
    return ntohs(a.sin_port);
}

// Starts `vstor serve --storport-connect ENDPOINT` with two mem LUNs and an iSCSI target on
// `iscsi_port`; returns the child's pid.
pid_t start_service(const ExternalService& svc, const std::string& endpoint, const std::string& iqn,
                    std::uint16_t iscsi_port) {
    std::vector<std::string> args = svc.argv;
    for (const char* a : {"serve", "--storport-connect"}) args.emplace_back(a);
    args.push_back(endpoint);
    for (const char* a : {"--storport-threads", "4", "--lun", "mem:16M", "--lun", "mem:8M", "--control", "off",
                          "--target"})
        args.emplace_back(a);
    args.push_back(iqn);
    args.push_back("--listen");
    args.push_back("127.0.0.1:" + std::to_string(iscsi_port));
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (svc.wine) {
            ::setenv("WINEPREFIX", VSTOR_WINEPREFIX_PATH, 1);
            ::setenv("WINEDEBUG", "-all", 1);
            ::setenv("WINEDLLOVERRIDES", "mscoree,mshtml=", 1);
        }
        std::vector<char*> cargs;
        for (auto& a : args) cargs.push_back(a.data());
        cargs.push_back(nullptr);
        ::execv(cargs[0], cargs.data());
        ::_exit(127);
    }
    return pid;
}

// READ CAPACITY of LUN 1, then 100 random writes, each read back, through the external service.
void check_io_through_service(Emulator& emu) {
    const std::uint8_t cap10[10] = {0x25};
    auto cap = execute_as_disk(emu, 1, {cap10, cap10 + 10}, SRB_FLAGS_DATA_IN, 8);
    ASSERT_TRUE(ok(cap));
    EXPECT_EQ((cap->data[0] << 24) | (cap->data[1] << 16) | (cap->data[2] << 8) | cap->data[3], (8 << 20) / 512 - 1);
    std::mt19937 rng(11);
    for (unsigned i = 0; i < 100; ++i) {
        const std::uint8_t lun = i & 1;
        const std::uint16_t blocks = static_cast<std::uint16_t>(1 + rng() % 64);
        const std::uint32_t lba = static_cast<std::uint32_t>(rng() % (8000 - blocks));
        std::vector<std::uint8_t> data(blocks * kBlock);
        for (auto& b : data) b = static_cast<std::uint8_t>(rng());
        ASSERT_TRUE(ok(execute_as_disk(emu, lun, cdb_rw10(true, lba, blocks), SRB_FLAGS_DATA_OUT, data.size(), data.data())));
        auto r = emu.execute(0, lun, cdb_rw10(false, lba, blocks), SRB_FLAGS_DATA_IN, data.size());
        ASSERT_TRUE(ok(r));
        ASSERT_EQ(0, std::memcmp(r->data.data(), data.data(), data.size())) << "op " << i;
    }
}

// Written through StorPort at 4 MiB on LUN 1, read over iSCSI from the same server (qemu-io).
void check_iscsi_sees_storport_writes(Emulator& emu, std::uint16_t iscsi_port, const std::string& iqn) {
    std::vector<std::uint8_t> pattern(256 * kBlock, 0xc3);
    ASSERT_TRUE(ok(execute_as_disk(emu, 1, cdb_rw10(true, 8192, 256), SRB_FLAGS_DATA_OUT, pattern.size(), pattern.data())));
    if (::access("/usr/bin/qemu-io", X_OK) != 0) return;
    const std::string cmd = "qemu-io -f raw -c 'read -P 0xc3 4M 128k' iscsi://127.0.0.1:" + std::to_string(iscsi_port) +
                            "/" + iqn + "/1 2>&1";
    std::string out;
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
        char line[512];
        while (std::fgets(line, sizeof line, f)) out += line;
        EXPECT_EQ(::pclose(f), 0) << out;
    }
    EXPECT_NE(out.find("read 131072/131072 bytes"), std::string::npos) << out;
    EXPECT_EQ(out.find("Pattern verification failed"), std::string::npos) << out;
}

// Kills the service with 200 writes issued: each completes or fails with NO_DEVICE, the IOCTL
// server sees the process gone, the disks disappear and no service IRP is left.
void kill_with_writes_in_flight(Emulator& emu, vstor::storport_sim::IoctlServer& server, pid_t pid) {
    std::vector<RequestPtr> inflight;
    std::vector<std::uint8_t> block(64 * kBlock, 0x99);
    for (unsigned i = 0; i < 200; ++i)
        inflight.push_back(emu.start(0, i & 1, cdb_rw10(true, i * 64, 64), SRB_FLAGS_DATA_OUT, block.size(), block.data(), 30));
    const unsigned rescans = emu.rescans();
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    ::waitpid(pid, &wstatus, 0);
    unsigned failed = 0;
    for (auto& r : inflight) {
        ASSERT_TRUE(emu.wait(r, 15s));
        EXPECT_TRUE(r->status() == SRB_STATUS_SUCCESS || r->status() == SRB_STATUS_NO_DEVICE) << int(r->status());
        EXPECT_TRUE(r->guard_intact());
        failed += r->status() == SRB_STATUS_NO_DEVICE;
    }
    std::printf("killed with %zu writes issued: %u failed with NO_DEVICE, %zu had completed\n", inflight.size(), failed,
                inflight.size() - failed);
    // The IOCTL server notices the closed connections on its own threads (all writes may have
    // completed before the kill, so nothing above waited for that).
    for (int i = 0; i < 1000 && (!server.process_gone() || driver_stats(emu).disconnects == 0); ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(server.process_gone());
    EXPECT_EQ(driver_stats(emu).disconnects, 1u);
    EXPECT_TRUE(emu.wait_for_rescan(rescans + 1, 10s));
    EXPECT_TRUE(emu.devices().empty());
    EXPECT_EQ(settled_service_irps(emu), 0u);
}

void serve_emulated_driver_from(const ExternalService& svc) {
    Emulator emu{driver()};
    ASSERT_EQ(emu.load_driver(), STATUS_SUCCESS);
    std::string why;
    ASSERT_TRUE(emu.start_adapter(&why)) << why;
    vstor::storport_sim::IoctlServer server(emu, 7);
    ASSERT_NE(server.port(), 0);
    const std::uint16_t iscsi_port = free_tcp_port();
    ASSERT_NE(iscsi_port, 0);
    const std::string iqn = "iqn.2026-12.org.vstor:storport";
    const pid_t pid = start_service(svc, "127.0.0.1:" + std::to_string(server.port()), iqn, iscsi_port);
    ASSERT_GE(pid, 0);
    struct Reaper {  // the child never outlives a failed assertion
        pid_t pid;
        ~Reaper() {
            if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
        }
    } reaper{pid};
    for (int i = 0; i < 1200 && emu.devices().size() < 2; ++i) std::this_thread::sleep_for(100ms);
    ASSERT_EQ(emu.devices().size(), 2u) << "the service did not bring its LUNs up";

    check_io_through_service(emu);
    if (::testing::Test::HasFatalFailure()) return;
    check_iscsi_sees_storport_writes(emu, iscsi_port, iqn);
    if (::testing::Test::HasFatalFailure()) return;
    reaper.pid = 0;  // reaped below
    kill_with_writes_in_flight(emu, server, pid);
    emu.stop_adapter();
    auto v = emu.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

}  // namespace


TEST_P(StorPortExternal, VstorServeStorportConnectServesTheEmulatedDriver) {
    serve_emulated_driver_from({{VSTOR_CLI_PATH}, false});
}

#if defined(VSTOR_TEST_HAS_NATIVE_DRIVER)  // the 64-bit test binary only
// Outside Windows there is no adapter: `serve --storport` says so in one line and exits 2.
TEST(StorPortCli, StorportWithoutAnAdapterFailsWithOneLine) {
    const std::string cmd = std::string(VSTOR_CLI_PATH) + " serve --storport --lun mem:1M --control off 2>&1";
    std::string out;
    FILE* f = ::popen(cmd.c_str(), "r");
    ASSERT_NE(f, nullptr);
    char line[512];
    while (std::fgets(line, sizeof line, f)) out += line;
    const int status = ::pclose(f);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2);
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    EXPECT_NE(out.find("vstor: --storport: the vstor.sys adapter exists only on Windows"), std::string::npos) << out;
}

// The Windows build (vstor.exe, under Wine). Built by storport.windows_build (a CTest fixture).
TEST(StorPortWine, VstorExeServeStorportConnectServesTheEmulatedDriver) {
    const std::string exe = VSTOR_EXE_PATH;
    std::string wine = "/usr/lib/wine/wine64";
    if (::access(wine.c_str(), X_OK) != 0) wine = "/usr/bin/wine64";
    if (::access(wine.c_str(), X_OK) != 0) GTEST_SKIP() << "needs wine64";
    ASSERT_EQ(::access(exe.c_str(), R_OK), 0) << exe << " missing (cmake --build BUILD --target vstor_exe)";
    serve_emulated_driver_from({{wine, exe}, true});
}
#endif
