// librbd checks each request against the image's size as this client knows it (Ceph 16's
// clip_io): a request that starts at or past the end fails with -EINVAL, but one that crosses
// the end is clipped to it, and a clipped write, write-zeroes, write-same or discard completes as
// done. A shrink made elsewhere reaches librbd first (it refreshes the header before its next
// request) and the LUN a few ms later (RbdSizeWatch reads the size on a thread of its own), so a
// write the engine let through in between would be acknowledged with its tail lost.
//
// The gate is what one connection's completions ask before they report success (or a plain
// MEDIUM ERROR for a short read or an -EINVAL): is the request's end inside the image, by the size
// this connection read after every header change librbd told of? librbd calls the update watch
// back (RbdSizeWatch::on_update, which counts the change here) once it has marked the header for a
// refresh, and a request clipped to the new size must first make that refresh (an OSD read), then
// wait for the exclusive lock the resizing client held, then write: the change is counted long
// before such a request completes. A completion that finds a change not yet read waits for the
// size watch's read (about a millisecond) on that watch's thread; the usual case, no change
// unread, costs two atomic loads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace vstor::backends {

class RbdSizeGate {
public:
    enum class Verdict {
        inside,   // the request ends within the image (or its size is not known: nothing to say)
        outside,  // it ends past the image's end: clipped or refused by librbd
        unknown,  // the size after a header change cannot be read (the watch stopped, a read failed)
    };
    using Then = std::function<void(Verdict)>;

    // The size read when the connection was opened (0: not known; nothing is refused then).
    void set(std::uint64_t bytes) { bytes_.store(bytes, std::memory_order_release); }
    // A header change librbd told of (any thread; librbd's): sizes are unsettled until a read
    // covers it. Returns the change's number, which that read passes to read().
    std::uint64_t changed() { return changes_.fetch_add(1, std::memory_order_acq_rel) + 1; }
    std::uint64_t changes() const { return changes_.load(std::memory_order_acquire); }
    // `bytes` was read after the changes up to `upto`: the completions waiting for them go on
    // (on the caller's thread).
    void read(std::uint64_t upto, std::uint64_t bytes);
    // The read after `upto` failed: its waiting completions get `unknown`, the size stays.
    void read_failed(std::uint64_t upto);
    // No read is coming any more (the size watch stopped): waiting and later unsettled
    // completions get `unknown`.
    void close();

    // The verdict on a request ending at byte `end`, when no header change is unread.
    std::optional<Verdict> now(std::uint64_t end) const {
        const auto c = changes_.load(std::memory_order_acquire);
        if (read_.load(std::memory_order_acquire) != c) return std::nullopt;
        return verdict(bytes_.load(std::memory_order_acquire), end);
    }
    // `then` runs with the verdict: at once if it is known by now, else after the next read.
    void wait(std::uint64_t end, Then then);

private:
    static Verdict verdict(std::uint64_t bytes, std::uint64_t end) {
        return bytes == 0 || end <= bytes ? Verdict::inside : Verdict::outside;
    }
    struct Waiter {
        std::uint64_t change;  // the read covering this change settles it
        std::uint64_t end;
        Then then;
    };
    // Takes out the waiters `upto` settles (under mu_).
    std::vector<Waiter> settled(std::uint64_t upto);

    std::atomic<std::uint64_t> bytes_{0};
    std::atomic<std::uint64_t> changes_{0};
    std::atomic<std::uint64_t> read_{0};  // the changes the last read covered (never above changes_)
    std::mutex mu_;                       // guards waiters_ and closed_; orders read() with wait()
    std::vector<Waiter> waiters_;
    bool closed_ = false;
};

}  // namespace vstor::backends
