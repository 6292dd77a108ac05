#include "backends/file/file_backend.hpp"

#include "backends/file/loop_ring.hpp"
#include "backends/file/uring_queue.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace vstor::backends {

namespace {
IoStatus from_errno(int e) {
    switch (e) {
        case ENOSPC:
        case EDQUOT: return IoStatus::no_space;
        case EROFS:
        case EBADF: return IoStatus::read_only;
        case EOPNOTSUPP: return IoStatus::not_supported;
        default: return IoStatus::medium_error;
    }
}

// Full-length pread/pwrite, retrying on EINTR and short transfers. The result is 0 or an errno;
// for pread, -1 means end of file: the image is shorter than the LUN (truncated underneath).
int pread_all(int fd, std::byte* p, std::size_t n, off_t off) {
    while (n) {
        const ssize_t r = ::pread(fd, p, n, off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (r == 0) return -1;
        p += r;
        n -= static_cast<std::size_t>(r);
        off += r;
    }
    return 0;
}

int pwrite_all(int fd, const std::byte* p, std::size_t n, off_t off) {
    while (n) {
        const ssize_t r = ::pwrite(fd, p, n, off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += r;
        n -= static_cast<std::size_t>(r);
        off += r;
    }
    return 0;
}

// tmpfs and ramfs hold a file's data in memory: reading or writing it is a copy, as for a mem LUN.
bool on_memory_file_system(int fd) {
    struct statfs fs {};
    if (::fstatfs(fd, &fs) != 0) return false;
    return fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC;
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

std::unique_ptr<FileBackend> FileBackend::open(const FileOptions& opts, std::string& error) {
    if (opts.path.empty()) {
        error = "file backend needs a path";
        return nullptr;
    }
    struct stat st {};
    const bool exists = ::stat(opts.path.c_str(), &st) == 0;
    if (!may_create(opts, exists, error)) return nullptr;
    const int flags = (opts.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | (exists ? 0 : O_CREAT | O_EXCL);
    const int fd = ::open(opts.path.c_str(), flags, 0644);
    if (fd < 0) {
        error = "cannot open image " + opts.path + ": " + std::strerror(errno);
        return nullptr;
    }
    // A server that was just killed can hold the lock a little longer than its life: the kernel
    // tears down its io_uring (and with it the last reference to the file) asynchronously. Give
    // that a moment before calling the image busy, so a restart after a crash does not fail.
    bool locked = false;
    for (int attempt = 0; attempt < 20 && !locked; ++attempt) {
        locked = ::flock(fd, (opts.read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0;
        if (!locked && errno != EWOULDBLOCK) break;
        if (!locked) ::usleep(100 * 1000);
    }
    if (!locked) {
        error = "image " + opts.path + " is in use by another process";
        ::close(fd);
        return nullptr;
    }
    if (::fstat(fd, &st) != 0) {
        error = "cannot stat image " + opts.path + ": " + std::strerror(errno);
        ::close(fd);
        return nullptr;
    }
    const bool blockdev = S_ISBLK(st.st_mode);
    std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
    if (blockdev) {
        if (::ioctl(fd, BLKGETSIZE64, &size) != 0) {
            error = "cannot get the size of block device " + opts.path;
            ::close(fd);
            return nullptr;
        }
    } else if (!exists || (opts.size_bytes && size == 0)) {
        // New image: sparse unless thick was asked for.
        const int rc = opts.thick ? ::posix_fallocate(fd, 0, static_cast<off_t>(opts.size_bytes))
                                  : (::ftruncate(fd, static_cast<off_t>(opts.size_bytes)) ? errno : 0);
        if (rc != 0) {
            error = "cannot size image " + opts.path + ": " + std::strerror(rc);
            ::close(fd);
            ::unlink(opts.path.c_str());
            return nullptr;
        }
        size = opts.size_bytes;
    } else if (opts.size_bytes && opts.size_bytes != size) {
        error = "image " + opts.path + " is " + std::to_string(size) + " bytes, not the " +
                std::to_string(opts.size_bytes) + " asked for (leave size= out to use it as it is)";
        ::close(fd);
        return nullptr;
    }
    if (size < opts.block_size) {
        error = "image " + opts.path + " is smaller than one block";
        ::close(fd);
        return nullptr;
    }
    return std::unique_ptr<FileBackend>(new FileBackend(fd, opts, size, blockdev));
}

FileBackend::FileBackend(int fd, FileOptions opts, std::uint64_t size, bool block_device)
    : fd_(fd),
      opts_(std::move(opts)),
      size_bytes_(size),
      block_device_(block_device),
      pool_(opts_.threads),
      image_end_(size),
      last_check_ns_(now_ns()) {
    memory_file_ = opts_.inline_io && !block_device_ && on_memory_file_system(fd_);
    if (memory_file_) map_file(size);  // reads are lent from it (file_backend_view_posix.cpp)
    const char* env = std::getenv("VSTOR_IO_URING");  // VSTOR_IO_URING=0 forces the worker threads
    if (opts_.io_uring && !(env && std::strcmp(env, "0") == 0)) {
        std::string why;
        uring_ = UringQueue::create(256, why);
        if (!uring_) spdlog::debug("file {}: {}; using worker threads", opts_.path, why);
    }
}

FileBackend::~FileBackend() {
    uring_.reset();  // stops the reaper; no I/O is in flight once the last LUN reference is gone
    ::fdatasync(fd_);
    ::close(fd_);
}

IoStatus FileBackend::failed(const char* what, off_t off, std::size_t len, int err) {
    std::uint64_t dropped = 0;
    if (error_log_.allow(&dropped))
        spdlog::warn("file {}: {} of {} bytes at offset {} failed: {}{}", opts_.path, what, len, off,
                     std::strerror(err),
                     dropped ? fmt::format(" ({} more I/O errors on this image since the last report)", dropped) : "");
    if (err == EIO || err == ENOSPC || err == EDQUOT) check_image();  // was it deleted or truncated?
    return from_errno(err);
}

void FileBackend::check_image() {
    if (block_device_) return;
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return;
    std::lock_guard lk(check_mu_);
    last_check_ns_.store(now_ns(), std::memory_order_relaxed);
    const bool gone = st.st_nlink == 0;
    if (gone != deleted_.load()) {
        deleted_.store(gone);
        if (gone)
            spdlog::error("file {}: the image was deleted while being served; its data lives only until vstor "
                          "exits, so writes are refused (DATA PROTECT) and flushes fail from now on. Reads still "
                          "work: copy the data off (e.g. cp /proc/{}/fd/{} SOMEWHERE) and restore the image",
                          opts_.path, ::getpid(), fd_);
        else
            spdlog::warn("file {}: the image has a name again; writes are accepted", opts_.path);
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    const auto lun_size = size_bytes_.load();
    const auto end = std::min(size, lun_size);
    const auto before = image_end_.exchange(end);
    if (end < lun_size && end != before)
        spdlog::error("file {}: the image shrank under the server to {} bytes (the LUN has {}): reads and writes "
                      "past {} fail with MEDIUM ERROR instead of returning zeroes; restore the image or resize "
                      "the LUN (vstor ctl lun resize)",
                      opts_.path, size, lun_size, end);
    else if (end == lun_size && before < lun_size)
        spdlog::warn("file {}: the image is its full size ({} bytes) again", opts_.path, lun_size);
}

void FileBackend::maybe_check_image() {
    if (block_device_) return;
    const auto now = now_ns();
    auto last = last_check_ns_.load(std::memory_order_relaxed);
    const auto interval = std::chrono::duration_cast<std::chrono::nanoseconds>(kImageCheckInterval).count();
    if (now - last < interval) return;
    if (!last_check_ns_.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;  // another thread
    check_image();
}

bool FileBackend::past_image_end(off_t off, std::size_t len, const char* what, IoCallback& done) {
    const auto end = image_end_.load();
    if (static_cast<std::uint64_t>(off) + len <= end) return false;
    std::uint64_t dropped = 0;
    if (error_log_.allow(&dropped))
        spdlog::warn("file {}: {} of {} bytes at offset {} is past the image's end ({} bytes, truncated under the "
                     "server): MEDIUM ERROR{}",
                     opts_.path, what, len, off, end,
                     dropped ? fmt::format(" ({} more I/O errors on this image since the last report)", dropped) : "");
    done(IoStatus::medium_error);
    return true;
}

void FileBackend::finish_read(std::span<std::byte> buf, off_t off, std::size_t did, int res, IoCallback done) {
    if (res < 0 && res != -EINTR && res != -EAGAIN) return done(failed("read", off, buf.size(), -res));
    did += static_cast<std::size_t>(std::max(res, 0));
    if (did == buf.size()) return done(IoStatus::ok);
    pool_.post([this, buf, off, did, done = std::move(done)]() mutable { read_rest(buf, off, did, std::move(done)); });
}

void FileBackend::read_rest(std::span<std::byte> buf, off_t off, std::size_t did, IoCallback done) {
    const int e = pread_all(fd_, buf.data() + did, buf.size() - did, off + static_cast<off_t>(did));
    if (e < 0) {  // end of file inside the LUN: the image was truncated underneath
        check_image();
        if (!past_image_end(off, buf.size(), "read", done)) done(IoStatus::medium_error);
        return;
    }
    done(e ? failed("read", off, buf.size(), e) : IoStatus::ok);
}

void FileBackend::finish_write(std::span<const std::byte> buf, off_t off, std::size_t did, bool fua, int res,
                               IoCallback done) {
    if (res < 0 && res != -EINTR && res != -EAGAIN) return done(failed("write", off, buf.size(), -res));
    did += static_cast<std::size_t>(std::max(res, 0));
    if (did == buf.size()) return done(IoStatus::ok);
    pool_.post([this, buf, off, did, fua, done = std::move(done)]() mutable {
        write_rest(buf, off, did, fua, std::move(done));
    });
}

void FileBackend::write_rest(std::span<const std::byte> buf, off_t off, std::size_t did, bool fua, IoCallback done) {
    int e = pwrite_all(fd_, buf.data() + did, buf.size() - did, off + static_cast<off_t>(did));
    // FUA: durable before completion (SBC-4 5.x); fdatasync covers this write and earlier ones.
    if (!e && fua && ::fdatasync(fd_) != 0) e = errno;
    done(e ? failed(fua ? "FUA write" : "write", off, buf.size(), e) : IoStatus::ok);
}

void FileBackend::read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) {
    const auto off = static_cast<off_t>(lba * opts_.block_size);
    maybe_check_image();
    if (past_image_end(off, buf.size(), "read", done)) return;
    const std::size_t did = inline_read(buf, off);
    if (did == buf.size()) return done(IoStatus::ok);
    queue_read(buf, off, did, std::move(done));
}

// On a connection's loop the request goes to that loop's ring (completed on the loop, no thread
// between); elsewhere, or when that ring is full, to the backend's own ring; else to a worker.
void FileBackend::queue_read(std::span<std::byte> buf, off_t off, std::size_t did, IoCallback done) {
    if (uring_ && buf.size() <= (1u << 30)) {
        UringQueue::Done d = [this, buf, off, did, done](int res) mutable {
            finish_read(buf, off, did, res, std::move(done));
        };
        const auto at = off + static_cast<off_t>(did);
        if (LoopRing* loop = LoopRing::here(); loop && loop->read(fd_, buf.data() + did, buf.size() - did, at, d))
            return;
        if (uring_->read(fd_, buf.data() + did, buf.size() - did, at, d)) return;
    }
    pool_.post([this, buf, off, did, done = std::move(done)]() mutable { read_rest(buf, off, did, std::move(done)); });
}

void FileBackend::write(std::uint64_t lba, std::span<const std::byte> buf, bool fua, IoCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only);
    const auto off = static_cast<off_t>(lba * opts_.block_size);
    maybe_check_image();
    if (deleted_.load()) {
        std::uint64_t dropped = 0;
        if (error_log_.allow(&dropped))
            spdlog::warn("file {}: write of {} bytes at offset {} refused: the image was deleted{}", opts_.path,
                         buf.size(), off,
                         dropped ? fmt::format(" ({} more since the last report)", dropped) : "");
        return done(IoStatus::read_only);
    }
    if (past_image_end(off, buf.size(), "write", done)) return;
    const std::size_t did = inline_write(buf, off, fua);
    if (did == buf.size()) return done(IoStatus::ok);
    queue_write(buf, off, did, fua, std::move(done));
}

void FileBackend::queue_write(std::span<const std::byte> buf, off_t off, std::size_t did, bool fua, IoCallback done) {
    if (uring_ && buf.size() <= (1u << 30)) {
        UringQueue::Done d = [this, buf, off, did, fua, done](int res) mutable {
            finish_write(buf, off, did, fua, res, std::move(done));
        };
        const auto at = off + static_cast<off_t>(did);
        if (LoopRing* loop = LoopRing::here();
            loop && loop->write(fd_, buf.data() + did, buf.size() - did, at, fua, d))
            return;
        if (uring_->write(fd_, buf.data() + did, buf.size() - did, at, fua, d)) return;
    }
    pool_.post([this, buf, off, did, fua, done = std::move(done)]() mutable {
        write_rest(buf, off, did, fua, std::move(done));
    });
}

void FileBackend::flush(IoCallback done) {
    maybe_check_image();
    if (deleted_.load()) {
        // fdatasync would succeed, but nothing durable is left to sync to: the data goes with vstor.
        spdlog::warn("file {}: flush failed: the image was deleted while being served", opts_.path);
        return done(IoStatus::medium_error);
    }
    if (uring_) {
        UringQueue::Done d = [this, done](int res) { done(res == 0 ? IoStatus::ok : failed("flush", 0, 0, -res)); };
        if (uring_->fdatasync(fd_, d)) return;
    }
    pool_.post([this, done = std::move(done)] {
        done(::fdatasync(fd_) == 0 ? IoStatus::ok : failed("flush", 0, 0, errno));
    });
}

void FileBackend::unmap(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only);
    if (!caps().thin) return done(IoStatus::not_supported);
    pool_.post([this, lba, count, done = std::move(done)] {
        const auto off = static_cast<off_t>(lba * opts_.block_size);
        const auto len = static_cast<off_t>(count * opts_.block_size);
        done(::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) == 0
                 ? IoStatus::ok
                 : failed("unmap", off, static_cast<std::size_t>(len), errno));
    });
}

void FileBackend::write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only);
    pool_.post([this, lba, count, done = std::move(done)]() mutable {
        const auto off = static_cast<off_t>(lba * opts_.block_size);
        const auto len = static_cast<off_t>(count * opts_.block_size);
        // Thin: a hole reads as zeroes. Thick: ZERO_RANGE keeps the blocks allocated.
        const int mode = caps().thin ? (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) : FALLOC_FL_ZERO_RANGE;
        if (::fallocate(fd_, mode, off, len) == 0) return done(IoStatus::ok);
        Backend::write_zeroes(lba, count, std::move(done));  // filesystem without fallocate modes
    });
}

std::vector<Extent> FileBackend::allocation_status(std::uint64_t lba, std::uint64_t count) {
    const std::uint64_t bs = opts_.block_size;
    if (!caps().thin) return {Extent{lba, count, true}};
    std::vector<Extent> out;
    auto pos = static_cast<off_t>(lba * bs);
    const auto end = static_cast<off_t>((lba + count) * bs);
    while (pos < end) {
        off_t data = ::lseek(fd_, pos, SEEK_DATA);
        if (data < 0 || data > end) data = end;  // ENXIO: only a hole remains
        if (data > pos) {
            out.push_back(Extent{static_cast<std::uint64_t>(pos) / bs,
                                 static_cast<std::uint64_t>(data - pos) / bs, false});
            pos = data;
            if (pos >= end) break;
        }
        off_t hole = ::lseek(fd_, pos, SEEK_HOLE);
        if (hole < 0 || hole > end) hole = end;
        // Round partially-allocated blocks up: a block with any data counts as mapped.
        const off_t hole_aligned = std::min<off_t>(end, (hole + static_cast<off_t>(bs) - 1) / static_cast<off_t>(bs) * static_cast<off_t>(bs));
        out.push_back(Extent{static_cast<std::uint64_t>(pos) / bs,
                             static_cast<std::uint64_t>(hole_aligned - pos) / bs, true});
        pos = hole_aligned;
    }
    std::erase_if(out, [](const Extent& e) { return e.count == 0; });
    return out;
}

IoStatus FileBackend::resize(std::uint64_t new_block_count) {
    if (opts_.read_only || block_device_) return IoStatus::not_supported;
    const auto bytes = static_cast<off_t>(new_block_count * opts_.block_size);
    // A view past the new end would fault when sent: let those out first (a grown file only
    // needs a new mapping; the old one stays valid for the views that hold it).
    if (memory_file_ && static_cast<std::uint64_t>(bytes) < size_bytes_.load() && !stop_lending(kViewsDrain)) {
        spdlog::warn("file {}: resize refused: reads lent from the image were not sent within {} s (a client "
                     "that does not read its socket?)",
                     opts_.path, kViewsDrain.count() / 1000);
        return IoStatus::no_resources;
    }
    if (::ftruncate(fd_, bytes) != 0) {
        const IoStatus st = failed("resize", bytes, 0, errno);
        if (memory_file_) map_file(size_bytes_.load());
        return st;
    }
    size_bytes_.store(static_cast<std::uint64_t>(bytes));
    image_end_.store(static_cast<std::uint64_t>(bytes));
    if (memory_file_) map_file(static_cast<std::uint64_t>(bytes));
    return IoStatus::ok;
}

}  // namespace vstor::backends
