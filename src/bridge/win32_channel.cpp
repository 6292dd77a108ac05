#ifdef _WIN32
#include "bridge/win32_channel.hpp"

#include <windows.h>
#include <initguid.h>
#include <setupapi.h>

#include <vector>

#include "vstor/bridge_protocol.h"

namespace vstor::bridge {

namespace {
const GUID kInterface = VSTOR_BRIDGE_INTERFACE_GUID_INIT;

std::string last_error(const char* what) { return std::string(what) + " failed, error " + std::to_string(GetLastError()); }
}  // namespace

std::unique_ptr<Win32Channel> Win32Channel::open(std::string& error) {
    HDEVINFO devs = SetupDiGetClassDevsW(&kInterface, nullptr, nullptr, DIGCF_PRESENT | DIGCF_DEVICEINTERFACE);
    if (devs == INVALID_HANDLE_VALUE) {
        error = last_error("SetupDiGetClassDevs");
        return nullptr;
    }
    SP_DEVICE_INTERFACE_DATA ifdata{};
    ifdata.cbSize = sizeof(ifdata);
    if (!SetupDiEnumDeviceInterfaces(devs, nullptr, &kInterface, 0, &ifdata)) {
        error = "no vstor adapter: is vstor.sys installed and the root\\vstor devnode created?";
        SetupDiDestroyDeviceInfoList(devs);
        return nullptr;
    }
    DWORD size = 0;
    SetupDiGetDeviceInterfaceDetailW(devs, &ifdata, nullptr, 0, &size, nullptr);
    std::vector<std::uint8_t> storage(size + sizeof(WCHAR));
    auto* detail = reinterpret_cast<SP_DEVICE_INTERFACE_DETAIL_DATA_W*>(storage.data());
    detail->cbSize = sizeof(SP_DEVICE_INTERFACE_DETAIL_DATA_W);
    if (!SetupDiGetDeviceInterfaceDetailW(devs, &ifdata, detail, size, nullptr, nullptr)) {
        error = last_error("SetupDiGetDeviceInterfaceDetail");
        SetupDiDestroyDeviceInfoList(devs);
        return nullptr;
    }
    std::wstring path = detail->DevicePath;
    SetupDiDestroyDeviceInfoList(devs);
    HANDLE h = CreateFileW(path.c_str(), GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr,
                           OPEN_EXISTING, FILE_FLAG_OVERLAPPED, nullptr);
    if (h == INVALID_HANDLE_VALUE) {
        error = last_error("CreateFile on the vstor adapter");
        return nullptr;
    }
    return std::unique_ptr<Win32Channel>(new Win32Channel(h, std::move(path)));
}

Win32Channel::~Win32Channel() { CloseHandle(static_cast<HANDLE>(handle_)); }

IoctlResult Win32Channel::ioctl(const void* in, std::uint32_t in_len, void* out, std::uint32_t out_len, std::uint32_t) {
    OVERLAPPED ov{};
    ov.hEvent = CreateEventW(nullptr, TRUE, FALSE, nullptr);
    if (ov.hEvent == nullptr) return {static_cast<std::int32_t>(0xC000009A) /* INSUFFICIENT_RESOURCES */, 0};
    DWORD bytes = 0;
    BOOL ok = DeviceIoControl(static_cast<HANDLE>(handle_), VSTOR_BRIDGE_IOCTL, const_cast<void*>(in), in_len, out,
                              out_len, nullptr, &ov);
    if (!ok && GetLastError() == ERROR_IO_PENDING) ok = GetOverlappedResult(static_cast<HANDLE>(handle_), &ov, &bytes, TRUE);
    else if (ok) GetOverlappedResult(static_cast<HANDLE>(handle_), &ov, &bytes, FALSE);
    CloseHandle(ov.hEvent);
    // OVERLAPPED.Internal carries the IRP's NTSTATUS, which the protocol speaks.
    const auto status = static_cast<std::int32_t>(ov.Internal);
    if (!ok) return {status < 0 ? status : kStatusUnsuccessful, 0};
    return {status, bytes};
}

}  // namespace vstor::bridge
#endif
