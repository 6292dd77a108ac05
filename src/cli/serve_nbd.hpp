// `vstor serve` NBD front end: listen addresses from --nbd-listen or the [nbd] table, one export
// per LUN (named by the LUN spec's name=, else lun<N> for the first target and
// <target name>/lun<N> for the others), "" = the first LUN of the first target. See docs/nbd.md.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/serve_plan.hpp"
#include "nbd/server.hpp"
#include "vstor/adapter.hpp"

namespace vstor::cli {

// HOST:PORT, HOST (port 10809) or [V6]:PORT.
bool parse_nbd_listen(const std::string& s, nbd::ListenConfig& out, std::string& error);

// off | on | require, then comma-separated cert=FILE, key=FILE, ca=FILE, psk=FILE.
bool parse_nbd_tls(const std::string& s, nbd::TlsConfig& out, std::string& error);

// The export name of a LUN: its name= option, else lun<N> on the first target and
// <target name>/lun<N> on the others.
std::string nbd_export_name(bool first_target, const TargetPlan& target, const LunSpec& lun, std::uint16_t number);

// Exports for every LUN of every target that is exported over NBD (after the adapter is built,
// so target ids are known). Fails on a duplicate name.
bool nbd_exports(const ServePlan& plan, std::vector<nbd::ExportConfig>& out, std::string& error);

// Starts the NBD server if `listen` (flags, else the plan's [nbd] listen) is non-empty and
// prints where it serves; `tls_flag` (else the plan's [nbd] tls) configures TLS. Returns nullptr
// with `error` empty when NBD is off.
std::unique_ptr<nbd::Server> start_nbd(const std::vector<std::string>& listen_flags, const std::string& tls_flag,
                                       const ServePlan& plan, Adapter& adapter, std::string& error);

}  // namespace vstor::cli
