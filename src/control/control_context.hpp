// What every control method works on: the running adapter and iSCSI server, the plan `save`
// writes, and the hooks other front ends follow changes through. The lookups here are shared
// by the domain files (control_luns.cpp, control_targets.cpp, ...); a failed lookup is a refusal.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "config/serve_plan.hpp"
#include "iscsi/server.hpp"
#include "vstor/adapter.hpp"

namespace vstor::control {

// Throws RpcError(failed): the operation was refused and nothing changed.
[[noreturn]] void refuse(const std::string& message);

// The iSCSI name rules (iscsi/iscsi_name.hpp), the same check as serve's flags and TOML file;
// throws RpcError(invalid_params) naming `what`.
void require_iscsi_name(const std::string& name, const std::string& what);

// What a method may touch and how (ControlService::call takes the locks): `plan` and
// `admin_read_only` are read under the state lock (shared by read-only methods) and changed only by
// a change, which holds it exclusively, except inside unlocked(); the adapter and the iSCSI server
// guard themselves; the control nexus map has a mutex of its own.
struct ControlContext {
    // Called after an access rule change (ACL, CHAP); returns how many connections it closed.
    using AccessHook = std::function<std::size_t()>;

    ControlContext(Adapter& a, iscsi::Server& s, cli::ServePlan p, std::string path)
        : adapter(a), iscsi(s), plan(std::move(p)), config_path(std::move(path)) {}

    Adapter& adapter;
    iscsi::Server& iscsi;
    cli::ServePlan plan;      // what serve started with, kept up to date by every change
    std::string config_path;  // where `save` writes by default ("" when serve ran from flags)
    std::vector<AccessHook> access_hooks;
    std::map<std::pair<std::string, std::uint16_t>, bool> admin_read_only;  // `lun set-ro` by target/LUN

    // The control plane's own I_T nexus to the target (SANITIZE, REQUEST SENSE), opened on first
    // use; null when the adapter has no such target.
    std::shared_ptr<Nexus> control_nexus(const cli::TargetPlan& tp);

    // For a change only: runs `slow` (a step that waits for storage: creating, resizing or closing
    // a backend) without the state lock, so that read-only methods answer meanwhile. The change
    // still holds the change lock, so the plan stays as it is; `slow` must not change it.
    template <class F>
    decltype(auto) unlocked(F&& slow) {
        struct Relock {
            std::unique_lock<std::shared_mutex>* lock;
            ~Relock() {
                if (lock) lock->lock();
            }
        } relock{state_lock};
        if (state_lock) state_lock->unlock();
        return std::forward<F>(slow)();
    }
    std::unique_lock<std::shared_mutex>* state_lock = nullptr;  // a change's, set by ControlService::call

    cli::TargetPlan& target_plan(const nlohmann::json& p);         // "target" param, default the first
    cli::LunSpec& lun_plan(cli::TargetPlan& tp, std::uint16_t lun);  // refused if the target has no such LUN
    // The adapter's view of the target's LUNs (empty if the adapter has no such target).
    std::vector<LunInfo> target_luns(const cli::TargetPlan& tp) const;
    std::optional<LunInfo> lun_info(const cli::TargetPlan& tp, std::uint16_t lun) const;
    iscsi::TargetConfig iscsi_target(const std::string& name) const;
    cli::ServePlan effective_plan() const;  // plan with runtime write protection applied

    std::size_t access_changed();  // runs access_hooks, returns the connections they closed

private:
    std::mutex nexus_mu_;  // guards nexus_
    std::map<std::uint16_t, std::shared_ptr<Nexus>> nexus_;  // control_nexus's, per adapter target
};

}  // namespace vstor::control
