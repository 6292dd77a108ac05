// One io_uring per file backend: reads, writes (RWF_DSYNC for FUA) and fdatasync go to the kernel
// without a thread hop; a reaper thread runs the completions. When the kernel or a sandbox refuses
// io_uring (create() fails) the backend keeps using its worker threads.
#pragma once

#include <liburing.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <thread>

namespace vstor::backends {

class UringQueue {
public:
    using Done = std::function<void(int res)>;  // bytes transferred, or -errno

    static std::unique_ptr<UringQueue> create(unsigned entries, std::string& error);
    ~UringQueue();

    // Each returns false (leaving `done` untouched) when the ring is full: the caller then does
    // the I/O another way.
    bool read(int fd, void* buf, std::size_t len, off_t off, Done& done);
    bool write(int fd, const void* buf, std::size_t len, off_t off, bool dsync, Done& done);
    bool fdatasync(int fd, Done& done);

private:
    UringQueue() = default;
    template <typename Prep>
    bool submit(Prep prep, Done& done);
    void reap();

    io_uring ring_{};
    std::mutex mu_;  // guards the submission queue
    std::thread reaper_;
    // Release/acquire pair that makes "submitted before completed" visible to the memory model
    // (and to TSan): the kernel's own ordering is invisible to both.
    std::atomic<std::uint64_t> submitted_{0};
};

}  // namespace vstor::backends
