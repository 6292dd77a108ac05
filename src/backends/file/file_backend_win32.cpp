// The file backend on Windows. Same contract as the Linux file_backend_posix.cpp, with the worker-thread
// path only (io_uring is Linux's): positional ReadFile/WriteFile on an overlapped handle (so the
// workers' I/O runs concurrently), FlushFileBuffers for SYNCHRONIZE CACHE and after FUA writes,
// sparse images (FSCTL_SET_SPARSE), FSCTL_SET_ZERO_DATA for unmap and write-zeroes (written zeroes
// where the file system cannot), FSCTL_QUERY_ALLOCATED_RANGES for GET LBA STATUS, and a LockFileEx
// lock so two servers cannot open one image read-write.
#include <windows.h>
#include <winioctl.h>
#include <io.h>
#include <fcntl.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "backends/file/file_backend.hpp"
#include "util/win32_error.hpp"

namespace vstor::backends {

// io_uring does not exist here: the queue is never created, and this empty type only lets the
// header's std::unique_ptr<UringQueue> be destroyed.
class UringQueue {};

namespace {

// The lock is one byte far beyond any image's data: byte-range locks on Windows are mandatory, so
// locking real data would also stop other programs (a backup) from reading the image.
constexpr std::uint64_t kLockOffset = 0x7FFFFFFFFFFFFFF0ull;

std::wstring widen(const std::string& s) {
    if (s.empty()) return {};
    const int n = MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
    std::wstring w(static_cast<std::size_t>(n), L'\0');
    MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), w.data(), n);
    return w;
}

HANDLE handle_of(int fd) { return reinterpret_cast<HANDLE>(_get_osfhandle(fd)); }

IoStatus from_win32(DWORD e) {
    switch (e) {
        case ERROR_DISK_FULL:
        case ERROR_HANDLE_DISK_FULL: return IoStatus::no_space;
        case ERROR_ACCESS_DENIED:
        case ERROR_WRITE_PROTECT: return IoStatus::read_only;
        case ERROR_NOT_SUPPORTED:
        case ERROR_INVALID_FUNCTION:
        case ERROR_INVALID_PARAMETER: return IoStatus::not_supported;
        default: return IoStatus::medium_error;
    }
}

// One event per worker thread for its overlapped calls (the handle is FILE_FLAG_OVERLAPPED).
HANDLE thread_event() {
    struct Event {
        HANDLE h = CreateEventW(nullptr, TRUE, FALSE, nullptr);
        ~Event() {
            if (h) CloseHandle(h);
        }
    };
    thread_local Event ev;
    return ev.h;
}

OVERLAPPED at(std::uint64_t off) {
    OVERLAPPED ov{};
    ov.Offset = static_cast<DWORD>(off);
    ov.OffsetHigh = static_cast<DWORD>(off >> 32);
    ov.hEvent = thread_event();
    return ov;
}

// Waits for an overlapped call that returned `started`; false with GetLastError() on failure.
bool finish(HANDLE h, BOOL started, OVERLAPPED& ov, DWORD& got) {
    if (!started && GetLastError() != ERROR_IO_PENDING) return false;
    return GetOverlappedResult(h, &ov, &got, TRUE) != 0;
}

bool ioctl(HANDLE h, DWORD code, const void* in, DWORD in_len, void* out, DWORD out_len, DWORD& got) {
    OVERLAPPED ov = at(0);
    got = 0;
    const BOOL started = DeviceIoControl(h, code, const_cast<void*>(in), in_len, out, out_len, nullptr, &ov);
    return finish(h, started, ov, got);
}

// Full-length positional read/write, in pieces of at most 1 GiB (a DWORD count).
IoStatus pread_all(HANDLE h, std::byte* p, std::size_t n, std::uint64_t off) {
    while (n) {
        const auto chunk = static_cast<DWORD>(std::min<std::size_t>(n, 1u << 30));
        OVERLAPPED ov = at(off);
        DWORD got = 0;
        if (!finish(h, ReadFile(h, p, chunk, nullptr, &ov), ov, got)) {
            if (GetLastError() != ERROR_HANDLE_EOF) return from_win32(GetLastError());
            got = 0;
        }
        if (got == 0) {  // past EOF of a file that shrank: reads as zeroes
            std::memset(p, 0, n);
            return IoStatus::ok;
        }
        p += got;
        n -= got;
        off += got;
    }
    return IoStatus::ok;
}

IoStatus pwrite_all(HANDLE h, const std::byte* p, std::size_t n, std::uint64_t off) {
    while (n) {
        const auto chunk = static_cast<DWORD>(std::min<std::size_t>(n, 1u << 30));
        OVERLAPPED ov = at(off);
        DWORD got = 0;
        if (!finish(h, WriteFile(h, p, chunk, nullptr, &ov), ov, got)) return from_win32(GetLastError());
        if (got == 0) return IoStatus::medium_error;
        p += got;
        n -= got;
        off += got;
    }
    return IoStatus::ok;
}

IoStatus sync(HANDLE h) { return FlushFileBuffers(h) ? IoStatus::ok : from_win32(GetLastError()); }

bool set_end_of_file(HANDLE h, std::uint64_t size) {
    FILE_END_OF_FILE_INFO eof{};
    eof.EndOfFile.QuadPart = static_cast<LONGLONG>(size);
    return SetFileInformationByHandle(h, FileEndOfFileInfo, &eof, sizeof eof) != 0;
}

bool set_sparse(HANDLE h) {
    FILE_SET_SPARSE_BUFFER b{};
    b.SetSparse = TRUE;
    DWORD got = 0;
    return ioctl(h, FSCTL_SET_SPARSE, &b, sizeof b, nullptr, 0, got);
}

// Zeroes [off, off+len): on a sparse file the range is deallocated, on another it is written.
bool zero_data(HANDLE h, std::uint64_t off, std::uint64_t len) {
    FILE_ZERO_DATA_INFORMATION z{};
    z.FileOffset.QuadPart = static_cast<LONGLONG>(off);
    z.BeyondFinalZero.QuadPart = static_cast<LONGLONG>(off + len);
    DWORD got = 0;
    return ioctl(h, FSCTL_SET_ZERO_DATA, &z, sizeof z, nullptr, 0, got);
}

}  // namespace

std::unique_ptr<FileBackend> FileBackend::open(const FileOptions& opts, std::string& error) {
    if (opts.path.empty()) {
        error = "file backend needs a path";
        return nullptr;
    }
    const std::wstring wpath = widen(opts.path);
    // \\.\PhysicalDriveN, \\.\X: — a disk or volume rather than an image file.
    const bool blockdev = opts.path.rfind("\\\\.\\", 0) == 0;
    const bool exists = blockdev || GetFileAttributesW(wpath.c_str()) != INVALID_FILE_ATTRIBUTES;
    if (!may_create(opts, exists, error)) return nullptr;
    // Sharing stays open so that the lock below, not a sharing violation, says who has the image.
    HANDLE h = CreateFileW(wpath.c_str(), GENERIC_READ | (opts.read_only ? 0 : GENERIC_WRITE),
                           FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                           exists ? OPEN_EXISTING : CREATE_NEW, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, nullptr);
    if (h == INVALID_HANDLE_VALUE) {
        error = "cannot open image " + opts.path + ": " + util::win32_error_text(GetLastError());
        return nullptr;
    }
    auto fail = [&](std::string why) {
        error = std::move(why);
        CloseHandle(h);
        if (!exists) DeleteFileW(wpath.c_str());
        return nullptr;
    };
    // Exclusive for read-write, shared for read-only, as flock does on Linux.
    bool locked = false;
    for (int attempt = 0; attempt < 20 && !locked; ++attempt) {
        OVERLAPPED ov = at(kLockOffset);
        DWORD got = 0;
        const DWORD flags = (opts.read_only ? 0 : LOCKFILE_EXCLUSIVE_LOCK) | LOCKFILE_FAIL_IMMEDIATELY;
        locked = finish(h, LockFileEx(h, flags, 0, 1, 0, &ov), ov, got);
        if (!locked && GetLastError() != ERROR_LOCK_VIOLATION) break;
        if (!locked) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!locked) return fail("image " + opts.path + " is in use by another process");
    std::uint64_t size = 0;
    if (blockdev) {
        GET_LENGTH_INFORMATION len{};
        DWORD got = 0;
        if (!ioctl(h, IOCTL_DISK_GET_LENGTH_INFO, nullptr, 0, &len, sizeof len, got))
            return fail("cannot get the size of " + opts.path + ": " + util::win32_error_text(GetLastError()));
        size = static_cast<std::uint64_t>(len.Length.QuadPart);
    } else {
        LARGE_INTEGER li{};
        if (!GetFileSizeEx(h, &li)) return fail("cannot stat image " + opts.path + ": " + util::win32_error_text(GetLastError()));
        size = static_cast<std::uint64_t>(li.QuadPart);
        // Thin images are sparse; a file system without sparse files still works (unmap then
        // writes zeroes), so a refusal is not an error.
        if (!opts.thick && !opts.read_only && !set_sparse(h))
            spdlog::debug("file {}: not sparse ({})", opts.path, util::win32_error_text(GetLastError()));
    }
    if (!blockdev && (!exists || (opts.size_bytes && size == 0))) {
        // Thick: a file that is not sparse has its clusters allocated when its end is set (NTFS);
        // reserving them first is a hint (Wine, for one, does not implement FileAllocationInfo).
        if (opts.thick) {
            FILE_ALLOCATION_INFO alloc{};
            alloc.AllocationSize.QuadPart = static_cast<LONGLONG>(opts.size_bytes);
            if (!SetFileInformationByHandle(h, FileAllocationInfo, &alloc, sizeof alloc))
                spdlog::debug("file {}: no allocation hint ({})", opts.path, util::win32_error_text(GetLastError()));
        }
        if (!set_end_of_file(h, opts.size_bytes))
            return fail("cannot size image " + opts.path + ": " + util::win32_error_text(GetLastError()));
        size = opts.size_bytes;
    } else if (opts.size_bytes && opts.size_bytes != size) {
        return fail("image " + opts.path + " is " + std::to_string(size) + " bytes, not the " +
                    std::to_string(opts.size_bytes) + " asked for (leave size= out to use it as it is)");
    }
    if (size < opts.block_size) return fail("image " + opts.path + " is smaller than one block");
    const int fd = _open_osfhandle(reinterpret_cast<intptr_t>(h), opts.read_only ? _O_RDONLY : _O_RDWR);
    if (fd < 0) return fail("cannot open image " + opts.path + ": out of file descriptors");
    return std::unique_ptr<FileBackend>(new FileBackend(fd, opts, size, blockdev));
}

FileBackend::FileBackend(int fd, FileOptions opts, std::uint64_t size, bool block_device)
    : fd_(fd), opts_(std::move(opts)), size_bytes_(size), block_device_(block_device), pool_(opts_.threads) {}

FileBackend::~FileBackend() {
    // No I/O is in flight once the last LUN reference is gone.
    FlushFileBuffers(handle_of(fd_));
    _close(fd_);  // closes the handle, and with it the lock
}

void FileBackend::read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) {
    pool_.post([this, lba, buf, done = std::move(done)] {
        done(pread_all(handle_of(fd_), buf.data(), buf.size(), lba * opts_.block_size));
    });
}

void FileBackend::write(std::uint64_t lba, std::span<const std::byte> buf, bool fua, IoCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only);
    pool_.post([this, lba, buf, fua, done = std::move(done)] {
        const HANDLE h = handle_of(fd_);
        IoStatus s = pwrite_all(h, buf.data(), buf.size(), lba * opts_.block_size);
        // FUA: durable before completion; FlushFileBuffers covers this write and earlier ones.
        if (s == IoStatus::ok && fua) s = sync(h);
        done(s);
    });
}

void FileBackend::flush(IoCallback done) {
    pool_.post([this, done = std::move(done)] { done(sync(handle_of(fd_))); });
}

void FileBackend::unmap(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only);
    if (!caps().thin) return done(IoStatus::not_supported);
    write_zeroes(lba, count, std::move(done));  // on a sparse file FSCTL_SET_ZERO_DATA deallocates
}

void FileBackend::write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only);
    pool_.post([this, lba, count, done = std::move(done)]() mutable {
        if (!block_device_ && zero_data(handle_of(fd_), lba * opts_.block_size, count * opts_.block_size))
            return done(IoStatus::ok);
        Backend::write_zeroes(lba, count, std::move(done));  // no FSCTL_SET_ZERO_DATA here: written zeroes
    });
}

std::vector<Extent> FileBackend::allocation_status(std::uint64_t lba, std::uint64_t count) {
    const std::uint64_t bs = opts_.block_size;
    if (!caps().thin) return {Extent{lba, count, true}};
    const std::uint64_t start = lba * bs, end = (lba + count) * bs;
    std::vector<Extent> out;
    std::uint64_t pos = start;  // everything before pos is in `out`
    auto add = [&](std::uint64_t from, std::uint64_t to, bool mapped) {
        if (to <= from) return;
        if (!out.empty() && out.back().mapped == mapped) {
            out.back().count += (to - from) / bs;
            return;
        }
        out.push_back(Extent{from / bs, (to - from) / bs, mapped});
    };
    FILE_ALLOCATED_RANGE_BUFFER query{}, ranges[64];
    query.FileOffset.QuadPart = static_cast<LONGLONG>(start);
    query.Length.QuadPart = static_cast<LONGLONG>(end - start);
    for (;;) {
        DWORD got = 0;
        const bool ok = ioctl(handle_of(fd_), FSCTL_QUERY_ALLOCATED_RANGES, &query, sizeof query, ranges, sizeof ranges, got);
        const bool more = !ok && GetLastError() == ERROR_MORE_DATA;
        if (!ok && !more) return {Extent{lba, count, true}};  // no allocation map here: all mapped
        const std::size_t n = got / sizeof(FILE_ALLOCATED_RANGE_BUFFER);
        for (std::size_t i = 0; i < n; ++i) {
            const auto a = static_cast<std::uint64_t>(ranges[i].FileOffset.QuadPart);
            const auto b = a + static_cast<std::uint64_t>(ranges[i].Length.QuadPart);
            // A block with any data counts as mapped: round the range out to blocks.
            const std::uint64_t from = std::max(pos, a / bs * bs);
            const std::uint64_t to = std::min(end, (b + bs - 1) / bs * bs);
            if (to <= from) continue;
            add(pos, from, false);
            add(from, to, true);
            pos = to;
        }
        if (!more || n == 0 || pos >= end) break;
        query.FileOffset.QuadPart = static_cast<LONGLONG>(pos);
        query.Length.QuadPart = static_cast<LONGLONG>(end - pos);
    }
    add(pos, end, false);
    return out;
}

IoStatus FileBackend::resize(std::uint64_t new_block_count) {
    if (opts_.read_only || block_device_) return IoStatus::not_supported;
    const std::uint64_t bytes = new_block_count * opts_.block_size;
    if (!set_end_of_file(handle_of(fd_), bytes)) return from_win32(GetLastError());
    size_bytes_.store(bytes);
    return IoStatus::ok;
}

std::shared_ptr<const DataView> FileBackend::read_view(std::uint64_t, std::uint64_t) { return nullptr; }  // copies

}  // namespace vstor::backends
