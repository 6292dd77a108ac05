// The control plane's JSON-RPC methods by name (SPDK's SPDK_RPC_REGISTER idea): each domain file
// registers its methods with the params they take and a handler, and ControlService::call
// dispatches by lookup. The params list is checked before the handler runs, so an unknown or
// mistyped member is an "invalid params" error before anything is looked at or changed.
#pragma once

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <map>
#include <string>
#include <vector>

namespace vstor::control {

struct ControlContext;

enum class ParamKind {
    text,        // a string; required means present and not empty
    flag,        // true or false
    lun,         // a LUN number, 0..16383
    initiators,  // a list of initiator names (strings)
};

struct ParamSpec {
    const char* name;
    ParamKind kind;
    bool required = false;
};

// Runs one method on the control state (under the service's locks: control_service.hpp); throws
// RpcError.
using MethodHandler = nlohmann::json (*)(ControlContext& ctx, const nlohmann::json& params);

struct Method {
    std::vector<ParamSpec> params;  // the members the method reads
    MethodHandler handler = nullptr;
    bool read_only = false;  // changes nothing: runs alongside other calls, never waits for a change
};

class MethodRegistry {
public:
    // A method that changes something (they run one at a time).
    void add(const std::string& name, std::initializer_list<ParamSpec> params, MethodHandler handler);
    // A method that only reads: it must not change the plan nor anything else the context holds.
    void add_reader(const std::string& name, std::initializer_list<ParamSpec> params, MethodHandler handler);
    const Method* find(const std::string& name) const;

private:
    void insert(const std::string& name, Method m);  // refuses a name registered twice
    std::map<std::string, Method> methods_;
};

// Throws RpcError(invalid_params) naming the first member of `params` (an object or null) that
// `method` does not take, or that is missing or of the wrong type for `specs`. Unknown members
// are refused rather than ignored: a misspelt "allow" would otherwise add a target open to all.
void check_params(const std::string& method, const std::vector<ParamSpec>& specs, const nlohmann::json& params);

// One per domain file: status and stats, LUNs, targets (ACLs, CHAP), SANITIZE, save.
void register_status_methods(MethodRegistry& r);
void register_lun_methods(MethodRegistry& r);
void register_target_methods(MethodRegistry& r);
void register_sanitize_methods(MethodRegistry& r);
void register_save_methods(MethodRegistry& r);

}  // namespace vstor::control
