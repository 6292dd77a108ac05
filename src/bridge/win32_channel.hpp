// The bridge channel on Windows: the vstor adapter opened through its device interface
// (VSTOR_BRIDGE_INTERFACE_GUID_INIT) and DeviceIoControl(IOCTL_MINIPORT_PROCESS_SERVICE_IRP).
// Compiled only for Windows (checked by the mingw cross build; never run: see docs/windows.md).
#pragma once
#ifdef _WIN32

#include <memory>
#include <string>

#include "bridge/service.hpp"

namespace vstor::bridge {

class Win32Channel final : public Channel {
public:
    // Opens the first present vstor adapter. Needs read/write access to it (Administrators by default).
    static std::unique_ptr<Win32Channel> open(std::string& error);
    ~Win32Channel() override;
    // Thread-safe: the handle is opened for overlapped I/O, so several threads can each have an
    // IRP parked in the driver at once (a synchronous handle would serialize them).
    using Channel::ioctl;
    IoctlResult ioctl(const void* in, std::uint32_t in_len, void* out, std::uint32_t out_len,
                      std::uint32_t out_in) override;
    const std::wstring& path() const { return path_; }

private:
    Win32Channel(void* handle, std::wstring path) : handle_(handle), path_(std::move(path)) {}
    void* handle_;
    std::wstring path_;
};

}  // namespace vstor::bridge

#endif
