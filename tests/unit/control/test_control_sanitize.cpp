// `ctl lun sanitize` / `lun progress` read the LUN's answers whatever sense format an initiator chose:
// once an initiator sets D_SENSE=1 (Control mode page), CHECK CONDITION sense comes in descriptor
// format, and the control plane must still pass unit attentions, name a running SANITIZE and report
// its progress.
#include <gtest/gtest.h>

#include <cstring>
#include <future>
#include <string>

#include "control/control_rig.hpp"
#include "vstor/lun_address.hpp"

namespace vstor::control {
namespace {

using test::json;
constexpr const char* kSanitizeIqn = "iqn.2026-12.org.vstor:sanitize";

class ControlSanitize : public test::ControlRig {
protected:
    void SetUp() override {
        // 4 MiB overwritten at 1 MiB/s: the SANITIZE runs for seconds, long enough to look at it.
        start(kSanitizeIqn, "mem:4M,sanitize_rate=1M", Portal::none);
        initiator = adapter->open_nexus(tid, "iqn.2026-12.org.test:d-sense,i,0x1");
    }

    // One CDB from the initiator's nexus to LUN 0; returns the completion and the data it read.
    Completion send(std::vector<std::uint8_t> cdb, std::vector<std::uint8_t>& buf, DataDirection dir) {
        Command cmd;
        cmd.nexus = initiator;
        cmd.lun = encode_sam_lun(0);
        std::memcpy(cmd.cdb.data(), cdb.data(), cdb.size());
        cmd.cdb_len = static_cast<std::uint8_t>(cdb.size());
        cmd.dir = dir;
        cmd.expected_length = static_cast<std::uint32_t>(buf.size());
        cmd.data = std::as_writable_bytes(std::span(buf));
        std::promise<Completion> done;
        adapter->submit(cmd, [&](const Completion& c) { done.set_value(c); });
        return done.get_future().get();
    }

    // The initiator turns descriptor-format sense on: MODE SENSE the Control page, set D_SENSE,
    // MODE SELECT it back. Every other nexus gets MODE PARAMETERS CHANGED.
    void set_descriptor_sense() {
        std::vector<std::uint8_t> page(4 + 12);
        ASSERT_EQ(send({0x1a, 0x08, 0x0a, 0, static_cast<std::uint8_t>(page.size()), 0}, page, DataDirection::read).status,
                  scsi_status::good);
        ASSERT_EQ(page[4] & 0x3f, 0x0a);
        page[0] = 0;  // MODE DATA LENGTH is reserved in MODE SELECT
        page[4 + 2] |= 0x04;  // D_SENSE
        ASSERT_EQ(send({0x15, 0x10, 0, 0, static_cast<std::uint8_t>(page.size()), 0}, page, DataDirection::write).status,
                  scsi_status::good);
        // The initiator itself now gets descriptor sense (72h) on CHECK CONDITION.
        std::vector<std::uint8_t> none;
        const auto bad = send({0xff, 0, 0, 0, 0, 0} /* no such opcode */, none, DataDirection::none);
        ASSERT_EQ(bad.status, scsi_status::check_condition);
        ASSERT_EQ(bad.sense[0] & 0x7f, 0x72);
    }

    static json lun0() { return json{{"target", kSanitizeIqn}, {"lun", 0}}; }

    std::string refusal(const std::string& method, const json& params) { return error_of(method, params).second; }

    std::shared_ptr<Nexus> initiator;
};

// The control nexus holds MODE PARAMETERS CHANGED, in descriptor format: the control plane passes
// it (unit attentions are for initiators) instead of refusing the SANITIZE.
TEST_F(ControlSanitize, UnitAttentionInDescriptorFormatIsPassed) {
    ASSERT_FALSE(call("lun.progress", lun0()).at("in_progress").get<bool>());  // opens the control nexus
    set_descriptor_sense();
    EXPECT_NO_THROW(call("lun.sanitize", json{{"target", kSanitizeIqn}, {"lun", 0}, {"method", "overwrite"}}));
}

// The initiator runs the SANITIZE; the control plane reports its progress (past the unit attention
// REQUEST SENSE hands it first) and names it when asked to start another.
TEST_F(ControlSanitize, SanitizeStartedByAnInitiatorReadsAsRunning) {
    ASSERT_FALSE(call("lun.progress", lun0()).at("in_progress").get<bool>());  // opens the control nexus
    set_descriptor_sense();
    std::vector<std::uint8_t> param{0x01, 0, 0, 2, 0x5a, 0x5a};  // OWCOUNT 1, two-byte pattern
    ASSERT_EQ(send({0x48, 0x81 /* IMMED, OVERWRITE */, 0, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(param.size()), 0},
                   param, DataDirection::write)
                  .status,
              scsi_status::good);

    const auto progress = call("lun.progress", lun0());
    EXPECT_TRUE(progress.at("in_progress").get<bool>()) << progress.dump();
    EXPECT_TRUE(progress.contains("percent")) << progress.dump();

    const auto again = refusal("lun.sanitize", json{{"target", kSanitizeIqn}, {"lun", 0}, {"method", "overwrite"}});
    EXPECT_NE(again.find("a SANITIZE is already running"), std::string::npos) << again;
}

}  // namespace
}  // namespace vstor::control
