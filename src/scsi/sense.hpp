// The engine's side of sense: the public vocabulary (vstor/sense.hpp) plus the one mapping from a
// backend's IoStatus to sense, which is engine policy rather than API.
#pragma once

#include "vstor/backend.hpp"
#include "vstor/sense.hpp"

namespace vstor::scsi::sense {

// Backend status -> sense (one mapping for every command).
Sense from_io_status(IoStatus s, bool is_write);

}  // namespace vstor::scsi::sense
