// There is no StorPort outside Windows: `serve --storport` explains and points at the emulator.
#include "cli/serve_storport.hpp"

namespace vstor::cli {

std::unique_ptr<bridge::Channel> open_storport_adapter(std::string& error) {
    error = "the vstor.sys adapter exists only on Windows (vstor.exe; docs/windows.md); "
            "--storport-connect HOST:PORT reaches the StorPort emulator";
    return nullptr;
}

}  // namespace vstor::cli
