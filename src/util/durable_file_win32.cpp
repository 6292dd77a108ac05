// write_file_atomically on Windows: a temporary file in the same directory, FlushFileBuffers,
// then MoveFileEx(REPLACE_EXISTING | WRITE_THROUGH) over the old one.
#include <windows.h>

#include <filesystem>

#include "util/durable_file.hpp"
#include "util/win32_error.hpp"

namespace vstor::util {

bool write_file_atomically(const std::string& path, const std::string& content, std::string& error) {
    namespace fs = std::filesystem;
    const fs::path target(path);
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::string name = ".";  // built by append: g++ 12 misreports `"." + name` (-Wrestrict)
    name.append(target.filename().string()).append(".").append(std::to_string(GetCurrentProcessId()));
    name.append(".").append(std::to_string(GetTickCount64()));
    const fs::path tmp = dir / name;
    // No sharing while it is written; the ACL inherited from the directory applies.
    HANDLE h = CreateFileW(tmp.wstring().c_str(), GENERIC_WRITE, 0, nullptr, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (h == INVALID_HANDLE_VALUE) {
        error = "cannot create a temporary file in " + dir.string() + ": " + win32_error_text(GetLastError());
        return false;
    }
    std::size_t off = 0;
    bool ok = true;
    while (ok && off < content.size()) {
        DWORD n = 0;
        const auto chunk = static_cast<DWORD>(std::min<std::size_t>(content.size() - off, 1u << 20));
        ok = WriteFile(h, content.data() + off, chunk, &n, nullptr) && n > 0;
        off += n;
    }
    ok = ok && FlushFileBuffers(h);
    const DWORD err = ok ? 0 : GetLastError();
    CloseHandle(h);
    if (ok && !MoveFileExW(tmp.wstring().c_str(), target.wstring().c_str(),
                           MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
        error = "cannot rename " + tmp.string() + " to " + path + ": " + win32_error_text(GetLastError());
        DeleteFileW(tmp.wstring().c_str());
        return false;
    }
    if (!ok) {
        error = "cannot write " + tmp.string() + ": " + win32_error_text(err);
        DeleteFileW(tmp.wstring().c_str());
        return false;
    }
    return true;
}

}  // namespace vstor::util
