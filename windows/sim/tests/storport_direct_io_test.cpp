// The channel's data path is direct I/O: an SRB's data-out is copied once, by the driver, straight
// into the service's own buffer (the IOCTL's MDL), and a reply's data-in once out of it, outside
// the adapter's lock; the I/O manager copies only the few hundred bytes of each operation. Fails if
// the protocol or the driver goes back to METHOD_BUFFERED copies. Needs no engine: it runs against
// the native driver and both images (the x86 one in the 32-bit emulator).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernel_exports.hpp"
#include "miniport.h"
#include "storport_sim.hpp"
#include "tests/driver_image.hpp"
#include "tests/hand_service.hpp"
#include "tests/storport_helpers.hpp"

using namespace vstor::storport_sim::test;
using vstor::storport_sim::Emulator;
using vstor::storport_sim::RequestPtr;

namespace {

constexpr std::uint32_t kInData = VSTOR_TRANSACT_IN_DATA_OFFSET;
constexpr std::uint32_t kOutData = VSTOR_TRANSACT_OUT_DATA_OFFSET;

// Fetches requests into `buf` (TRANSACT, NO_WAIT) until one with opcode `opcode` arrives; anything
// else (the rescan's INQUIRY) is answered "no device".
vstor_bridge_request fetch(HandService& svc, std::vector<std::uint8_t>& buf, std::uint8_t opcode) {
    vstor_bridge_request req{};
    std::uint32_t flags = VSTOR_FLAG_NO_WAIT;
    for (int i = 0; i < 1000; ++i) {
        vstor_bridge_header h{VSTOR_BRIDGE_MAGIC, VSTOR_BRIDGE_VERSION, VSTOR_OP_TRANSACT, svc.session, flags};
        std::memcpy(buf.data(), &h, sizeof(h));
        const auto r = svc.call(buf, flags & VSTOR_FLAG_HAS_COMPLETION ? kInData : sizeof(h));
        EXPECT_EQ(r.status, STATUS_SUCCESS);
        std::memcpy(&req, buf.data() + sizeof(h), sizeof(req));
        if (req.kind == VSTOR_REQ_SCSI && req.cdb[0] == opcode) return req;
        flags = VSTOR_FLAG_NO_WAIT;
        if (req.kind == VSTOR_REQ_SCSI) {
            vstor_bridge_completion comp{};
            comp.tag = req.tag;
            comp.result = VSTOR_RESULT_NO_DEVICE;
            std::memcpy(buf.data() + sizeof(h), &comp, sizeof(comp));
            flags |= VSTOR_FLAG_HAS_COMPLETION;
        }
    }
    ADD_FAILURE() << "no request with opcode " << int{opcode};
    return req;
}

// Answers `req` with GOOD and `data_length` bytes (data-in already in `buf` at kInData). The input
// is the header and the completion only: the data-in travels in the output buffer (the MDL).
NTSTATUS reply(HandService& svc, std::vector<std::uint8_t>& buf, const vstor_bridge_request& req,
               std::uint32_t data_length) {
    vstor_bridge_header h{VSTOR_BRIDGE_MAGIC, VSTOR_BRIDGE_VERSION, VSTOR_OP_TRANSACT, svc.session,
                          VSTOR_FLAG_HAS_COMPLETION | VSTOR_FLAG_NO_WAIT};
    std::memcpy(buf.data(), &h, sizeof(h));
    vstor_bridge_completion comp{};
    comp.tag = req.tag;
    comp.result = VSTOR_RESULT_OK;
    comp.data_length = data_length;
    std::memcpy(buf.data() + sizeof(h), &comp, sizeof(comp));
    return svc.call(buf, kInData).status;
}

}  // namespace

TEST_P(StorPort, DataMovesThroughTheServicesBufferOnce) {
    Emulator emu{driver()};
    ASSERT_EQ(emu.load_driver(), STATUS_SUCCESS);
    std::string why;
    ASSERT_TRUE(emu.start_adapter(&why)) << why;
    HandService svc{emu, 1};
    ASSERT_EQ(svc.connect(), STATUS_SUCCESS);
    ASSERT_EQ(svc.announce_lun0(), STATUS_SUCCESS);
    std::vector<std::uint8_t> out(VSTOR_BRIDGE_MAX_TRANSFER), in(VSTOR_BRIDGE_MAX_TRANSFER);
    std::mt19937 rng(14);
    for (auto& b : out) b = static_cast<std::uint8_t>(rng());
    for (auto& b : in) b = static_cast<std::uint8_t>(rng());
    const std::uint16_t blocks = VSTOR_BRIDGE_MAX_TRANSFER / kBlock;
    auto* adapter = static_cast<vs::Adapter*>(emu.device_extension());
    vstor::storport_sim::watch_copies_under(&adapter->lock);
    const std::uint64_t io_before = emu.io_manager_bytes();
    const unsigned maps_before = emu.mdl_maps();
    std::vector<std::uint8_t> buf(VSTOR_TRANSACT_MIN_BUFFER);

    // WRITE: the data-out arrives in the service's buffer, behind the request.
    RequestPtr w = emu.start(0, 0, cdb_rw10(true, 0, blocks), SRB_FLAGS_DATA_OUT, VSTOR_BRIDGE_MAX_TRANSFER, out.data());
    const auto wreq = fetch(svc, buf, 0x2A);
    ASSERT_EQ(wreq.data_length, VSTOR_BRIDGE_MAX_TRANSFER);
    EXPECT_EQ(0, std::memcmp(buf.data() + kOutData, out.data(), out.size()));
    ASSERT_EQ(reply(svc, buf, wreq, VSTOR_BRIDGE_MAX_TRANSFER), STATUS_SUCCESS);
    ASSERT_TRUE(emu.wait(w));
    EXPECT_EQ(w->status(), SRB_STATUS_SUCCESS);

    // READ: the data-in is taken from the service's buffer, where the reply left it.
    RequestPtr r = emu.start(0, 0, cdb_rw10(false, 0, blocks), SRB_FLAGS_DATA_IN, VSTOR_BRIDGE_MAX_TRANSFER);
    const auto rreq = fetch(svc, buf, 0x28);
    ASSERT_EQ(rreq.data_length, VSTOR_BRIDGE_MAX_TRANSFER);
    std::memcpy(buf.data() + kInData, in.data(), in.size());
    ASSERT_EQ(reply(svc, buf, rreq, VSTOR_BRIDGE_MAX_TRANSFER), STATUS_SUCCESS);
    ASSERT_TRUE(emu.wait(r));
    ASSERT_EQ(r->status(), SRB_STATUS_SUCCESS);
    EXPECT_EQ(0, std::memcmp(r->data.data(), in.data(), in.size()));
    EXPECT_TRUE(r->guard_intact());

    const auto counts = vstor::storport_sim::copy_counts();
    vstor::storport_sim::watch_copies_under(nullptr);
    EXPECT_EQ(counts.large, 2u) << "each 1 MiB transfer is copied exactly once by the driver";
    EXPECT_EQ(counts.through_mdl, 2u) << "the driver's copies read and write the service's buffer (its MDL)";
    EXPECT_EQ(counts.through_system_buffer, 0u) << "the driver copied data through a system buffer (buffered I/O)";
    EXPECT_EQ(counts.under_watched_lock, 0u) << "1 MiB copied while holding the adapter's spin lock";
    EXPECT_LT(emu.io_manager_bytes() - io_before, 16u * 1024u) << "the I/O manager copied the data (METHOD_BUFFERED)";
    EXPECT_GT(emu.mdl_maps(), maps_before);
    auto bye = svc.with_header(VSTOR_OP_DISCONNECT);
    EXPECT_EQ(svc.call(bye, sizeof(vstor_bridge_header)).status, STATUS_SUCCESS);
    emu.stop_adapter();
    auto v = emu.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// Protocol 1's channel, StorPort's METHOD_BUFFERED service IOCTL, is refused: an old service is told
// the protocol changed instead of copying through system buffers.
TEST_P(StorPort, TheBufferedServiceIoctlIsRefused) {
    Emulator emu{driver()};
    ASSERT_EQ(emu.load_driver(), STATUS_SUCCESS);
    std::string why;
    ASSERT_TRUE(emu.start_adapter(&why)) << why;
    std::vector<std::uint8_t> buf(VSTOR_TRANSACT_MIN_BUFFER);
    vstor_bridge_connect c{};
    c.hdr = {VSTOR_BRIDGE_MAGIC, 1, VSTOR_OP_CONNECT, 0, 0};
    c.buffer_size = VSTOR_TRANSACT_MIN_BUFFER;
    std::memcpy(buf.data(), &c, sizeof(c));
    EXPECT_EQ(emu.device_ioctl(1, VSTOR_BRIDGE_IOCTL_STORPORT, buf.data(), sizeof(c), static_cast<ULONG>(buf.size())).status,
              STATUS_REVISION_MISMATCH);
    HandService svc{emu, 1};
    EXPECT_EQ(svc.connect(), STATUS_SUCCESS);  // the direct-I/O channel works
    emu.stop_adapter();
    auto v = emu.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}
