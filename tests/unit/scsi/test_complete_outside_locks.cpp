// Read-modify-write commands (atomic with respect to each other under LogicalUnit::atomic_mu) and
// RECEIVE COPY RESULTS (LogicalUnit::copy_mu) complete after letting go of the lock (issue 17 §3).
#include "completion_probe.hpp"

namespace vstor::test {
namespace {

// COMPARE AND WRITE of one block at LBA 0: `verify` is compared with the (zeroed) medium, zeroes
// are written.
ProbedCommand compare_and_write(std::uint8_t verify) {
    std::vector<std::uint8_t> out(1024, 0);
    std::fill(out.begin(), out.begin() + 512, verify);
    return {{0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, out, 0};
}

class CompleteOutsideLocks : public CompletionProbeTest {};

TEST_F(CompleteOutsideLocks, ReadModifyWriteCommandsCompleteAfterReleasingTheAtomicLock) {
    struct Case {
        const char* name;
        ProbedCommand cmd;
        std::uint8_t status;
    };
    const Case cases[] = {
        {"COMPARE AND WRITE", compare_and_write(0), scsi_status::good},
        {"COMPARE AND WRITE (miscompare)", compare_and_write(0xee), scsi_status::check_condition},
        {"ORWRITE(16)",
         {{0x8b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, std::vector<std::uint8_t>(512, 0), 0},
         scsi_status::good},
        {"WRITE ATOMIC(16)",
         {{0x9c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, std::vector<std::uint8_t>(512, 0), 0},
         scsi_status::good},
    };
    // Another COMPARE AND WRITE must take the atomic lock.
    for (const auto& c : cases) {
        const auto r = send_and_probe(c.cmd, compare_and_write(0));
        EXPECT_EQ(r.status, c.status) << c.name;
        EXPECT_TRUE(r.probe_ran) << c.name << " completed while holding the atomic lock";
    }
}

TEST_F(CompleteOutsideLocks, ReceiveCopyStatusOfAnUnknownListCompletesAfterReleasingTheCopyLock) {
    // RECEIVE COPY RESULTS, COPY STATUS, list identifier 7 (never used): INVALID FIELD IN CDB.
    const ProbedCommand copy_status{{0x84, 0x00, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0}, {}, 64};
    const auto r = send_and_probe(copy_status, copy_status);
    EXPECT_EQ(r.status, scsi_status::check_condition);
    EXPECT_TRUE(r.probe_ran) << "completed while holding the copy lock";
}

}  // namespace
}  // namespace vstor::test
