// The emulator's model of the IRQL, per thread: it calls each miniport routine at the level
// StorPort uses (or the more restrictive one where the documentation leaves it open), spin locks
// raise to DISPATCH_LEVEL, and PASSIVE_LEVEL-only kernel routines check it. A routine must return
// at the level it was called at (a spin lock left held would not).
#pragma once

#include "vs_kernel.h"

namespace vstor::storport_sim {

inline constexpr KIRQL kPassive = 0;
inline constexpr KIRQL kDispatch = 2;
// A device interrupt level: ScsiStopAdapter and ScsiRestartAdapter run here with StorPort's
// interrupt lock held (HW_ADAPTER_CONTROL's table), where no spin lock may be acquired and no IRP
// completed.
inline constexpr KIRQL kDirql = 5;
inline thread_local KIRQL t_irql = kPassive;

// Reports (as a violation) a PASSIVE_LEVEL-only routine called above PASSIVE_LEVEL.
void require_passive(const char* routine);
// Reports a routine that needs IRQL <= DISPATCH_LEVEL called above it (at DIRQL).
void require_at_most_dispatch(const char* routine);

}  // namespace vstor::storport_sim
