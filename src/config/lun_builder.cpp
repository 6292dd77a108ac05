#include "config/lun_builder.hpp"

#include <algorithm>
#include <filesystem>

#include "backends/factory.hpp"

namespace vstor::cli {

bool add_lun_from_spec(Adapter& adapter, std::uint16_t target_id, std::uint16_t lun, const LunSpec& s,
                       std::string& error, CreatedPaths* created) {
    std::vector<std::string> made;  // what this call creates, outermost directory first
    if (s.kind == "file") {
        std::error_code ec;
        std::vector<std::string> missing_dirs;
        for (auto dir = std::filesystem::path(s.path).parent_path(); !dir.empty() && !std::filesystem::exists(dir, ec);
             dir = dir.parent_path()) {
            missing_dirs.insert(missing_dirs.begin(), dir.string());
            if (dir == dir.parent_path()) break;
        }
        made = missing_dirs;
        if (!std::filesystem::exists(s.path, ec)) made.push_back(s.path);
        if (created) created->add(made);  // before anything is made: an interrupted start removes it
        if (!missing_dirs.empty()) std::filesystem::create_directories(missing_dirs.back(), ec);
    }
    auto fail = [&] {
        if (created) created->discard(made);
        else remove_created(made);
        return false;
    };
    backends::BackendSpec bs{s.kind,  s.path,     s.size_bytes, s.block_size,   s.read_only,
                             s.thick, s.rbd_conf, s.rbd_id,     s.plugin_params};
    bs.rbd_stall_ms = s.rbd_stall_ms;
    bs.rbd_forget_ms = s.rbd_forget_ms;
    auto backend = backends::open_backend(bs, error);
    if (!backend) return fail();
    LunOptions lo;
    lo.read_only = s.read_only;
    lo.removable = s.removable;
    lo.physical_block_size = s.physical_block_size;
    lo.sanitize_rate = s.sanitize_rate;
    lo.name = s.name;  // LUN events carry it: NBD names a LUN added at run time by it
    if (s.kind == "file") lo.pr_state_path = s.path + ".pr";  // APTPL reservations
    if (auto st = adapter.add_lun(target_id, lun, backend, lo); !st) {
        error = st.error;
        backend.reset();  // closes the image before it is removed
        return fail();
    }
    return true;
}

void CreatedPaths::add(const std::vector<std::string>& paths) {
    std::lock_guard lk(mu_);
    paths_.insert(paths_.end(), paths.begin(), paths.end());
}

void CreatedPaths::discard(const std::vector<std::string>& paths) {
    std::lock_guard lk(mu_);
    remove_created(paths);
    std::erase_if(paths_, [&](const std::string& p) { return std::find(paths.begin(), paths.end(), p) != paths.end(); });
}

void CreatedPaths::discard_all() { (void)discard_all_and_hold(); }

std::unique_lock<std::mutex> CreatedPaths::discard_all_and_hold(std::vector<std::string>* removed) {
    std::unique_lock lk(mu_);
    remove_created(paths_);
    if (removed) *removed = std::move(paths_);
    paths_.clear();
    return lk;
}

std::vector<std::string> CreatedPaths::list() const {
    std::lock_guard lk(mu_);
    return paths_;
}

void remove_created(const std::vector<std::string>& created) {
    for (auto it = created.rbegin(); it != created.rend(); ++it) {
        std::error_code ec;
        std::filesystem::remove(*it, ec);  // a directory only goes when empty
    }
}

}  // namespace vstor::cli
