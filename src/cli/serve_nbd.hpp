// `vstor serve` NBD front end: listen addresses from --nbd-listen or the [nbd] table, one export
// per LUN (named by the LUN spec's name=, else lun<N> for the first target and
// <target name>/lun<N> for the others), "" = the first LUN of the first target. See docs/nbd.md.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/serve_plan.hpp"
#include "nbd/server.hpp"
#include "vstor/access_rules.hpp"
#include "vstor/adapter.hpp"

namespace vstor::cli {

// HOST:PORT, HOST (port 10809) or [V6]:PORT.
bool parse_nbd_listen(const std::string& s, nbd::ListenConfig& out, std::string& error);

// off | on | require, then comma-separated cert=FILE, key=FILE, ca=FILE, psk=FILE.
bool parse_nbd_tls(const std::string& s, nbd::TlsConfig& out, std::string& error);

// The export name of a LUN: its name= option, else lun<N> on the first target and
// <target name>/lun<N> on the others.
std::string nbd_export_name(bool first_target, const std::string& target, const std::string& lun_name,
                            std::uint16_t number);

// Exports for every LUN of every target that is exported over NBD (after the adapter is built,
// so target ids are known). Fails on a duplicate name.
bool nbd_exports(const ServePlan& plan, std::vector<nbd::ExportConfig>& out, std::string& error);

// What NBD exports a LUN added at run time (`ctl lun add`) as (nbd::ServerConfig::follow_luns):
// the same name nbd_export_name gives, from the LUN's event; nothing on a target with nbd = false.
std::function<std::optional<nbd::ExportConfig>(const LunEvent&)> nbd_follow_luns(const ServePlan& plan);

// TLS-ID=INITIATOR (--nbd-identity, [nbd] identities): the initiator name that --allow, --mask
// and `ctl acl` use for a client proving this TLS identity (PSK identity or certificate CN).
bool parse_nbd_identity(const std::string& s, std::pair<std::string, std::string>& out, std::string& error);

// --nbd-handshake-timeout / [nbd] handshake_timeout: 1..3600 seconds.
bool check_nbd_handshake_timeout(long long seconds, std::string& error);

// Why NBD cannot apply the access rules of a target it exports ("" when it can or nothing
// exported is guarded): guarded targets need TLS required with client authentication (PSK,
// or certificates verified against ca=), since NBD has no other way to know who a client is.
std::string nbd_unenforceable_reason(const ServePlan& plan, const nbd::TlsConfig& tls);

// The NBD server's configuration from the plan (flags merged in first), all but the exports
// and the rules source; cfg.listen empty = NBD off. Fails (error set) on a bad value, and on a
// guarded target NBD cannot protect unless the plan opts in with nbd_insecure_unauthenticated.
// `serve` calls it before it builds anything, so a refused start leaves nothing behind.
bool nbd_server_config(const ServePlan& plan, nbd::ServerConfig& cfg, std::string& error);

// The current access rules of an adapter target (in `serve`: the iSCSI server's live configs).
using AccessRulesSource = std::function<std::optional<AccessRules>(std::uint16_t target_id)>;

// Starts the NBD server if the plan's nbd_listen is non-empty and prints where it serves; the
// insecure opt-in logs a warning. Returns nullptr with `error` empty when NBD is off.
// `write_budget`: the write buffer budget shared with iSCSI (null: NBD's own, default limits).
std::unique_ptr<nbd::Server> start_nbd(const ServePlan& plan, Adapter& adapter, AccessRulesSource rules,
                                       std::string& error, std::shared_ptr<util::WriteBudget> write_budget = nullptr);

}  // namespace vstor::cli
