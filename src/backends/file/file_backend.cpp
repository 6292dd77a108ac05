// What the file backend is on every platform; the I/O is in file_backend_posix.cpp (io_uring or
// worker threads) and file_backend_win32.cpp (worker threads).
#include "backends/file/file_backend.hpp"

namespace vstor::backends {

bool FileBackend::may_create(const FileOptions& opts, bool exists, std::string& error) {
    if (!exists && opts.read_only) {
        error = "image " + opts.path + " does not exist (read-only LUNs are not created)";
        return false;
    }
    if (!exists && opts.size_bytes == 0) {
        error = "image " + opts.path + " does not exist: give size= to create it";
        return false;
    }
    return true;
}

std::uint64_t FileBackend::block_count() const { return size_bytes_.load() / opts_.block_size; }

BackendCaps FileBackend::caps() const {
    BackendCaps c;
    c.read_only = opts_.read_only;
    c.thin = !opts_.thick && !block_device_;
    c.write_cache = true;
    c.allocation_status = c.thin;
    return c;
}

}  // namespace vstor::backends
