// An iSCSI target (RFC 7143) serving an Adapter's targets and LUNs: what a program that brings its
// own Backend needs to be reached by open-iscsi, libiscsi, QEMU or Windows' initiator.
//
//   auto adapter = vstor::Adapter::create();
//   auto target = *adapter->add_target("iqn.2026-12.org.example:disk").value;
//   adapter->add_lun(target, 0, std::make_shared<MyBackend>());
//   auto server = vstor::IscsiServer::create({}, *adapter);  // 127.0.0.1:3260, every target
//   if (!server) { /* server.error says why */ }
//   server.value->start();
//
// The Adapter must outlive the server. docs/sdk.md has the whole story.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vstor/adapter.hpp"

#pragma GCC visibility push(default)  // the public API: exported from libvstor.so

namespace vstor {

// One-way CHAP (user + secret: the initiator proves itself), optionally mutual (the target proves
// itself back). Empty user = no authentication. RFC 7143 wants secrets of 12 bytes or more.
struct IscsiChap {
    std::string user;
    std::string secret;
    std::string mutual_user;
    std::string mutual_secret;
};

// An iSCSI target: its name (IQN) and the Adapter target whose LUNs it serves, under the LUN
// numbers they were added with (REPORT LUNS follows the Adapter as LUNs come and go).
struct IscsiTarget {
    std::string name;                             // e.g. iqn.2026-12.org.example:disk
    std::optional<std::uint16_t> adapter_target;  // unset: the Adapter target of the same name
    IscsiChap chap;                               // required of initiators logging in to it
    std::vector<std::string> allowed_initiators;  // empty: every initiator may log in
};

struct IscsiServerOptions {
    std::string address = "127.0.0.1";  // "0.0.0.0" for every IPv4 address, "::" for IPv6
    std::uint16_t port = 3260;          // 0: any free port (see IscsiServer::port)
    std::vector<IscsiTarget> targets;   // empty: every target of the Adapter, under its own name
    IscsiChap discovery_chap;           // required of SendTargets discovery sessions
    unsigned event_loops = 0;           // network threads; 0 = one per core
};

class IscsiServer {
public:
    // Checks the options and binds the portal; the error names what is wrong (e.g. "cannot
    // listen on 127.0.0.1:3260: Address already in use"). Nothing runs until start().
    static Result<IscsiServer> create(IscsiServerOptions options, Adapter& adapter);

    IscsiServer(IscsiServer&&) noexcept;
    IscsiServer& operator=(IscsiServer&&) noexcept;
    ~IscsiServer();  // stop()s

    void start();  // starts the network threads and returns
    // Stops accepting, asks initiators to log out, ends in-flight commands, closes every
    // connection and joins the threads. Idempotent.
    void stop();
    std::uint16_t port() const;  // the bound port (the one the kernel chose when 0 was asked)

private:
    struct Impl;
    explicit IscsiServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace vstor

#pragma GCC visibility pop
