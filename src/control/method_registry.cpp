#include "control/method_registry.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "control/params.hpp"

namespace vstor::control {

using nlohmann::json;

void MethodRegistry::add(const std::string& name, std::initializer_list<ParamSpec> params, MethodHandler handler) {
    insert(name, Method{params, handler, false});
}

void MethodRegistry::add_reader(const std::string& name, std::initializer_list<ParamSpec> params,
                                MethodHandler handler) {
    insert(name, Method{params, handler, true});
}

void MethodRegistry::insert(const std::string& name, Method m) {
    if (!methods_.emplace(name, std::move(m)).second)
        throw std::logic_error("control method " + name + " registered twice");
}

const Method* MethodRegistry::find(const std::string& name) const {
    const auto it = methods_.find(name);
    return it == methods_.end() ? nullptr : &it->second;
}

namespace {
// The messages are params.hpp's, which the handlers use to read the members afterwards.
void check_one(const ParamSpec& s, const json& p) {
    switch (s.kind) {
    case ParamKind::text:
        if (s.required) req_string(p, s.name);
        else opt_string(p, s.name);
        return;
    case ParamKind::flag:
        if (!s.required) {
            opt_bool(p, s.name);
        } else if (const auto* v = member(p, s.name); !v || !v->is_boolean()) {
            throw RpcError(rpc_code::invalid_params, std::string("missing '") + s.name + "' (true or false)");
        }
        return;
    case ParamKind::lun:
        if (!opt_uint(p, s.name, 16383) && s.required)
            throw RpcError(rpc_code::invalid_params, std::string("missing '") + s.name + "'");
        return;
    case ParamKind::initiators:
        if (const auto* v = member(p, s.name)) {
            const auto bad = [](const json& i) { return !i.is_string(); };
            if (!v->is_array() || std::any_of(v->begin(), v->end(), bad))
                throw RpcError(rpc_code::invalid_params, std::string("'") + s.name + "' must be a list of initiator names");
        } else if (s.required) {
            throw RpcError(rpc_code::invalid_params, std::string("missing '") + s.name + "'");
        }
        return;
    }
}
}  // namespace

void check_params(const std::string& method, const std::vector<ParamSpec>& specs, const json& params) {
    if (params.is_object()) {
        for (const auto& item : params.items()) {
            // A named reference, not a structured binding: clang 14 cannot capture bindings.
            const std::string& key = item.key();
            const auto known = [&key](const ParamSpec& s) { return key == s.name; };
            if (std::any_of(specs.begin(), specs.end(), known)) continue;
            std::string takes;
            for (const auto& s : specs) takes += (takes.empty() ? "" : ", ") + std::string(s.name);
            throw RpcError(rpc_code::invalid_params,
                           "unknown member '" + key + "' (" + method + " takes " + (takes.empty() ? "none" : takes) + ")");
        }
    }
    for (const auto& s : specs) check_one(s, params);
}

}  // namespace vstor::control
