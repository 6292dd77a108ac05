// One asynchronous librados operation whose caller may stop waiting for it. A cluster that does
// not answer never completes it, and librados has no per-call timeout that would not apply to
// the LUN's data I/O as well (rados_osd_op_timeout). The caller waits until it completes or
// until it is told to give up (the store closes, the LUN goes away); then the operation, the
// buffers it writes into and the I/O context it runs on (with the connection behind it) are
// left to a thread of their own that frees them once the cluster answers, never on a librados
// thread and never while librados may still write into them.
#pragma once

#include <rados/librados.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace vstor::backends {

class RbdAsyncOp {
public:
    // The op's completion; `keep` (may be null) is what must stay open while it runs.
    explicit RbdAsyncOp(std::shared_ptr<const void> keep);
    ~RbdAsyncOp();
    RbdAsyncOp(const RbdAsyncOp&) = delete;
    RbdAsyncOp& operator=(const RbdAsyncOp&) = delete;

    rados_completion_t completion() const { return c_; }
    bool ok() const { return c_ != nullptr; }
    // What the operation writes into: valid until it completed, whoever waits.
    rados_read_op_t rop = nullptr;
    rados_write_op_t wop = nullptr;
    std::vector<std::uint8_t> buf;
    std::size_t got = 0;
    std::uint64_t object_size = 0;
    int read_rv = 0, stat_rv = 0;
    char* reply = nullptr;  // a notify's acknowledgements
    std::size_t reply_len = 0;
    // An asynchronous watch: set before it starts; if the op is left behind and the watch was
    // made after all, the thread that frees it ends the watch (on `watch_ctx`).
    std::uint64_t watch_cookie = 0;
    rados_ioctx_t watch_ctx = nullptr;

    // Marks the op started (its start call returned >= 0): only then does a completion come.
    void started() { started_ = true; }
    // Waits until the op completed (its return value) or `give_up` is set (-ECANCELED: the op
    // is left behind, see leave()). Checks `give_up` every kGiveUpCheck.
    int wait(const std::atomic<bool>& give_up);
    std::uint64_t version() const { return rados_aio_get_version(c_); }

    // Hands a started op the caller no longer waits for to a thread that frees it once the
    // cluster answered (logged with `what`).
    static void leave(std::shared_ptr<RbdAsyncOp> op, const std::string& what);

    static constexpr std::chrono::milliseconds kGiveUpCheck{20};

private:
    struct Signal {
        std::mutex mu;
        std::condition_variable cv;
        bool done = false;
    };
    static void on_complete(rados_completion_t, void* arg);
    std::shared_ptr<Signal> signal_ = std::make_shared<Signal>();
    std::shared_ptr<Signal>* arg_ = nullptr;  // the callback's: deleted by it, or here if it never comes
    rados_completion_t c_ = nullptr;
    bool started_ = false;
    std::shared_ptr<const void> keep_;
};

}  // namespace vstor::backends
