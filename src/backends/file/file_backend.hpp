// Raw image file or block device. Reads and writes that need not wait (a file in tmpfs, a page-
// cache hit) finish on the calling thread; the rest go to io_uring or the backend's own worker
// threads, never blocking the caller's event loop. Flush is fdatasync, FUA writes are durable
// before they complete, unmap punches holes. An flock keeps two servers from opening one image
// read-write. A file in memory (tmpfs, ramfs) also lends reads (read_view): the file is mapped
// read-only and shared, and a read whose pages are all resident is sent straight from the mapping.
// Linux: file_backend_posix.cpp (io_uring when the kernel allows it, else the worker threads),
// file_backend_inline_posix.cpp (the inline path), file_backend_view_posix.cpp (the lending).
// Windows: file_backend_win32.cpp (worker threads, positional ReadFile/WriteFile, FlushFileBuffers,
// FSCTL_SET_ZERO_DATA, LockFileEx); `fd_` is then a CRT descriptor wrapping the file's HANDLE.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "util/rate_limiter.hpp"
#include "util/thread_pool.hpp"
#include "vstor/backend.hpp"

namespace vstor::backends {

class UringQueue;  // backends/file/uring_queue.hpp (Linux only)

struct FileOptions {
    std::string path;
    std::uint64_t size_bytes = 0;  // create with this size if absent; 0 = existing size
    std::uint32_t block_size = 512;
    bool read_only = false;
    bool thick = false;   // allocate every block at creation; unmap not offered
    unsigned threads = 4;
    bool io_uring = true;  // reads/writes/flush through io_uring when the kernel allows it
    // Reads and writes that need not wait finish on the calling thread: every one on a file in
    // memory (tmpfs, ramfs), page-cache hits (RWF_NOWAIT) elsewhere. Off: always queued.
    bool inline_io = true;
};

class FileBackend final : public Backend {
public:
    // Opens (or creates) the image. nullptr with `error` set on failure.
    static std::unique_ptr<FileBackend> open(const FileOptions& opts, std::string& error);
    ~FileBackend() override;

    std::string kind() const override { return "file"; }
    std::uint32_t block_size() const override { return opts_.block_size; }
    std::uint64_t block_count() const override;
    BackendCaps caps() const override;

    void read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) override;
    void write(std::uint64_t lba, std::span<const std::byte> buf, bool fua, IoCallback done) override;
    void flush(IoCallback done) override;
    void unmap(std::uint64_t lba, std::uint64_t count, IoCallback done) override;
    void write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done) override;
    std::vector<Extent> allocation_status(std::uint64_t lba, std::uint64_t count) override;
    IoStatus resize(std::uint64_t new_block_count) override;
    // A file in memory only, and only blocks every page of which the file holds (a hole read
    // through the mapping would allocate it); nullptr otherwise: read() reads holes as zeroes.
    std::shared_ptr<const DataView> read_view(std::uint64_t lba, std::uint64_t count) override;

private:
    // An image that does not exist is created only for a writable LUN with a size.
    static bool may_create(const FileOptions& opts, bool exists, std::string& error);
    FileBackend(int fd, FileOptions opts, std::uint64_t size, bool block_device);

    const int fd_;
    const FileOptions opts_;
    std::atomic<std::uint64_t> size_bytes_;
    const bool block_device_;
    util::ThreadPool pool_;              // unmap, write-zeroes, and I/O when io_uring is absent or full
    std::unique_ptr<UringQueue> uring_;  // null: everything goes through pool_

    // Inline part of a read/write (file_backend_inline.cpp): the bytes done without waiting, from
    // the start of `buf`; the caller queues the rest. 0 when nothing could be done at once.
    std::size_t inline_read(std::span<std::byte> buf, off_t off);
    std::size_t inline_write(std::span<const std::byte> buf, off_t off, bool fua);
    bool memory_file_ = false;  // tmpfs/ramfs: I/O is a memory copy, done inline
    // Cleared when the file system refuses RWF_NOWAIT (EOPNOTSUPP): no point asking again.
    std::atomic<bool> nowait_read_{true};
    std::atomic<bool> nowait_write_{true};
    // Queue the rest of a read/write from byte `did` on (io_uring, else a worker thread).
    void queue_read(std::span<std::byte> buf, off_t off, std::size_t did, IoCallback done);
    void queue_write(std::span<const std::byte> buf, off_t off, std::size_t did, bool fua, IoCallback done);
    // The rest of a read/write that io_uring did only partly (or that asked to be retried): `did`
    // bytes were done before it was queued, `res` is io_uring's result for the queued part.
    void finish_read(std::span<std::byte> buf, off_t off, std::size_t did, int res, IoCallback done);
    void finish_write(std::span<const std::byte> buf, off_t off, std::size_t did, bool fua, int res, IoCallback done);
    // Synchronous rest of a read/write from byte `did` on (on a worker thread).
    void read_rest(std::span<std::byte> buf, off_t off, std::size_t did, IoCallback done);
    void write_rest(std::span<const std::byte> buf, off_t off, std::size_t did, bool fua, IoCallback done);

    // Faults are visible (docs/architecture.md "Backend faults"): every failed system call is
    // logged at warn (rate-limited) with what, where and errno; the image itself is watched for
    // being deleted (link count 0) or truncated (size below the LUN's) by something else.
    IoStatus failed(const char* what, off_t off, std::size_t len, int err);
    void check_image();       // fstat now; logs and records a change of state
    void maybe_check_image();  // check_image() at most once per kImageCheckInterval
    // The I/O touches bytes the image no longer has: MEDIUM ERROR (logged), never zeroes.
    bool past_image_end(off_t off, std::size_t len, const char* what, IoCallback& done);
    static constexpr std::chrono::seconds kImageCheckInterval{1};
    std::atomic<std::uint64_t> image_end_;  // bytes the file still has (size_bytes_ unless truncated)
    std::atomic<bool> deleted_{false};      // link count 0: writes are refused
    std::atomic<std::int64_t> last_check_ns_{0};
    std::mutex check_mu_;
    util::RateLimiter error_log_{std::chrono::seconds(10), 5};

    // Lending (file_backend_view_posix.cpp). A view holds its mapping: one a view points at is
    // never unmapped, and a shrink waits for the views of the old size to go first.
    struct Mapping;
    std::shared_ptr<const Mapping> mapping_;  // under map_mu_; null: nothing is lent
    std::mutex map_mu_;
    std::atomic<std::uint64_t> views_lent_{0};
    void map_file(std::uint64_t bytes);  // lend from a new mapping of the file's first `bytes`
    // Lends nothing from now on and waits (up to `patience`) until no view points into the
    // mapping; false, lending again as before, if some still did then.
    bool stop_lending(std::chrono::milliseconds patience);
    static constexpr std::chrono::milliseconds kViewsDrain{5000};

public:
    bool uses_io_uring() const { return uring_ != nullptr; }
    bool is_memory_file() const { return memory_file_; }
    std::uint64_t views_lent() const { return views_lent_.load(std::memory_order_relaxed); }
};

}  // namespace vstor::backends
