// The persistent reservations of an RBD LUN, kept in the cluster so that every gateway serving
// the image shares them (vstor/reservation_store.hpp): one RADOS object, `vstor_pr.<image id>`
// in the image's pool, holding the engine's state bytes. A change is a write guarded by the
// object version the writer read (rados_write_op_assert_version), so two gateways cannot both
// win; after each write the writer notifies the object's watchers and waits (kNotifyTimeout)
// for their acknowledgements, which they send once they have re-read the state. A watch that
// fails (the OSD restarted, the connection timed out) is re-established and the state re-read.
// A call the cluster refuses with EBLOCKLISTED (this client was fenced) calls the connection's
// `fenced`, which starts its replacement as a data call failing so does (rbd_recover.cpp); the
// watch's pings find it out on an idle gateway too (the watch fails, and watching again is refused).
#pragma once

#include <rados/librados.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "util/bounded_thread.hpp"
#include "vstor/reservation_store.hpp"

namespace vstor::backends {

class RbdAsyncOp;

class RbdPrStore final : public ReservationStore {
public:
    static constexpr std::uint32_t kNotifyTimeoutMs = 3000;  // a gateway that died does not ack
    static constexpr std::uint32_t kWatchTimeoutS = 10;      // ... and its watch ends after this
    static constexpr std::size_t kMaxBytes = 4 << 20;        // a state larger than this is refused
    static constexpr int kUnwatchWaitMs = 2000;  // then a watch is left to the cluster (close, rebind)
    // close() waits this long for the store's thread (it gives up on its cluster calls at once).
    static constexpr std::chrono::milliseconds kStopWait{2000};

    // A store on `object` in the pool of `pool_io` (an I/O context of its own is made from it).
    // `keep` (may be null) keeps `cluster` connected while an I/O context of it is in use.
    // nullptr with `error` set when the object cannot be created or watched. Blocks: LUN creation.
    // `fenced` (may be empty) is called, on any thread, when the cluster refuses a call with
    // EBLOCKLISTED; it must not block.
    static std::shared_ptr<RbdPrStore> open(rados_t cluster, rados_ioctx_t pool_io, std::string object,
                                            std::string& error, std::shared_ptr<const void> keep = nullptr,
                                            std::function<void()> fenced = {});
    ~RbdPrStore() override;
    RbdPrStore(const RbdPrStore&) = delete;
    RbdPrStore& operator=(const RbdPrStore&) = delete;

    Result load(Snapshot& out, std::string& error) override;
    Result compare_and_set(std::uint64_t expected_version, const std::vector<std::uint8_t>& state,
                           std::string& error) override;
    // An empty `changed` also gives up on a read or write in flight (it fails: the LUN goes away).
    void watch(std::function<void()> changed) override;
    // Ends the watch (waiting at most kUnwatchWaitMs for the cluster) and the thread, and lets go
    // of the I/O context (closed once no operation uses it); afterwards every call fails.
    void close();
    // Moves the store to a new cluster connection (the old one was blocklisted): a new I/O
    // context on the same pool, the watch established there, the state re-read by the engine.
    // An operation in flight on the old context is not waited for: it ends there (failing, on a
    // fenced client), and the old context closes after it. The shared_ptr the engine holds stays
    // valid. False (and nothing changed) with `error` set when no I/O context can be made; a
    // watch that fails is retried in the background.
    bool rebind(rados_t cluster, std::string& error, std::shared_ptr<const void> keep = nullptr,
                std::function<void()> fenced = {});

private:
    // One I/O context and the connection it belongs to, closed when the last operation using it
    // let go (an operation holds it from start to end).
    struct Io {
        rados_ioctx_t ctx = nullptr;
        std::shared_ptr<const void> keep;
        std::function<void()> fenced;  // the connection was blocklisted
        std::atomic<bool> told{false};  // fenced was called
        Io(rados_ioctx_t c, std::shared_ptr<const void> k, std::function<void()> f)
            : ctx(c), keep(std::move(k)), fenced(std::move(f)) {}
        Io(const Io&) = delete;
        Io& operator=(const Io&) = delete;
        ~Io() { rados_ioctx_destroy(ctx); }
    };
    // The watch callbacks' argument: forwards to the store until close() cut it off, so a watch
    // the cluster did not confirm ending can call nothing that is gone (then it is never freed).
    struct Relay {
        std::mutex mu;
        RbdPrStore* store = nullptr;
        std::atomic<std::uint64_t> cookie{0};  // the current watch: callbacks of older ones are ignored
    };
    struct Event {
        bool rewatch = false;  // the watch failed or moved: establish it (the engine re-reads the state)
        std::uint64_t notify_id = 0, cookie = 0;
    };
    RbdPrStore(std::shared_ptr<Io> io, std::string object);
    std::shared_ptr<Io> io() const;
    // r: a call's result on `io`; EBLOCKLISTED (ESHUTDOWN) tells the connection, once. Returns r.
    int refused(const std::shared_ptr<Io>& io, int r) const;
    int start_watch(const std::shared_ptr<Io>& io);  // under watch_mu_
    void end_watch();                                // under watch_mu_; bounded by kUnwatchWaitMs
    // Waits for an op whose start call returned `started`, unless abandon_ says to give up.
    int finish(std::shared_ptr<RbdAsyncOp> op, int started);
    void rewatch();
    bool closed();
    void run();  // the store's thread: callbacks and acknowledgements, re-watching
    void post(Event e);
    static void on_notify(void* arg, std::uint64_t notify_id, std::uint64_t cookie, std::uint64_t notifier,
                          void* data, std::size_t len);
    static void on_watch_error(void* arg, std::uint64_t cookie, int err);

    mutable std::mutex io_mu_;  // guards io_ (held only to copy or swap it)
    std::shared_ptr<Io> io_;
    std::uint64_t io_gen_ = 0;  // rebinds so far (under mu_): a retrying rewatch of an old io_ stops
    const std::string object_;
    std::mutex watch_mu_;  // guards the watch (cookie, its Io); mu_ may be taken under it, not the reverse
    std::uint64_t watch_cookie_ = 0;
    std::shared_ptr<Io> watch_io_;  // the watch's context; null: not watching
    Relay* const relay_;
    bool unwatched_all_ = true;  // every watch confirmed ended (under watch_mu_): relay_ may be freed
    std::mutex cb_mu_;  // guards changed_; held while it runs
    std::function<void()> changed_;
    std::mutex mu_;  // guards events_, stop_, closed_
    std::condition_variable cv_;
    std::deque<Event> events_;
    bool stop_ = false;
    bool closed_ = false;
    std::atomic<bool> closing_{false};  // close() began: every wait for the cluster gives up
    std::atomic<bool> abandon_{false};  // ... or the engine stopped listening: reads and writes give up
    util::BoundedThread thread_;        // started by open(), holding the store
};

}  // namespace vstor::backends
