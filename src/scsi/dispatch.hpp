// Entry point from the adapter into the SCSI device server.
#pragma once

#include "scsi/task.hpp"

namespace vstor::util {
class ThreadPool;
}

namespace vstor::scsi {

// Parse-then-execute: LUN, opcode, reserved bits, unit attention, reservation, readiness and
// write protection are checked before any handler runs. `pool` runs commands flagged blocking.
void dispatch(const TaskPtr& t, util::ThreadPool& pool);

}  // namespace vstor::scsi
