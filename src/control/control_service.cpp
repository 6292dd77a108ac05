#include "control/control_service.hpp"

#include "config/config_writer.hpp"

namespace vstor::control {

using nlohmann::json;

ControlService::ControlService(Adapter& adapter, iscsi::Server& iscsi, cli::ServePlan plan, std::string config_path)
    : ctx_(adapter, iscsi, std::move(plan), std::move(config_path)) {
    register_status_methods(methods_);
    register_lun_methods(methods_);
    register_target_methods(methods_);
    register_sanitize_methods(methods_);
    register_save_methods(methods_);
}

json ControlService::call(const std::string& method, const json& params) {
    if (!params.is_null() && !params.is_object())
        throw RpcError(rpc_code::invalid_params, "params must be an object with named members");
    const auto* m = methods_.find(method);  // methods_ is not changed after the constructor
    if (!m) throw RpcError(rpc_code::method_not_found, "unknown method '" + method + "'");
    check_params(method, m->params, params);
    if (m->read_only) {
        std::shared_lock reading(state_mu_);
        return m->handler(ctx_, params);
    }
    std::lock_guard changing(change_mu_);
    std::unique_lock state(state_mu_);
    ctx_.state_lock = &state;
    struct Forget {
        ControlContext& ctx;
        ~Forget() { ctx.state_lock = nullptr; }
    } forget{ctx_};
    return m->handler(ctx_, params);
}

bool ControlService::read_only(const std::string& method) const {
    const auto* m = methods_.find(method);
    return m && m->read_only;
}

std::string ControlService::render_config() const {
    std::shared_lock reading(state_mu_);
    return render_toml(ctx_.effective_plan());
}

}  // namespace vstor::control
