// iSCSI target server (RFC 7143): the contract between the protocol code (src/iscsi/) and the
// command line / config (src/cli/). The CLI builds a ServerConfig and an Adapter, then runs this.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/write_budget.hpp"
#include "util/connection_limits.hpp"
#include "vstor/access_rules.hpp"
#include "vstor/adapter.hpp"

namespace vstor::iscsi {

struct ChapCredentials {
    std::string user;    // initiator must authenticate as user/secret (one-way CHAP)
    std::string secret;  // 12..16+ bytes recommended; RFC 7143 requires >= 12 for CHAP
    std::string mutual_user;    // optional: target authenticates back (mutual CHAP)
    std::string mutual_secret;
    bool enabled() const { return !user.empty(); }
};

struct TargetConfig {
    std::string name;                  // IQN, e.g. iqn.2026-11.org.vstor:disk
    std::string alias;                 // TargetAlias (optional)
    std::uint16_t adapter_target_id;   // target in the Adapter that holds its LUNs
    ChapCredentials chap;              // empty = no authentication
    std::vector<std::string> allowed_initiators;  // empty = everyone may log in
    // LUN masking: initiator IQN -> LUNs it may see (absent = all LUNs of the target).
    std::vector<LunMask> lun_masks;
    // The rules every front end applies (vstor/access_rules.hpp); these two are their iSCSI use.
    AccessRules access_rules() const { return {chap.enabled(), allowed_initiators, lun_masks}; }
    bool admits(const std::string& initiator) const {
        return AccessRules::admits(allowed_initiators, initiator);
    }
    // The LUNs `initiator` may see, or nullopt for all of them.
    std::optional<std::vector<std::uint16_t>> visible_luns(const std::string& initiator) const {
        return AccessRules::visible_luns(lun_masks, initiator);
    }
};

using TargetPtr = std::shared_ptr<const TargetConfig>;
using TargetList = std::vector<TargetPtr>;

struct PortalConfig {
    std::string address = "127.0.0.1";
    std::uint16_t port = 3260;
    std::uint16_t portal_group_tag = 1;
};

inline constexpr std::uint32_t kDefaultLoginTimeout = 15;
inline constexpr std::uint32_t kMaxLoginTimeout = 3600;
// Busy polling after a connection's socket ran dry with no command in flight (docs/iscsi.md):
// off by default, since on a machine with idle cores it costs CPU time per command.
inline constexpr std::uint32_t kDefaultBusyPollUs = 0;
inline constexpr std::uint32_t kMaxBusyPollUs = 1000;

struct ServerConfig {
    std::vector<PortalConfig> portals;
    std::vector<TargetConfig> targets;
    ChapCredentials discovery_chap;    // for SendTargets discovery sessions (empty = none)
    unsigned event_loops = 0;          // 0 = one per core
    std::uint32_t nop_in_interval_s = 30;  // target NOP-In keepalive; 0 = off
    std::uint32_t nop_timeout_s = 30;      // connection dropped if no answer within this
    // A connection that has not finished login within this many seconds is closed (LIO's 15 s),
    // so half-done logins cannot pile up. 1..kMaxLoginTimeout.
    std::uint32_t login_timeout_s = kDefaultLoginTimeout;
    // Microseconds a connection with nothing in flight keeps reading its socket (yielding the
    // CPU between tries) before it sleeps in epoll: at queue depth 1 the next command usually
    // comes within them, and waking a sleeping loop may cost more than the poll. 0 = off.
    std::uint32_t busy_poll_us = kDefaultBusyPollUs;
    // Write data buffered for commands still receiving it (shared with NBD; docs/iscsi.md).
    // Null: a budget of its own with the default limits.
    std::shared_ptr<util::WriteBudget> write_budget;
    util::ConnectionLimits limits;  // per portal: --max-connections, --max-connections-per-address
    // No portal is then allowed: the server only keeps the targets (`serve --storport` without --listen).
    bool portals_optional = false;
};

// A logged-in session as `vstor ctl status` shows it.
struct SessionInfo {
    std::string initiator;
    std::string isid;  // hex
    std::uint16_t tsih = 0;
    std::string target;  // empty for discovery sessions
    bool discovery = false;
    std::vector<std::string> connections;  // peer address:port of each connection
    std::uint64_t commands = 0, bytes_in = 0, bytes_out = 0, errors = 0;
};

// Login-phase counters since start, for `vstor ctl stats` and /metrics.
struct LoginStats {
    std::uint64_t chap_failures = 0;   // CHAP responses with a wrong user or secret
    std::uint64_t login_timeouts = 0;  // connections closed for not logging in within login_timeout_s
};

class Server {
public:
    virtual ~Server() = default;
    // Validates the config and binds every portal; returns nullptr and sets `error` on failure
    // (e.g. "cannot listen on 127.0.0.1:3260: Address already in use").
    static std::unique_ptr<Server> create(ServerConfig config, Adapter& adapter, std::string& error);

    // Starts the event loops (returns at once).
    virtual void start() = 0;
    // Orderly stop: stop accepting, send Async Message logout requests, abort or drain
    // in-flight commands, close connections, join the loops. Idempotent.
    virtual void stop() = 0;
    // Actual bound port of portal i (useful when port 0 was asked for in tests).
    virtual std::uint16_t bound_port(std::size_t portal_index) const = 0;

    // Runtime changes (the control plane). New logins and discovery see the change at once;
    // sessions keep the configuration they logged in with, except that removing a target
    // closes its sessions. Errors leave everything unchanged.
    virtual Status add_target(TargetConfig target) = 0;
    virtual Status update_target(TargetConfig target) = 0;  // matched by name
    virtual Status remove_target(const std::string& name) = 0;
    virtual std::vector<TargetConfig> target_configs() const = 0;
    // CHAP that discovery (SendTargets) sessions must pass; empty credentials = none. New
    // discovery logins see a change at once.
    virtual Status set_discovery_chap(ChapCredentials chap) = 0;
    virtual ChapCredentials discovery_chap() const = 0;
    virtual std::vector<SessionInfo> sessions() const = 0;
    virtual LoginStats login_stats() const = 0;
    // Closes the sessions `initiator` has with `target` (after its access was revoked).
    virtual std::size_t close_sessions(const std::string& target, const std::string& initiator) = 0;
};

}  // namespace vstor::iscsi
