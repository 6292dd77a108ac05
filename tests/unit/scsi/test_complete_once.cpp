// A command completes exactly once: a second complete() on the same task (an engine bug) is
// dropped and counted, never a second callback, a write into freed buffers or a crash.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "scsi/task.hpp"

namespace vstor::test {
namespace {

TEST(CompleteOnce, SecondCompletionsAreDroppedAndCounted) {
    scsi::Task t;
    std::array<std::byte, 8> data{};
    t.cmd.data = data;
    t.cmd.expected_length = data.size();
    int calls = 0;
    std::uint8_t status = 0xff;
    t.done = [&](const Completion& c) {
        ++calls;
        status = c.status;
    };
    const auto before = scsi::duplicate_completions();
    t.complete(scsi::Outcome::good());
    t.complete(scsi::Outcome::check(scsi::sense::invalid_opcode()));
    t.complete(scsi::Outcome::with_status(scsi_status::busy));
    const std::vector<std::uint8_t> late(8, 0xaa);
    const auto o = scsi::reply_data(t, late);  // a handler's data-in after the task completed
    EXPECT_TRUE(o.is_pending) << "nothing left to complete";
    t.complete(scsi::Outcome::data_in(8));
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(status, scsi_status::good);
    EXPECT_EQ(data[0], std::byte{0}) << "a dropped completion still wrote data-in";
    EXPECT_EQ(scsi::duplicate_completions() - before, 4u);
}

}  // namespace
}  // namespace vstor::test
