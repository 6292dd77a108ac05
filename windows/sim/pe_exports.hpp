// The emulator's StorPort/ntoskrnl/HAL exports with the Windows calling convention of this build's
// architecture (x64 in the 64-bit emulator, x86 in the 32-bit one): what a loaded vstor.sys may import.
#pragma once

#include <span>

#include "pe_image.hpp"

namespace vstor::storport_sim {

std::span<const PeExport> pe_exports();

}  // namespace vstor::storport_sim
