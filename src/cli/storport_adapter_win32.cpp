// The vstor adapter on Windows: found by the device interface vstor.sys registers (win32_channel).
#include "bridge/win32_channel.hpp"
#include "cli/serve_storport.hpp"

namespace vstor::cli {

std::unique_ptr<bridge::Channel> open_storport_adapter(std::string& error) {
    return bridge::Win32Channel::open(error);
}

}  // namespace vstor::cli
