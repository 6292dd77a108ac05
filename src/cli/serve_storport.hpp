// `vstor serve --storport` and `--storport-connect HOST:PORT`: the bridge service (src/bridge)
// serving the adapter's LUNs to vstor.sys, the StorPort virtual miniport (docs/windows.md). The
// LUNs are the same objects the iSCSI and NBD front ends serve: a write through one is seen by all.
#pragma once

#include <memory>
#include <string>

#include "bridge/service.hpp"
#include "vstor/adapter.hpp"

namespace vstor::cli {

// The adapter's device channel: vstor.sys found by its device interface (Windows,
// storport_adapter_win32.cpp), or an error saying why there is none (storport_adapter_posix.cpp).
std::unique_ptr<bridge::Channel> open_storport_adapter(std::string& error);

class StorportFrontEnd {
public:
    // `connect` empty: the local adapter; else HOST:PORT of the Linux StorPort emulator's IOCTL
    // server (windows/sim/ioctl_server, for tests). CONNECTs and announces the LUNs (target < 8,
    // LUN < 8; others are skipped with a warning). nullptr with `error` on failure.
    static std::unique_ptr<StorportFrontEnd> start(const std::string& connect, unsigned threads, Adapter& adapter,
                                                   std::string& error);
    ~StorportFrontEnd();
    void stop();  // DISCONNECT: the driver fails what is outstanding; idempotent
    std::uint32_t session() const { return service_->session(); }
    const std::string& where() const { return where_; }

private:
    StorportFrontEnd() = default;
    std::unique_ptr<bridge::Channel> channel_;
    std::unique_ptr<bridge::Service> service_;
    std::string where_;
    bool stopped_ = false;
};

}  // namespace vstor::cli
