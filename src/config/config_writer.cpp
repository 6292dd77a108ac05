#include "config/config_writer.hpp"

#include <toml++/toml.h>

#include <sstream>

namespace vstor::control {

std::string render_toml(const cli::ServePlan& plan) {
    toml::table root;
    if (plan.loops) root.insert("loops", static_cast<std::int64_t>(plan.loops));
    if (plan.login_timeout_s != iscsi::kDefaultLoginTimeout)
        root.insert("login_timeout", static_cast<std::int64_t>(plan.login_timeout_s));
    if (const auto& d = plan.discovery_chap; d.enabled()) {
        root.insert("discovery_chap", d.user + ":" + d.secret);
        if (!d.mutual_user.empty()) root.insert("discovery_mutual_chap", d.mutual_user + ":" + d.mutual_secret);
    }
    if (plan.write_buffer_per_session != util::WriteBudget::kDefaultPerSession)
        root.insert("write_buffer_per_session", cli::format_size(plan.write_buffer_per_session));
    if (plan.write_buffer_total != util::WriteBudget::kDefaultTotal)
        root.insert("write_buffer_total", cli::format_size(plan.write_buffer_total));
    if (plan.limits.max_connections != util::kDefaultMaxConnections)
        root.insert("max_connections", static_cast<std::int64_t>(plan.limits.max_connections));
    if (plan.limits.max_per_address != util::kDefaultMaxConnectionsPerAddress)
        root.insert("max_connections_per_address", static_cast<std::int64_t>(plan.limits.max_per_address));
    if (plan.port_group != 1) root.insert("port_group", static_cast<std::int64_t>(plan.port_group));
    if (plan.relative_port != 1) root.insert("relative_port", static_cast<std::int64_t>(plan.relative_port));
    toml::array portals;
    for (const auto& p : plan.portals) {
        const bool v6 = p.address.find(':') != std::string::npos;
        portals.push_back(toml::table{{"listen", (v6 ? "[" + p.address + "]" : p.address) + ":" + std::to_string(p.port)}});
    }
    root.insert("portal", std::move(portals));
    toml::array targets;
    for (const auto& tp : plan.targets) {
        toml::table t;
        t.insert("name", tp.config.name);
        if (!tp.config.alias.empty()) t.insert("alias", tp.config.alias);
        if (!tp.nbd_export) t.insert("nbd", false);
        if (tp.config.chap.enabled()) t.insert("chap", tp.config.chap.user + ":" + tp.config.chap.secret);
        if (!tp.config.chap.mutual_user.empty())
            t.insert("mutual_chap", tp.config.chap.mutual_user + ":" + tp.config.chap.mutual_secret);
        if (!tp.config.allowed_initiators.empty()) {
            toml::array allow;
            for (const auto& a : tp.config.allowed_initiators) allow.push_back(a);
            t.insert("allow", std::move(allow));
        }
        if (!tp.config.lun_masks.empty()) {
            toml::array masks;
            for (const auto& m : tp.config.lun_masks) masks.push_back(cli::format_mask(m));
            t.insert("masks", std::move(masks));
        }
        toml::array luns;
        std::size_t position = 0;
        for (auto spec : tp.luns) {
            if (spec.lun && *spec.lun == position) spec.lun.reset();  // numbered by position anyway
            luns.push_back(cli::format_lun_spec(spec));
            ++position;
        }
        t.insert("luns", std::move(luns));
        targets.push_back(std::move(t));
    }
    root.insert("target", std::move(targets));
    if (!plan.nbd_listen.empty() || !plan.nbd_tls.empty()) {
        toml::table nbd;
        toml::array listen;
        for (const auto& l : plan.nbd_listen) listen.push_back(l);
        if (!listen.empty()) nbd.insert("listen", std::move(listen));
        if (!plan.nbd_tls.empty()) nbd.insert("tls", plan.nbd_tls);
        if (!plan.nbd_identities.empty()) {
            toml::array ids;
            for (const auto& i : plan.nbd_identities) ids.push_back(i);
            nbd.insert("identities", std::move(ids));
        }
        if (plan.nbd_insecure_unauthenticated) nbd.insert("insecure_unauthenticated", true);
        if (plan.nbd_handshake_timeout)
            nbd.insert("handshake_timeout", static_cast<std::int64_t>(*plan.nbd_handshake_timeout));
        root.insert("nbd", std::move(nbd));
    }
    std::ostringstream out;
    out << "# vstor configuration, written by `vstor ctl save` (docs/config.md)\n" << root << "\n";
    return out.str();
}

}  // namespace vstor::control
