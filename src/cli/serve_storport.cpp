#include "cli/serve_storport.hpp"

#include <spdlog/spdlog.h>

#include "bridge/tcp_channel.hpp"
#include "config/host_port.hpp"

namespace vstor::cli {

std::unique_ptr<StorportFrontEnd> StorportFrontEnd::start(const std::string& connect, unsigned threads,
                                                         Adapter& adapter, std::string& error) {
    std::unique_ptr<StorportFrontEnd> fe(new StorportFrontEnd);
    if (connect.empty()) {
        fe->channel_ = open_storport_adapter(error);
        if (!fe->channel_) {
            error = "--storport: " + error;
            return nullptr;
        }
        fe->where_ = "vstor.sys (StorPort)";
    } else {
        HostPort hp;
        if (!parse_host_port("--storport-connect", connect, 0, hp, error)) return nullptr;
        if (hp.port == 0 || connect.front() == ':') {
            error = "--storport-connect '" + connect + "': expected HOST:PORT";
            return nullptr;
        }
        fe->channel_ = bridge::TcpChannel::connect(hp.address, hp.port, error);
        if (!fe->channel_) {
            error = "--storport-connect: " + error;
            return nullptr;
        }
        fe->where_ = "the StorPort emulator at " + connect;
    }
    for (const auto& t : adapter.targets())
        for (const auto& lun : t.luns)
            if (t.id >= 8 || lun.lun >= 8)
                spdlog::warn("storport: target {} LUN {} is not announced (StorPort sees targets 0-7, LUNs 0-7)", t.id,
                             lun.lun);
    bridge::ServiceOptions opts;
    opts.threads = threads ? threads : 8;
    fe->service_ = std::make_unique<bridge::Service>(adapter, *fe->channel_, opts);
    if (auto st = fe->service_->start(); !st) {
        error = (connect.empty() ? "--storport: " : "--storport-connect: ") + st.error;
        return nullptr;
    }
    return fe;
}

StorportFrontEnd::~StorportFrontEnd() { stop(); }

void StorportFrontEnd::stop() {
    if (stopped_ || !service_) return;
    stopped_ = true;
    service_->stop();
}

}  // namespace vstor::cli
