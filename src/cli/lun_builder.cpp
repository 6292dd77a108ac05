#include "cli/lun_builder.hpp"

#include <filesystem>

#include "backends/factory.hpp"

namespace vstor::cli {

bool add_lun_from_spec(Adapter& adapter, std::uint16_t target_id, std::uint16_t lun, const LunSpec& s,
                       std::string& error) {
    if (s.kind == "file") {
        const auto dir = std::filesystem::path(s.path).parent_path();
        std::error_code ec;
        if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    }
    const backends::BackendSpec bs{s.kind, s.path, s.size_bytes, s.block_size, s.read_only, s.thick, s.removable, false};
    auto backend = backends::open_backend(bs, error);
    if (!backend) return false;
    LunOptions lo;
    lo.read_only = s.read_only;
    lo.removable = s.removable;
    lo.physical_block_size = s.physical_block_size;
    lo.sanitize_rate = s.sanitize_rate;
    if (s.kind == "file") lo.pr_state_path = s.path + ".pr";  // APTPL reservations
    if (auto st = adapter.add_lun(target_id, lun, backend, lo); !st) {
        error = st.error;
        return false;
    }
    return true;
}

}  // namespace vstor::cli
