// A test transport for the bridge: each DeviceIoControl travels over TCP to a Linux process that
// hands it to the StorPort emulator (windows/sim/ioctl_server). Lets the Windows build of the
// service run under Wine against the emulated driver. Not for production: no authentication.
//
// Frame: request  {u32 magic "VSTB", u32 in_len, u32 out_len} + in_len bytes
//        reply    {i32 status, u32 information} + information bytes (success only)
// One call at a time per connection; the channel keeps a pool, one connection per concurrent call.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bridge/service.hpp"

namespace vstor::bridge {

inline constexpr std::uint32_t kTcpFrameMagic = 0x32545356u;  // "VST2": magic, in_len, out_len, out_in

class TcpChannel final : public Channel {
public:
    static std::unique_ptr<TcpChannel> connect(const std::string& host, std::uint16_t port, std::string& error);
    ~TcpChannel() override;
    using Channel::ioctl;
    IoctlResult ioctl(const void* in, std::uint32_t in_len, void* out, std::uint32_t out_len,
                      std::uint32_t out_in) override;

private:
    TcpChannel(std::string host, std::uint16_t port) : host_(std::move(host)), port_(port) {}
    std::intptr_t take();
    void give(std::intptr_t s);

    std::string host_;
    std::uint16_t port_;
    std::mutex mu_;                    // guards idle_ and all_
    std::vector<std::intptr_t> idle_;  // connected sockets not in a call
    std::vector<std::intptr_t> all_;
};

}  // namespace vstor::bridge
