// Helpers shared by the storport tests (native, x64 and x86 driver images): SCSI commands, what
// classpnp does with a UNIT ATTENTION, the driver's counters.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "miniport.h"
#include "storport_sim.hpp"

namespace vstor::storport_sim::test {

using namespace std::chrono_literals;

inline constexpr std::uint32_t kBlock = 512;

inline std::vector<std::uint8_t> cdb_rw10(bool write, std::uint32_t lba, std::uint16_t blocks) {
    return {static_cast<std::uint8_t>(write ? 0x2A : 0x28), 0, static_cast<std::uint8_t>(lba >> 24),
            static_cast<std::uint8_t>(lba >> 16), static_cast<std::uint8_t>(lba >> 8), static_cast<std::uint8_t>(lba),
            0, static_cast<std::uint8_t>(blocks >> 8), static_cast<std::uint8_t>(blocks), 0};
}

inline bool ok(const RequestPtr& r) { return r->status() == SRB_STATUS_SUCCESS; }

// Service IRPs still pending, once those in the middle of HwProcessServiceRequest have finished.
inline std::size_t settled_service_irps(Emulator& emu) {
    for (int i = 0; i < 500 && emu.pending_service_irps() != 0; ++i) std::this_thread::sleep_for(10ms);
    return emu.pending_service_irps();
}

inline bool unit_attention(const RequestPtr& r) {
    return r->status() == SRB_STATUS_ERROR && (r->srb.SrbStatus & SRB_STATUS_AUTOSENSE_VALID) &&
           (r->sense[2] & 0x0F) == 0x06;
}

// What classpnp does with a UNIT ATTENTION (after a reset, a LUN change): note it and retry.
inline RequestPtr execute_as_disk(Emulator& emu, std::uint8_t lun, std::vector<std::uint8_t> cdb, ULONG flags,
                           std::uint32_t len, const void* out = nullptr, int* attentions = nullptr) {
    for (int i = 0;; ++i) {
        auto r = emu.execute(0, lun, cdb, flags, len, out);
        if (!unit_attention(r) || i == 4) return r;
        if (attentions) ++*attentions;
    }
}

// The driver's counters, read under its lock (as a debugger extension would, not racing the driver).
inline vs::Stats driver_stats(Emulator& emu) {
    auto* a = static_cast<vs::Adapter*>(emu.device_extension());
    vs::Locked lock(a);
    return a->stats;
}

}  // namespace vstor::storport_sim::test
