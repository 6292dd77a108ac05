// Optional Prometheus text endpoint (`serve --metrics HOST:PORT`): GET /metrics answers the same
// counters as `vstor ctl stats` in the text exposition format. Read-only; anything else is 404.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "control/control_service.hpp"

namespace vstor::control {

// The stats result of ControlService as Prometheus text (exposition format 0.0.4).
std::string render_prometheus(const nlohmann::json& stats);

class MetricsServer {
public:
    virtual ~MetricsServer() = default;
    // Binds HOST:PORT (port 0 picks one) and serves on its own thread; nullptr and `error` on failure.
    static std::unique_ptr<MetricsServer> start(const std::string& host, std::uint16_t port, ControlService& service,
                                                std::string& error);
    virtual std::uint16_t port() const = 0;
    virtual void stop() = 0;
};

}  // namespace vstor::control
