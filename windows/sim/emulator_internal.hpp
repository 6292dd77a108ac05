// What the emulator's files share and nothing outside them needs: the per-call IRQL guard, the
// guard bytes after every SRB buffer, StorPort's marker in a service IRP's DriverContext, and the
// emulated service IRP.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <string>
#include <vector>

#include "irql_model.hpp"
#include "storport_sim.hpp"

namespace vstor::storport_sim {

inline constexpr std::size_t kGuard = 64;
inline constexpr std::uint8_t kGuardByte = 0xA5;
// What the emulated StorPort keeps in a service IRP's Tail.Overlay.DriverContext.
inline PVOID const kStorPortsContext = reinterpret_cast<PVOID>(static_cast<std::uintptr_t>(0x5354504F52540001ull));

// Runs a miniport routine at `level` and reports one that returns at another level.
class AtIrql {
public:
    AtIrql(KIRQL level, const char* routine) : old_(t_irql), level_(level), routine_(routine) { t_irql = level; }
    ~AtIrql() {
        if (t_irql != level_ && current_emulator())
            current_emulator()->report(std::string(routine_) + " returned at another IRQL (a spin lock left held?)");
        t_irql = old_;
    }
    AtIrql(const AtIrql&) = delete;
    AtIrql& operator=(const AtIrql&) = delete;

private:
    KIRQL old_, level_;
    const char* routine_;
};

struct Emulator::ServiceIrp {
    IRP irp{};
    IO_STACK_LOCATION stack{};
    MDL mdl{};                     // METHOD_*_DIRECT: describes the caller's output buffer
    std::vector<std::uint8_t> system_buffer;  // METHOD_BUFFERED: in and out; direct: the input only
    bool storport_owned = false;   // StorPort received it (its service IOCTL): StorPortCompleteServiceIrp
    int process = 0;
    bool done = false;
    std::condition_variable cv;
};

}  // namespace vstor::storport_sim
