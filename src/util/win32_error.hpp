// Windows only: the text of a Win32 error code, for one-line error messages.
#pragma once

#include <windows.h>

#include <string>

namespace vstor::util {

inline std::string win32_error_text(DWORD code) {
    char buf[256] = {};
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr, code, 0, buf,
                             sizeof buf, nullptr);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == '.' || buf[n - 1] == ' ')) buf[--n] = 0;
    return n ? std::string(buf) + " (error " + std::to_string(code) + ")" : "Windows error " + std::to_string(code);
}

}  // namespace vstor::util
