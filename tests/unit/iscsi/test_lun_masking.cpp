// LUN masking: an initiator with a mask sees only its LUNs in REPORT LUNS and gets LOGICAL UNIT
// NOT SUPPORTED for the others; an initiator without one sees every LUN. Real libiscsi sessions.
#include <gtest/gtest.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include <memory>
#include <string>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "live_server.hpp"

namespace vstor::iscsi {
namespace {

using test::LiveServerTest;

constexpr const char* kMaskingIqn = "iqn.2026-12.org.vstor:masking";

class LunMasking : public LiveServerTest {
protected:
    void SetUp() override {
        ServerConfig cfg;
        const auto tid = add_target(cfg, kMaskingIqn);
        for (std::uint16_t l : {0, 1, 2}) ASSERT_TRUE(adapter->add_lun(tid, l, std::make_shared<backends::MemBackend>(1u << 20)));
        cfg.targets.back().lun_masks.push_back({"iqn.2026-12.org.test:masked", {1, 2}});
        cfg.event_loops = 1;
        start_server(cfg);
    }
    iscsi_context* login(const char* initiator, int lun) {
        auto* ctx = iscsi_create_context(initiator);
        iscsi_set_targetname(ctx, kMaskingIqn);
        iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
        iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE);
        const auto portal = "127.0.0.1:" + std::to_string(port);
        EXPECT_EQ(iscsi_full_connect_sync(ctx, portal.c_str(), lun), 0) << iscsi_get_error(ctx);
        return ctx;
    }
    static std::vector<int> report_luns(iscsi_context* ctx) {
        std::vector<int> out;
        auto* t = iscsi_reportluns_sync(ctx, 0, 256);
        auto* list = static_cast<scsi_reportluns_list*>(scsi_datain_unmarshall(t));
        for (std::uint32_t i = 0; list && i < list->num; ++i) out.push_back(list->luns[i]);
        scsi_free_scsi_task(t);
        return out;
    }};

TEST_F(LunMasking, MaskedInitiatorSeesOnlyItsLuns) {
    auto* masked = login("iqn.2026-12.org.test:masked", 1);
    auto* open = login("iqn.2026-12.org.test:open", 0);
    EXPECT_EQ(report_luns(masked), (std::vector<int>{1, 2}));
    EXPECT_EQ(report_luns(open), (std::vector<int>{0, 1, 2}));

    auto* t = iscsi_testunitready_sync(masked, 0);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->status, SCSI_STATUS_CHECK_CONDITION);
    EXPECT_EQ(t->sense.key, SCSI_SENSE_ILLEGAL_REQUEST);
    EXPECT_EQ(t->sense.ascq, SCSI_SENSE_ASCQ_LOGICAL_UNIT_NOT_SUPPORTED);
    scsi_free_scsi_task(t);
    unsigned char block[512] = {1};
    t = iscsi_write10_sync(masked, 0, 0, block, sizeof block, 512, 0, 0, 0, 0, 0);
    EXPECT_EQ(t->sense.ascq, SCSI_SENSE_ASCQ_LOGICAL_UNIT_NOT_SUPPORTED);
    scsi_free_scsi_task(t);

    t = iscsi_testunitready_sync(masked, 2);
    EXPECT_EQ(t->status, SCSI_STATUS_GOOD);
    scsi_free_scsi_task(t);
    t = iscsi_testunitready_sync(open, 0);
    EXPECT_EQ(t->status, SCSI_STATUS_GOOD);
    scsi_free_scsi_task(t);
    for (auto* c : {masked, open}) {
        iscsi_logout_sync(c);
        iscsi_destroy_context(c);
    }
}

}  // namespace
}  // namespace vstor::iscsi
