// NBD server (the upstream protocol document, proto.md): the contract between the protocol code
// (src/nbd/) and the command line (src/cli/). Every NBD command becomes a SCSI command submitted
// to the Adapter through a per-connection I_T nexus, so NBD sees what iSCSI sees (data,
// reservations, write protection). See docs/nbd.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/write_budget.hpp"
#include "util/connection_limits.hpp"
#include "vstor/access_rules.hpp"
#include "vstor/adapter.hpp"

namespace vstor::nbd {

struct ListenConfig {
    std::string address = "127.0.0.1";
    std::uint16_t port = 10809;
};

struct ExportConfig {
    std::string name;                 // export name clients ask for (nbd://host:port/NAME)
    std::string description;          // optional; default describes the LUN
    std::uint16_t adapter_target_id = 0;
    std::uint16_t lun = 0;
};

// TLS (GnuTLS): `on` lets clients upgrade with NBD_OPT_STARTTLS, `require` refuses every option
// but STARTTLS and ABORT until they do. X.509 (cert + key, optional CA to require client
// certificates) and/or PSK ("identity:hexkey" lines, psktool's format).
struct TlsConfig {
    enum class Mode : std::uint8_t { off, on, require };
    Mode mode = Mode::off;
    std::string cert_file;
    std::string key_file;
    std::string ca_file;
    std::string psk_file;
};

// Access control (docs/nbd.md "Access control"): the rules iSCSI applies (--chap, --allow,
// --mask), applied to the initiator name a client's TLS identity maps to. A client without an
// authenticated TLS identity gets nothing from a guarded target unless insecure_unauthenticated.
struct AccessConfig {
    // The current rules of an adapter target (read at every decision, so `vstor ctl` changes
    // apply at once); nullopt or unset = unguarded. Called from any thread.
    std::function<std::optional<AccessRules>(std::uint16_t target_id)> rules;
    // TLS identity (PSK identity, or the CN of a client certificate verified against ca=) ->
    // initiator name. An identity not listed is its own initiator name.
    std::vector<std::pair<std::string, std::string>> identities;
    // Clients without a TLS identity get every export, whatever the rules say (the old behaviour).
    bool insecure_unauthenticated = false;
};

struct ServerConfig {
    std::vector<ListenConfig> listen;
    // The empty name "" selects the export literally named "" if there is one, else the first
    // export in this list (the CLI puts LUN 0 of the first target first).
    std::vector<ExportConfig> exports;
    unsigned event_loops = 0;              // 0 = one per core
    std::uint16_t relative_port = 0x4e42;  // SCSI relative target port id of NBD nexuses ("NB")
    TlsConfig tls;
    AccessConfig access;
    // A connection that has not reached the transmission phase (option haggling and any TLS
    // handshake done) within this many seconds is closed; 0 = never.
    unsigned handshake_timeout_s = 15;
    // WRITE payloads held in memory (shared with iSCSI; its per-session limit applies to each
    // connection). A connection over it reads no further requests until data drains.
    // Null: a budget of its own with the default limits.
    std::shared_ptr<util::WriteBudget> write_budget;
    util::ConnectionLimits limits;  // per listen address: --max-connections, --max-connections-per-address
    // Following the adapter's LUNs (serve sets it): when set, the server subscribes to the
    // adapter's LUN events until stop(). A LUN added becomes the export this returns (nullopt: not
    // exported); a LUN removed takes its exports with it. Called on the bus's thread: must not block.
    std::function<std::optional<ExportConfig>(const LunEvent& added)> follow_luns;
};

class Server {
public:
    virtual ~Server() = default;
    // Validates the config (non-empty listen list, unique export names) and binds every
    // address; nullptr with `error` set on failure.
    static std::unique_ptr<Server> create(ServerConfig config, Adapter& adapter, std::string& error);

    virtual void start() = 0;  // starts the event loops (returns at once)
    // Stops accepting, lets in-flight requests finish (ESHUTDOWN for new ones), closes every
    // connection and joins the loops. Idempotent.
    virtual void stop() = 0;
    virtual std::uint16_t bound_port(std::size_t listen_index) const = 0;

    // Thread-safe, for a control plane: new connections see the change at once; connections
    // already in transmission keep their export until they disconnect.
    virtual Status add_export(ExportConfig e) = 0;
    virtual Status remove_export(const std::string& name) = 0;
    virtual std::vector<ExportConfig> exports() const = 0;
    // After the access rules changed (ctl acl/chap): closes every connection in transmission
    // whose client the current rules no longer admit to its export. Returns how many.
    virtual std::size_t recheck_access() = 0;
};

}  // namespace vstor::nbd
