// create_image_file on Windows: CREATE_NEW, sparse (FSCTL_SET_SPARSE) unless thick, the size set
// with SetFileInformationByHandle; thick images get their space reserved and written with zeroes
// (with progress), then FlushFileBuffers.
#include <windows.h>
#include <winioctl.h>

#include <algorithm>
#include <vector>

#include "cli/image.hpp"
#include "config/lun_spec.hpp"
#include "cli/progress.hpp"
#include "util/win32_error.hpp"

namespace vstor::cli {

bool create_image_file(const std::string& path, std::uint64_t size, bool thick, std::string& error) {
    const int wn = MultiByteToWideChar(CP_UTF8, 0, path.c_str(), -1, nullptr, 0);
    std::wstring wpath(static_cast<std::size_t>(wn > 0 ? wn : 1), L'\0');
    MultiByteToWideChar(CP_UTF8, 0, path.c_str(), -1, wpath.data(), wn);
    HANDLE h = CreateFileW(wpath.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, CREATE_NEW, FILE_ATTRIBUTE_NORMAL,
                           nullptr);
    if (h == INVALID_HANDLE_VALUE) {
        error = path + ": " + util::win32_error_text(GetLastError());
        return false;
    }
    auto fail = [&](const char* what) {
        error = std::string(what) + " " + path + ": " + util::win32_error_text(GetLastError());
        CloseHandle(h);
        DeleteFileW(wpath.c_str());  // never leave a half-made image behind
        return false;
    };
    if (!thick) {
        FILE_SET_SPARSE_BUFFER sparse{};
        sparse.SetSparse = TRUE;
        DWORD got = 0;
        DeviceIoControl(h, FSCTL_SET_SPARSE, &sparse, sizeof sparse, nullptr, 0, &got, nullptr);  // best effort
    } else {
        // Reserve the space in one go where the file system can (best effort: the zeroes written
        // below allocate it anyway; Wine, for one, does not implement FileAllocationInfo).
        FILE_ALLOCATION_INFO alloc{};
        alloc.AllocationSize.QuadPart = static_cast<LONGLONG>(size);
        SetFileInformationByHandle(h, FileAllocationInfo, &alloc, sizeof alloc);
    }
    FILE_END_OF_FILE_INFO eof{};
    eof.EndOfFile.QuadPart = static_cast<LONGLONG>(size);
    if (!SetFileInformationByHandle(h, FileEndOfFileInfo, &eof, sizeof eof)) return fail("cannot size");
    if (thick) {  // written, so that the blocks are allocated and valid (no lazy zeroing later)
        Progress progress("allocating " + format_size(size), size);
        constexpr std::uint64_t kStep = 8ull << 20;
        const std::vector<char> zeroes(kStep, 0);
        for (std::uint64_t off = 0; off < size; off += kStep) {
            OVERLAPPED ov{};
            ov.Offset = static_cast<DWORD>(off);
            ov.OffsetHigh = static_cast<DWORD>(off >> 32);
            const auto len = static_cast<DWORD>(std::min(kStep, size - off));
            DWORD n = 0;
            if (!WriteFile(h, zeroes.data(), len, &n, &ov) || n != len) return fail("cannot write");
            progress.update(off + len);
        }
        progress.finish();
    }
    if (!FlushFileBuffers(h)) return fail("cannot sync");
    CloseHandle(h);
    return true;
}

}  // namespace vstor::cli
