// TOML configuration for `vstor serve --config FILE`:
//
//   login_timeout = 15                   # optional: seconds to complete an iSCSI login
//   discovery_chap = "user:secret-of-12+"          # optional: CHAP for discovery sessions
//   discovery_mutual_chap = "tgt:another-secret"   # optional
//   max_connections = 1024               # optional: per iSCSI portal / NBD address (0 = no limit)
//   max_connections_per_address = 256    # optional: likewise, from one client address
//   port_group = 1                       # optional: ALUA target port group of this gateway
//   relative_port = 1                    # optional: relative port id of the first portal
//   [[portal]]
//   listen = "127.0.0.1:3260"
//   [[target]]
//   name = "iqn.2026-11.org.example:disks"
//   alias = "disks"                      # optional
//   chap = "user:secret-of-12+"          # optional
//   mutual_chap = "tgt:another-secret"   # optional
//   allow = ["iqn.1993-08.org.debian:01:host1"]   # optional
//   masks = ["iqn.1993-08.org.debian:01:host1=0,2"] # optional LUN masking
//   luns = ["mem:1G", "file:/srv/disk.img,size=8G"]
//   nbd = false                          # optional: keep this target's LUNs off NBD
//   write_buffer_per_session = "256M"    # optional write buffer budget (docs/iscsi.md)
//   write_buffer_total = "1G"
//   [nbd]
//   listen = ["127.0.0.1:10809"]         # optional: serve the LUNs over NBD too
//   tls = "require,cert=server.pem,key=server.key"   # optional, as --nbd-tls
//   identities = ["alice=iqn.1993-08.org.debian:01:host1"]  # optional, as --nbd-identity
//   insecure_unauthenticated = false     # optional, as --nbd-insecure-unauthenticated
//   handshake_timeout = 15               # optional, as --nbd-handshake-timeout
#include <toml++/toml.h>

#include "config/config_schema.hpp"
#include "config/serve_plan.hpp"

namespace vstor::cli {

namespace {
std::optional<std::string> get_string(const toml::table& t, const char* key, const std::string& where,
                                      std::string& error, bool required) {
    const auto* node = t.get(key);
    if (!node) {
        if (required) error = where + ": missing '" + key + "'";
        return std::nullopt;
    }
    if (!node->is_string()) {
        error = where + ": '" + key + "' must be a string";
        return std::nullopt;
    }
    return node->as_string()->get();
}

bool get_string_list(const toml::table& t, const char* key, const std::string& where, std::vector<std::string>& out,
                     std::string& error) {
    const auto* node = t.get(key);
    if (!node) return true;
    const auto* arr = node->as_array();
    if (!arr) {
        error = where + ": '" + key + "' must be a list of strings";
        return false;
    }
    for (const auto& item : *arr) {
        if (!item.is_string()) {
            error = where + ": '" + key + "' must be a list of strings";
            return false;
        }
        out.push_back(item.as_string()->get());
    }
    return true;
}
// A size as in --lun ("64M", "1G"; "0" = no limit). The schema already checked it is a string.
bool get_size(const toml::table& t, const char* key, const std::string& where, std::uint64_t& out,
              std::string& error) {
    const auto* node = t.get(key);
    if (!node || !node->is_string()) return true;
    const auto v = parse_size(node->as_string()->get());
    if (!v) {
        error = where + ": '" + key + "' must be a size such as \"256M\" or \"1G\" (\"0\" = no limit)";
        return false;
    }
    out = *v;
    return true;
}
// The top-level keys: loops, login timeout, discovery CHAP, write buffers, connection limits.
bool load_globals(const toml::table& root, const std::string& path, ServePlan& plan, std::string& error) {
    if (auto loops = root["loops"].value<std::int64_t>()) plan.loops = static_cast<unsigned>(*loops);
    // Type and range (1..kMaxLoginTimeout) are checked by the schema.
    if (auto lt = root["login_timeout"].value<std::int64_t>()) plan.login_timeout_s = static_cast<std::uint32_t>(*lt);
    if (!parse_chap_pair(root["discovery_chap"].value_or(std::string{}), root["discovery_mutual_chap"].value_or(std::string{}),
                         "discovery_chap", "discovery_mutual_chap", plan.discovery_chap, error)) {
        error = path + ": " + error;
        return false;
    }
    if (!get_size(root, "write_buffer_per_session", path, plan.write_buffer_per_session, error) ||
        !get_size(root, "write_buffer_total", path, plan.write_buffer_total, error))
        return false;
    if (!check_write_buffer_sizes(plan, error)) {
        error = path + ": " + error;
        return false;
    }
    if (auto n = root["max_connections"].value<std::int64_t>()) plan.limits.max_connections = static_cast<std::size_t>(*n);
    if (auto n = root["max_connections_per_address"].value<std::int64_t>())
        plan.limits.max_per_address = static_cast<std::size_t>(*n);
    if (auto n = root["port_group"].value<std::int64_t>()) plan.port_group = static_cast<std::uint16_t>(*n);
    if (auto n = root["relative_port"].value<std::int64_t>()) plan.relative_port = static_cast<std::uint16_t>(*n);
    return true;
}

// [[portal]] tables, numbered as portal groups in order; none means the default portal.
bool load_portals(const toml::table& root, const std::string& path, ServePlan& plan, std::string& error) {
    if (const auto* portals = root["portal"].as_array()) {
        for (std::size_t i = 0; i < portals->size(); ++i) {
            const auto* t = (*portals)[i].as_table();
            const std::string where = path + ": portal " + std::to_string(i + 1);
            if (!t) {
                error = where + ": must be a table";
                return false;
            }
            auto listen = get_string(*t, "listen", where, error, true);
            if (!listen) return false;
            iscsi::PortalConfig p;
            if (!parse_listen(*listen, p, error)) return false;
            p.portal_group_tag = static_cast<std::uint16_t>(i + 1);
            plan.portals.push_back(p);
        }
    }
    if (plan.portals.empty()) plan.portals.push_back(iscsi::PortalConfig{});
    return true;
}

// The [nbd] table (optional).
bool load_nbd(const toml::table& root, const std::string& path, ServePlan& plan, std::string& error) {
    const auto* nbd = root.get("nbd");
    if (!nbd) return true;
    const auto* t = nbd->as_table();
    if (!t) {
        error = path + ": [nbd] must be a table";
        return false;
    }
    if (!get_string_list(*t, "listen", path + ": [nbd]", plan.nbd_listen, error)) return false;
    if (auto tls = get_string(*t, "tls", path + ": [nbd]", error, false)) plan.nbd_tls = *tls;
    if (!get_string_list(*t, "identities", path + ": [nbd]", plan.nbd_identities, error)) return false;
    // Types and the timeout's range (1..3600) are checked by the schema.
    if (auto v = (*t)["insecure_unauthenticated"].value<bool>()) plan.nbd_insecure_unauthenticated = *v;
    if (auto v = (*t)["handshake_timeout"].value<std::int64_t>()) plan.nbd_handshake_timeout = *v;
    return error.empty();
}

// A target's CHAP and mutual CHAP credentials.
bool load_target_chap(const toml::table& t, const std::string& where, TargetPlan& tp, std::string& error) {
    if (auto c = get_string(t, "chap", where, error, false)) {
        if (!parse_credentials(*c, where + ": chap", tp.config.chap.user, tp.config.chap.secret, error)) return false;
    }
    if (auto c = get_string(t, "mutual_chap", where, error, false)) {
        if (tp.config.chap.user.empty()) {
            error = where + ": mutual_chap needs chap as well";
            return false;
        }
        if (!parse_credentials(*c, where + ": mutual_chap", tp.config.chap.mutual_user, tp.config.chap.mutual_secret,
                               error))
            return false;
    }
    return error.empty();
}

// A target's allow list and LUN masks.
bool load_target_access(const toml::table& t, const std::string& where, TargetPlan& tp, std::string& error) {
    if (!get_string_list(t, "allow", where, tp.config.allowed_initiators, error)) return false;
    for (const auto& a : tp.config.allowed_initiators)
        if (!check_iscsi_name(a, where + ": allow", error)) return false;
    std::vector<std::string> masks;
    if (!get_string_list(t, "masks", where, masks, error)) return false;
    for (const auto& m : masks) {
        tp.config.lun_masks.emplace_back();
        if (!parse_mask(m, tp.config.lun_masks.back(), error)) {
            error = where + ": " + error;
            return false;
        }
    }
    return true;
}

// A target's LUN specs (at least one).
bool load_target_luns(const toml::table& t, const std::string& where, TargetPlan& tp, std::string& error) {
    std::vector<std::string> luns;
    if (!get_string_list(t, "luns", where, luns, error)) return false;
    if (luns.empty()) {
        error = where + ": no luns";
        return false;
    }
    for (const auto& l : luns) {
        auto spec = parse_lun_spec(l, error);
        if (!spec) {
            error = where + ": " + error;
            return false;
        }
        tp.luns.push_back(*spec);
    }
    return true;
}

// One [[target]] table.
std::optional<TargetPlan> load_target(const toml::table& t, const std::string& where, std::string& error) {
    TargetPlan tp;
    auto name = get_string(t, "name", where, error, true);
    if (!name) return std::nullopt;
    if (!check_iscsi_name(*name, where + ": name", error)) return std::nullopt;
    tp.config.name = *name;
    if (auto a = get_string(t, "alias", where, error, false)) tp.config.alias = *a;
    if (!error.empty()) return std::nullopt;
    if (!load_target_chap(t, where, tp, error) || !load_target_access(t, where, tp, error)) return std::nullopt;
    if (const auto* nbd = t.get("nbd")) {
        if (!nbd->is_boolean()) {
            error = where + ": 'nbd' must be true or false";
            return std::nullopt;
        }
        tp.nbd_export = nbd->as_boolean()->get();
    }
    if (!load_target_luns(t, where, tp, error)) return std::nullopt;
    if (!check_masks(tp, error)) {
        error = where + ": " + error;
        return std::nullopt;
    }
    return tp;
}
}  // namespace

std::optional<ServePlan> load_config_file(const std::string& path, std::string& error) {
    toml::table root;
    try {
        root = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
        error = path + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description());
        return std::nullopt;
    }
    if (!check_config_keys(root, kTopLevelKeys, path, "", error)) return std::nullopt;
    ServePlan plan;
    if (!load_globals(root, path, plan, error) || !load_portals(root, path, plan, error) ||
        !load_nbd(root, path, plan, error))
        return std::nullopt;
    const auto* targets = root["target"].as_array();
    if (!targets || targets->empty()) {
        error = path + ": no [[target]]";
        return std::nullopt;
    }
    for (std::size_t i = 0; i < targets->size(); ++i) {
        const auto* t = (*targets)[i].as_table();
        const std::string where = path + ": target " + std::to_string(i + 1);
        if (!t) {
            error = where + ": must be a table";
            return std::nullopt;
        }
        auto tp = load_target(*t, where, error);
        if (!tp) return std::nullopt;
        plan.targets.push_back(std::move(*tp));
    }
    return plan;
}

}  // namespace vstor::cli
