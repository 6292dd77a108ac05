// libFuzzer target: a port-group registry entry read back from the cluster (an RBD image's
// `vstor_alua.<id>` object, which another gateway, or anything with access to the pool, wrote)
// through parse_tpg_entry. A parse either refuses the bytes with a reason or yields an entry that
// encodes back to exactly those bytes; sanitizers catch reads past the end.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "backends/rbd/rbd_tpg_entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    const auto e = vstor::backends::parse_tpg_entry(text, error);
    if (!e) {
        if (error.empty()) std::abort();  // a refusal always says why
        return 0;
    }
    if (e->group == 0 || e->ports.size() > vstor::backends::TpgEntry::kMaxPorts) std::abort();
    if (vstor::backends::encode_tpg_entry(*e) != text) std::abort();  // one spelling per entry
    return 0;
}
