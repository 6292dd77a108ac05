// `vstor ctl save`: the running configuration, as TOML, to the file serve started from or a path.
#include <spdlog/spdlog.h>

#include "config/config_writer.hpp"
#include "control/control_context.hpp"
#include "control/control_service.hpp"
#include "control/method_registry.hpp"
#include "control/params.hpp"

namespace vstor::control {

using nlohmann::json;

namespace {

json save(ControlContext& ctx, const json& p) {
    const auto path = opt_string(p, "path").value_or(ctx.config_path);
    if (path.empty()) throw RpcError(rpc_code::invalid_params, "serve was started without --config: give a path to save to");
    std::string error;
    const auto text = render_toml(ctx.effective_plan());
    if (!ctx.unlocked([&] { return write_file_atomically(path, text, error); })) refuse(error);
    spdlog::info("control: configuration saved to {}", path);
    return json{{"path", path}};
}

}  // namespace

void register_save_methods(MethodRegistry& r) { r.add("save", {{"path", ParamKind::text}}, save); }

}  // namespace vstor::control
