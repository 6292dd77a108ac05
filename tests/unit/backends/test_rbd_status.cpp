// librbd's errors as SCSI sense, without a cluster: a blocklisted client's EBLOCKLISTED
// (ESHUTDOWN) is a path in transition while the backend reconnects (NOT READY 04h/0Ah, which
// an initiator retries), not a missing medium (3Ah/00h, which it would give up on).
#include <gtest/gtest.h>

#include <cerrno>

#include "backends/rbd/rbd_backend.hpp"
#include "scsi/sense.hpp"

namespace vstor::backends {
namespace {

TEST(RbdStatus, BlocklistedIsTransitioningNotMediumNotPresent) {
    EXPECT_EQ(rbd_status(-ESHUTDOWN), IoStatus::transitioning);
    for (const bool is_write : {false, true}) {
        const auto s = scsi::sense::from_io_status(rbd_status(-ESHUTDOWN), is_write);
        EXPECT_EQ(s.key, scsi::sense_key::not_ready);
        EXPECT_EQ(s.asc, 0x04);
        EXPECT_EQ(s.ascq, 0x0a);
    }
}

TEST(RbdStatus, OtherErrorsKeepTheirMeaning) {
    EXPECT_EQ(rbd_status(0), IoStatus::ok);
    EXPECT_EQ(rbd_status(-EROFS), IoStatus::read_only);
    EXPECT_EQ(rbd_status(-ENOSPC), IoStatus::no_space);
    EXPECT_EQ(rbd_status(-ENOTCONN), IoStatus::not_ready);
    EXPECT_EQ(rbd_status(-ECANCELED), IoStatus::aborted);
    EXPECT_EQ(rbd_status(-EIO), IoStatus::medium_error);
    EXPECT_STREQ(to_string(IoStatus::transitioning), "transitioning");
}

}  // namespace
}  // namespace vstor::backends
