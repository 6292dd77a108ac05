// The parsers and checks that `vstor serve`'s flags, the TOML file and `vstor ctl` share
// (serve_plan.hpp): one place, so all three front doors validate alike.
#include "config/serve_plan.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config/host_port.hpp"
#include "config/lun_spec.hpp"
#include "iscsi/iscsi_name.hpp"

namespace vstor::cli {

bool parse_credentials(const std::string& s, const std::string& what, std::string& user, std::string& secret,
                       std::string& error) {
    const auto colon = s.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) {
        error = fmt::format("{} '{}': expected USER:SECRET", what, s);
        return false;
    }
    user = s.substr(0, colon);
    secret = s.substr(colon + 1);
    if (secret.size() < 12) {
        error = fmt::format("{}: the secret must be at least 12 characters (RFC 7143 12.1.3)", what);
        return false;
    }
    return true;
}

bool parse_chap_pair(const std::string& chap, const std::string& mutual, const std::string& what,
                     const std::string& mutual_what, iscsi::ChapCredentials& c, std::string& error) {
    c = {};
    if (!chap.empty() && !parse_credentials(chap, what, c.user, c.secret, error)) return false;
    if (mutual.empty()) return true;
    if (chap.empty()) {
        error = mutual_what + " needs " + what + " as well";
        return false;
    }
    return parse_credentials(mutual, mutual_what, c.mutual_user, c.mutual_secret, error);
}

bool check_login_timeout(std::int64_t seconds, const std::string& what, std::string& error) {
    if (seconds >= 1 && seconds <= iscsi::kMaxLoginTimeout) return true;
    error = fmt::format("{}: {} is not a number of seconds from 1 to {}", what, seconds, iscsi::kMaxLoginTimeout);
    return false;
}

bool parse_mask(const std::string& s, std::pair<std::string, std::vector<std::uint16_t>>& out, std::string& error) {
    const auto eq = s.rfind('=');
    if (eq == std::string::npos || eq == 0) {
        error = fmt::format("mask '{}': expected INITIATOR-IQN=LUN[,LUN...]", s);
        return false;
    }
    out.first = s.substr(0, eq);
    out.second.clear();
    if (!check_iscsi_name(out.first, fmt::format("mask '{}': initiator", s), error)) return false;
    std::string rest = s.substr(eq + 1);
    std::size_t pos = 0;
    while (pos <= rest.size()) {
        const auto comma = std::min(rest.find(',', pos), rest.size());
        const std::string item = rest.substr(pos, comma - pos);
        char* end = nullptr;
        const unsigned long v = std::strtoul(item.c_str(), &end, 10);
        if (item.empty() || *end || v >= 16384) {
            error = fmt::format("mask '{}': '{}' is not a LUN number", s, item);
            return false;
        }
        out.second.push_back(static_cast<std::uint16_t>(v));
        pos = comma + 1;
    }
    return true;
}

bool check_iscsi_name(const std::string& name, const std::string& what, std::string& error) {
    const auto why = iscsi::iscsi_name_problem(name);
    if (why.empty()) return true;
    error = fmt::format("{} '{}': {}", what, name, why);
    return false;
}

bool check_masks(const TargetPlan& tp, std::string& error) {
    for (const auto& [initiator, luns] : tp.config.lun_masks) {
        for (const auto lun : luns) {
            bool exists = false;
            for (std::size_t i = 0; i < tp.luns.size(); ++i)
                exists = exists || tp.luns[i].lun.value_or(static_cast<std::uint16_t>(i)) == lun;
            if (!exists) {
                error = fmt::format("mask '{}': target {} has no LUN {}",
                                    format_mask({initiator, luns}), tp.config.name, lun);
                return false;
            }
        }
    }
    return true;
}

std::string format_mask(const std::pair<std::string, std::vector<std::uint16_t>>& mask) {
    return fmt::format("{}={}", mask.first, fmt::join(mask.second, ","));
}

bool parse_listen(const std::string& s, iscsi::PortalConfig& p, std::string& error) {
    HostPort hp;
    if (!parse_host_port("--listen", s, p.port, hp, error)) return false;
    p.address = hp.address;
    p.port = hp.port;
    return true;
}

bool check_relative_ports(const ServePlan& plan, std::string& error) {
    const std::size_t last = plan.relative_port + (plan.portals.empty() ? 0 : plan.portals.size() - 1);
    if (plan.relative_port == 0 || last > 0xffff) {
        error = fmt::format("relative port {} with {} portal(s): the ports' ids must stay within 1..65535",
                            plan.relative_port, plan.portals.size());
        return false;
    }
    return true;
}

bool check_write_buffer_sizes(const ServePlan& plan, std::string& error) {
    if (plan.write_buffer_total && plan.write_buffer_per_session > plan.write_buffer_total) {
        error = fmt::format("write buffer per session ({}) exceeds the total ({})",
                            format_size(plan.write_buffer_per_session), format_size(plan.write_buffer_total));
        return false;
    }
    if (plan.write_buffer_total && !plan.write_buffer_per_session) {
        error = "write buffer per session unlimited (0) but the total is limited: give both or neither";
        return false;
    }
    return true;
}

}  // namespace vstor::cli
