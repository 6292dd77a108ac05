// `vstor serve`: build the adapter and front ends (iSCSI, NBD, StorPort) from flags (or a config
// file) and run until SIGINT/SIGTERM (Ctrl+C and the other console events on Windows).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/serve_plan.hpp"

namespace vstor::cli {

struct ServeOptions {
    std::vector<std::string> listen;  // host:port, repeatable
    std::vector<std::string> nbd_listen;  // --nbd-listen host:port, repeatable; NBD off if empty
    std::string nbd_tls;                  // --nbd-tls on|require,cert=,key=,ca=,psk=
    std::vector<std::string> nbd_identities;  // --nbd-identity TLS-ID=INITIATOR, repeatable
    bool nbd_insecure_unauthenticated = false;  // --nbd-insecure-unauthenticated
    std::optional<long long> nbd_handshake_timeout;  // --nbd-handshake-timeout SECONDS
    std::vector<std::string> luns;    // --lun specs, numbered from 0
    std::string target = "iqn.2026-11.org.vstor:disk0";
    std::string alias;
    std::string chap;         // USER:SECRET
    std::string mutual_chap;  // USER:SECRET
    std::string discovery_chap;         // USER:SECRET discovery sessions must authenticate with
    std::string discovery_mutual_chap;  // USER:SECRET the target answers discovery with
    std::vector<std::string> allow;
    std::vector<std::string> masks;  // IQN=LUN,LUN
    std::string config;       // TOML file
    std::string control;      // control socket path ("" = default; "off" = none)
    std::string metrics;      // Prometheus endpoint HOST:PORT ("" = none)
    unsigned loops = 0;
    std::optional<std::int64_t> login_timeout;  // --login-timeout SECONDS (default 15, as LIO)
    std::uint32_t busy_poll_us = iscsi::kDefaultBusyPollUs;  // --iscsi-busy-poll USEC
    std::string write_buffer_per_session;  // SIZE; empty = from the config file, else the default
    std::string write_buffer_total;
    std::optional<std::size_t> max_connections;              // --max-connections N (per listener)
    std::optional<std::size_t> max_connections_per_address;  // --max-connections-per-address N
    std::optional<std::uint16_t> port_group;     // --port-group N: this gateway's ALUA target port group
    std::optional<std::uint16_t> relative_port;  // --relative-port N: the first portal's relative port id
    std::uint32_t final_flush_timeout = 60;  // --final-flush-timeout SECONDS (0: no limit)
    std::string log_level = "info";
    bool storport = false;         // serve the LUNs to vstor.sys (Windows)
    std::string storport_connect;  // HOST:PORT of the StorPort emulator's IOCTL server (tests)
    unsigned storport_threads = 8; // bridge dispatcher threads
    bool uses_storport() const { return storport || !storport_connect.empty(); }
};

void add_serve_command(CLI::App& app, ServeOptions& opts);
int run_serve(const ServeOptions& opts);  // serve_run.cpp

// The plan the target/LUN flags describe (serve without --config); nullopt and `error` on a bad one.
std::optional<ServePlan> plan_from_flags(const ServeOptions& o, std::string& error);
// --write-buffer-* flags override the plan's (the config file's) values; sizes as in --lun.
bool apply_write_buffer_flags(const ServeOptions& o, ServePlan& plan, std::string& error);

}  // namespace vstor::cli
