// `vstor ctl lun add|remove|resize|set-ro|eject|insert`: LUN changes on a running target. Each
// keeps the plan (what `save` writes) in step with the adapter; the front ends learn of the
// change from the adapter's LUN events.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "config/lun_builder.hpp"
#include "control/control_context.hpp"
#include "control/control_service.hpp"
#include "control/method_registry.hpp"
#include "control/params.hpp"

namespace vstor::control {

using nlohmann::json;

namespace {

// A file or an RBD image may back one LUN only, and a name names one LUN, across all targets.
void refuse_duplicate(const ControlContext& ctx, const cli::LunSpec& spec) {
    for (const auto& t : ctx.plan.targets) {
        for (const auto& s : t.luns) {
            if ((spec.kind == "file" || spec.kind == "rbd") && s.kind == spec.kind && s.path == spec.path &&
                s.rbd_conf == spec.rbd_conf)
                refuse(fmt::format("{} is already LUN {} of {}", spec.path, *s.lun, t.config.name));
            if (!spec.name.empty() && s.name == spec.name)
                refuse(fmt::format("the name '{}' is already used by LUN {} of {}", spec.name, *s.lun, t.config.name));
        }
    }
}

json lun_add(ControlContext& ctx, const json& p) {
    auto& tp = ctx.target_plan(p);
    std::string error;
    auto spec = cli::parse_lun_spec(req_string(p, "spec"), error);
    if (!spec) throw RpcError(rpc_code::invalid_params, error);
    if (auto n = opt_uint(p, "lun", 16383)) {
        if (spec->lun && *spec->lun != *n) throw RpcError(rpc_code::invalid_params, "'lun' and the spec's lun= differ");
        spec->lun = static_cast<std::uint16_t>(*n);
    }
    std::set<std::uint16_t> used;
    for (const auto& s : tp.luns) used.insert(*s.lun);
    if (!spec->lun) {
        std::uint16_t n = 0;
        while (used.count(n)) ++n;
        spec->lun = n;
    }
    if (used.count(*spec->lun)) refuse(fmt::format("LUN {} of {} already exists", *spec->lun, tp.config.name));
    refuse_duplicate(ctx, *spec);
    // Opening the backend may wait for its storage (an RBD cluster: up to client_mount_timeout).
    const auto tid = tp.config.adapter_target_id;
    if (!ctx.unlocked([&] { return cli::add_lun_from_spec(ctx.adapter, tid, *spec->lun, *spec, error); })) refuse(error);
    tp.luns.push_back(*spec);
    std::sort(tp.luns.begin(), tp.luns.end(), [](const auto& a, const auto& b) { return *a.lun < *b.lun; });
    spdlog::info("control: added LUN {} of {}: {}", *spec->lun, tp.config.name, cli::format_lun_spec(*spec));
    return json{{"target", tp.config.name}, {"lun", *spec->lun}};
}

json lun_remove(ControlContext& ctx, const json& p) {
    auto& tp = ctx.target_plan(p);
    const auto lun = req_lun(p);
    ctx.lun_plan(tp, lun);
    // Returns once the backend closed (an RBD LUN whose cluster does not answer: up to 10 s).
    const auto force = opt_bool(p, "force");
    if (auto st = ctx.unlocked([&] { return ctx.adapter.remove_lun(tp.config.adapter_target_id, lun, force); }); !st)
        refuse(st.error);
    std::erase_if(tp.luns, [&](const cli::LunSpec& s) { return s.lun == lun; });
    ctx.admin_read_only.erase({tp.config.name, lun});
    spdlog::info("control: removed LUN {} of {}", lun, tp.config.name);
    return json{{"target", tp.config.name}, {"lun", lun}};
}

json lun_resize(ControlContext& ctx, const json& p) {
    auto& tp = ctx.target_plan(p);
    const auto lun = req_lun(p);
    auto& spec = ctx.lun_plan(tp, lun);
    const auto text = req_string(p, "size");
    const auto bytes = cli::parse_size(text);
    if (!bytes || *bytes == 0) throw RpcError(rpc_code::invalid_params, "bad size '" + text + "' (e.g. 2G, 512M)");
    const auto info = ctx.lun_info(tp, lun);
    if (!info) refuse(fmt::format("no LUN {} on target {}", lun, tp.config.name));
    if (*bytes % info->block_size)
        throw RpcError(rpc_code::invalid_params,
                       fmt::format("size {} is not a multiple of the block size {}", *bytes, info->block_size));
    const auto blocks = *bytes / info->block_size;
    if (blocks < info->block_count && !opt_bool(p, "force"))
        refuse(fmt::format("shrinking LUN {} from {} to {} bytes discards data (use force)", lun,
                           info->block_count * info->block_size, *bytes));
    if (auto st = ctx.unlocked([&] { return ctx.adapter.resize_lun(tp.config.adapter_target_id, lun, blocks); }); !st)
        refuse(st.error);
    if (spec.kind != "rbd") spec.size_bytes = *bytes;  // an RBD image's size is its own, not the spec's
    spdlog::info("control: resized LUN {} of {} to {} bytes", lun, tp.config.name, *bytes);
    return json{{"target", tp.config.name}, {"lun", lun}, {"size_bytes", *bytes}};
}

json lun_set_ro(ControlContext& ctx, const json& p) {
    auto& tp = ctx.target_plan(p);
    const auto lun = req_lun(p);
    auto& spec = ctx.lun_plan(tp, lun);
    const bool ro = member(p, "read_only")->get<bool>();  // checked by the params list
    if (!ro && spec.read_only)
        refuse(fmt::format("LUN {} was opened read-only ({}); remove and add it again to make it writable", lun,
                           cli::format_lun_spec(spec)));
    if (auto st = ctx.adapter.set_lun_read_only(tp.config.adapter_target_id, lun, ro); !st) refuse(st.error);
    ctx.admin_read_only[{tp.config.name, lun}] = ro;
    return json{{"target", tp.config.name}, {"lun", lun}, {"read_only", ro}};
}

json lun_medium(ControlContext& ctx, const json& p, bool present) {
    auto& tp = ctx.target_plan(p);
    const auto lun = req_lun(p);
    ctx.lun_plan(tp, lun);
    if (auto st = ctx.adapter.set_medium(tp.config.adapter_target_id, lun, present, opt_bool(p, "force")); !st)
        refuse(st.error);
    return json{{"target", tp.config.name}, {"lun", lun}, {"medium_present", present}};
}

}  // namespace

void register_lun_methods(MethodRegistry& r) {
    using K = ParamKind;
    r.add("lun.add", {{"target", K::text}, {"spec", K::text, true}, {"lun", K::lun}}, lun_add);
    r.add("lun.remove", {{"target", K::text}, {"lun", K::lun, true}, {"force", K::flag}}, lun_remove);
    r.add("lun.resize", {{"target", K::text}, {"lun", K::lun, true}, {"size", K::text, true}, {"force", K::flag}},
          lun_resize);
    r.add("lun.set_ro", {{"target", K::text}, {"lun", K::lun, true}, {"read_only", K::flag, true}}, lun_set_ro);
    r.add("lun.eject", {{"target", K::text}, {"lun", K::lun, true}, {"force", K::flag}},
          [](ControlContext& ctx, const json& p) { return lun_medium(ctx, p, false); });
    r.add("lun.insert", {{"target", K::text}, {"lun", K::lun, true}, {"force", K::flag}},
          [](ControlContext& ctx, const json& p) { return lun_medium(ctx, p, true); });
}

}  // namespace vstor::control
