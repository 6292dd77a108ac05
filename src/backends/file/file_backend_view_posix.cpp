// A file in memory (tmpfs, ramfs) lends its blocks (Backend::read_view) as a mem LUN does: the file
// is mapped read-only and shared, and a large read goes out of the socket straight from the mapping
// (one copy, the kernel's, where read() copies the file into the command's buffer first).
// - Holes: a tmpfs page that is not there yet is allocated when the mapping is read (a shmem
//   fault), so a sparse file read end to end through it would fill up. A range is lent only when
//   mincore says every page of it is resident (1-2 µs per MiB once the pages are mapped here;
//   SEEK_HOLE walks the file under its inode lock, up to 220 µs on a full 64 MiB file); anything
//   else is read(), which reads holes as zeroes without allocating them.
// - Lifetime: a view holds its mapping (shared_ptr), so memory a view points at is never unmapped,
//   even after the LUN is gone. A grown file gets a new mapping; a shrink (resize) stops lending
//   and waits for the views of the old size to be sent before it truncates.
// - Truncated by someone else under a live view: the kernel's copy from a page past the new end
//   fails (sendmsg returns EFAULT, or the bytes before the page) and the front end drops the
//   connection; lending stops at the end the backend knows, and mincore finds the truncated pages
//   gone. A reader in user space (TLS) would get SIGBUS: NBD does not ask for views under TLS.
// - A page punched (UNMAP) between mincore and the send is allocated again as zeroes by the send:
//   the bytes are right (overlapping commands), the block reads as mapped until unmapped again.
#include <sys/mman.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "backends/file/file_backend.hpp"

namespace vstor::backends {

struct FileBackend::Mapping {
    Mapping(const std::byte* b, std::uint64_t n) : base(b), bytes(n) {}
    ~Mapping() { ::munmap(const_cast<std::byte*>(base), bytes); }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    const std::byte* const base;
    const std::uint64_t bytes;
};

namespace {

// What a front end holds while it sends: the span, and the mapping it points into.
struct MappedView : DataView {
    explicit MappedView(std::shared_ptr<const void> m) : keep(std::move(m)) {}
    std::shared_ptr<const void> keep;
};

// Every page of [p, p+len) is in memory (p inside a mapping; not necessarily page-aligned).
bool resident(const std::byte* p, std::uint64_t len) {
    static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    auto at = reinterpret_cast<std::uintptr_t>(p) & ~(page - 1);
    const auto end = reinterpret_cast<std::uintptr_t>(p) + len;
    constexpr std::size_t kPagesPerCall = 1024;
    unsigned char vec[kPagesPerCall];
    while (at < end) {
        const std::size_t pages = std::min<std::uintptr_t>(kPagesPerCall, (end - at + page - 1) / page);
        if (::mincore(reinterpret_cast<void*>(at), pages * page, vec) != 0) return false;
        for (std::size_t i = 0; i < pages; ++i)
            if (!(vec[i] & 1)) return false;
        at += pages * page;
    }
    return true;
}

}  // namespace

void FileBackend::map_file(std::uint64_t bytes) {
    std::shared_ptr<const Mapping> m;
    void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED)
        spdlog::debug("file {}: cannot map {} bytes ({}): reads are copied", opts_.path, bytes, std::strerror(errno));
    else
        m = std::make_shared<const Mapping>(static_cast<const std::byte*>(p), bytes);
    std::lock_guard lk(map_mu_);
    mapping_ = std::move(m);  // the old one goes with its last view
}

bool FileBackend::stop_lending(std::chrono::milliseconds patience) {
    std::shared_ptr<const Mapping> old;
    {
        std::lock_guard lk(map_mu_);
        old = std::move(mapping_);
    }
    if (!old) return true;
    // No new view can take it now: the count only falls, as front ends send what they hold.
    const auto until = std::chrono::steady_clock::now() + patience;
    while (old.use_count() > 1) {
        if (std::chrono::steady_clock::now() >= until) {
            std::lock_guard lk(map_mu_);
            if (!mapping_) mapping_ = std::move(old);
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

std::shared_ptr<const DataView> FileBackend::read_view(std::uint64_t lba, std::uint64_t count) {
    if (!memory_file_) return nullptr;
    const std::uint64_t off = lba * opts_.block_size;
    const std::uint64_t len = count * opts_.block_size;
    maybe_check_image();
    if (len == 0 || off + len > image_end_.load()) return nullptr;  // read() says what is wrong
    std::shared_ptr<const Mapping> m;
    {
        std::lock_guard lk(map_mu_);
        m = mapping_;
    }
    if (!m || off + len > m->bytes || !resident(m->base + off, len)) return nullptr;
    const std::byte* p = m->base + off;
    auto v = std::make_shared<MappedView>(std::move(m));
    v->pieces.emplace_back(p, len);
    views_lent_.fetch_add(1, std::memory_order_relaxed);
    return v;
}

}  // namespace vstor::backends
