// libFuzzer target: bytes read back from a shared reservation store (a RADOS object another
// gateway, or anything with access to the pool, wrote) through PrState::parse. A parse either
// refuses the bytes with a reason or yields a state whose serialization parses back to the same
// bytes; sanitizers catch reads past the end and runaway allocations.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "scsi/pr_state.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string error;
    const auto state = vstor::scsi::PrState::parse(std::span<const std::uint8_t>(data, size), error);
    if (!state) {
        if (error.empty()) std::abort();  // a refusal always says why
        return 0;
    }
    if (state->regs.size() > vstor::scsi::PrState::kMaxRegistrations) std::abort();
    const auto bytes = state->serialize();
    std::string again;
    const auto back = vstor::scsi::PrState::parse(bytes, again);
    if (!back || back->serialize() != bytes) std::abort();  // what was accepted round-trips
    return 0;
}
