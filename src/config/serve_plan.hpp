// What `vstor serve` is asked to run, from flags or from a TOML file: portals, targets, LUNs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/lun_spec.hpp"
#include "iscsi/server.hpp"
#include "util/write_budget.hpp"
#include "util/connection_limits.hpp"

namespace vstor::cli {

// Upper bound for --loops / `loops =`: each loop is a thread; more than this is a typo, not a
// tuning (the default, one per core, is what the benchmarks use). docs/config.md.
inline constexpr unsigned kMaxEventLoops = 256;

struct TargetPlan {
    iscsi::TargetConfig config;  // adapter_target_id is filled in when the adapter is built
    std::vector<LunSpec> luns;   // LUN i is luns[i]
    bool nbd_export = true;      // its LUNs are NBD exports when NBD is on ([[target]] nbd = false)
};

struct ServePlan {
    std::vector<iscsi::PortalConfig> portals;
    std::vector<TargetPlan> targets;
    unsigned loops = 0;
    std::uint32_t login_timeout_s = iscsi::kDefaultLoginTimeout;  // login_timeout = SECONDS
    iscsi::ChapCredentials discovery_chap;  // discovery_chap / discovery_mutual_chap = "USER:SECRET"
    // Write buffer budget (docs/iscsi.md): per iSCSI session / NBD connection, and for the whole
    // server; 0 = unlimited. Top-level write_buffer_per_session / write_buffer_total in TOML.
    std::uint64_t write_buffer_per_session = util::WriteBudget::kDefaultPerSession;
    std::uint64_t write_buffer_total = util::WriteBudget::kDefaultTotal;
    util::ConnectionLimits limits;  // max_connections, max_connections_per_address (iSCSI and NBD)
    std::vector<std::string> nbd_listen;  // [nbd] listen = ["HOST:PORT", ...]; empty = NBD off
    std::string nbd_tls;                  // [nbd] tls = "require,cert=...,key=..." (as --nbd-tls)
    std::vector<std::string> nbd_identities;      // [nbd] identities = ["TLS-ID=INITIATOR", ...]
    bool nbd_insecure_unauthenticated = false;    // [nbd] insecure_unauthenticated = true
    std::optional<long long> nbd_handshake_timeout;  // [nbd] handshake_timeout = SECONDS (default 15)
    // This gateway's target ports (docs/ceph.md, two gateways): the ALUA target port group of
    // every port (port_group = N) and the relative target port identifier of the first iSCSI
    // portal, which is also its portal group tag; the next portals count on (relative_port = N).
    std::uint16_t port_group = 1;
    std::uint16_t relative_port = 1;
};

// Shared by the flag and file front doors so both validate the same way.
bool parse_listen(const std::string& s, iscsi::PortalConfig& p, std::string& error);
bool parse_credentials(const std::string& s, const std::string& what, std::string& user, std::string& secret,
                       std::string& error);

// CHAP "USER:SECRET" and optional mutual "USER:SECRET" into `c` (flags, TOML and ctl alike);
// `what`/`mutual_what` name them in errors.
bool parse_chap_pair(const std::string& chap, const std::string& mutual, const std::string& what,
                     const std::string& mutual_what, iscsi::ChapCredentials& c, std::string& error);

// Seconds a connection may take to log in: 1..iscsi::kMaxLoginTimeout.
bool check_login_timeout(std::int64_t seconds, const std::string& what, std::string& error);

// The iSCSI name rules (iscsi/iscsi_name.hpp) with the error "WHAT 'NAME': why".
bool check_iscsi_name(const std::string& name, const std::string& what, std::string& error);

// Every LUN that the target's masks name exists in it (a mask of a missing LUN is a typo).
bool check_masks(const TargetPlan& tp, std::string& error);

// LUN masking entry IQN=LUN[,LUN...] (the IQN is checked with check_iscsi_name): the LUNs that
// initiator sees (the others are hidden).
bool parse_mask(const std::string& s, std::pair<std::string, std::vector<std::uint16_t>>& out, std::string& error);
std::string format_mask(const std::pair<std::string, std::vector<std::uint16_t>>& mask);

// The relative port ids of the portals (relative_port + i) stay within 1..65535.
bool check_relative_ports(const ServePlan& plan, std::string& error);

// Per-session write buffer no larger than the total (0 = unlimited).
bool check_write_buffer_sizes(const ServePlan& plan, std::string& error);

// TOML configuration file (docs/config.md). nullopt with `error` naming file, key and problem.
std::optional<ServePlan> load_config_file(const std::string& path, std::string& error);

}  // namespace vstor::cli
