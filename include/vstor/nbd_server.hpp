// An NBD server (the NBD protocol's proto.md, newstyle fixed) serving an Adapter's LUNs as
// exports, for nbdcopy, nbdinfo, qemu-img / qemu-nbd and the Linux nbd driver (nbd-client).
// Every NBD request becomes a SCSI command on the Adapter, so NBD clients see what iSCSI
// initiators see (the same data, reservations, write protection).
//
//   auto server = vstor::NbdServer::create({}, *adapter);  // 127.0.0.1:10809, every LUN
//   if (!server) { /* server.error says why */ }
//   server.value->start();
//
// The Adapter must outlive the server. docs/sdk.md has the whole story.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vstor/adapter.hpp"

#pragma GCC visibility push(default)  // the public API: exported from libvstor.so

namespace vstor {

struct NbdExport {
    std::string name;  // what clients ask for: nbd://host:port/NAME
    std::uint16_t adapter_target = 0;
    std::uint16_t lun = 0;
    std::string description;  // optional; by default one describing the LUN
};

// TLS through GnuTLS. `on` offers NBD_OPT_STARTTLS, `require` refuses everything else until the
// client has upgraded. X.509 (cert + key; a CA makes client certificates required) and/or PSK
// (a file of "identity:hexkey" lines, psktool's format).
struct NbdTls {
    enum class Mode : std::uint8_t { off, on, require };
    Mode mode = Mode::off;
    std::string cert_file, key_file, ca_file, psk_file;
};

struct NbdServerOptions {
    std::string address = "127.0.0.1";
    std::uint16_t port = 10809;  // 0: any free port (see NbdServer::port)
    // Empty: every LUN of the Adapter when the server is created, named "lun<N>" for the first
    // target and "<target name>/lun<N>" for the others. The empty export name "" (what clients
    // ask for when they name none) selects the first export.
    std::vector<NbdExport> exports;
    NbdTls tls;
    unsigned event_loops = 0;  // network threads; 0 = one per core
};

// NBD has no login of its own: without TLS every client reaches every export. The iSCSI
// targets' CHAP and initiator lists do not apply here.
class NbdServer {
public:
    // Checks the options (unique export names, LUNs that exist, readable TLS files) and binds
    // the address. Nothing runs until start().
    static Result<NbdServer> create(NbdServerOptions options, Adapter& adapter);

    NbdServer(NbdServer&&) noexcept;
    NbdServer& operator=(NbdServer&&) noexcept;
    ~NbdServer();  // stop()s

    void start();  // starts the network threads and returns
    // Stops accepting, lets in-flight requests finish, closes every connection and joins the
    // threads. Idempotent.
    void stop();
    std::uint16_t port() const;  // the bound port (the one the kernel chose when 0 was asked)

private:
    struct Impl;
    explicit NbdServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace vstor

#pragma GCC visibility pop
