// libFuzzer target: JSON-RPC requests to the control plane (parsing, batch handling, parameter
// checking of every method) against a fresh adapter and iSCSI target per input. Inputs that
// would touch the filesystem (file: LUN specs, save) are skipped: the fuzzer must not write files.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/serve_plan.hpp"
#include "control/control_service.hpp"
#include "control/rpc_server.hpp"
#include "iscsi/server.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vstor;
    const std::string text(reinterpret_cast<const char*>(data), size);
    if (text.find("file") != std::string::npos || text.find("save") != std::string::npos) return -1;
    auto adapter = Adapter::create();
    cli::ServePlan plan;
    plan.portals.push_back(iscsi::PortalConfig{"127.0.0.1", 0, 1});
    cli::TargetPlan tp;
    tp.config.name = "iqn.2026-12.org.vstor:fuzz";
    tp.config.adapter_target_id = *adapter->add_target(tp.config.name).value;
    plan.targets.push_back(tp);
    iscsi::ServerConfig cfg;
    cfg.portals = plan.portals;
    cfg.targets.push_back(tp.config);
    cfg.event_loops = 1;
    std::string error;
    auto server = iscsi::Server::create(cfg, *adapter, error);
    if (!server) return 0;
    control::ControlService service(*adapter, *server, plan, "");
    (void)control::handle_rpc_text(service, text);
    return 0;
}
