// Completions that arrive inside their own submit(), on the submitting thread: kept and handled
// by the submitter once submit() has returned, instead of being posted back to its event loop.
//
// A front end submits a command on its loop thread; a mem LUN (or a file in memory) completes it
// before Adapter::submit returns, on that same thread. Posting that completion to the loop would
// cost a handler, a queue and a scheduler turn per command, and handling it right inside the
// callback would re-enter the front end in the middle of its own submit(). So the front end
// marks the submit with a Submitting scope naming what is being submitted (`key`: a command, a
// connection); the completion callback asks keep(key, item), which takes the item only when it
// runs on the thread inside that scope, and the front end runs what was kept afterwards
// (run(), right after submit() or at the end of a turn). Completions from any other thread, or
// for another key, are the caller's to post as before.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace vstor::util {

// Item: what a completion leaves for the submitter (a pointer: it is copied around).
// One instance per front-end connection; only its loop thread touches it.
template <class Item>
class InlineCompletions {
public:
    // While it lives, completions for `key` that arrive on this thread are kept in `q`. Scopes
    // nest (the innermost names what this thread is submitting now).
    class Submitting {
    public:
        Submitting(InlineCompletions& q, const void* key) noexcept : q_(q), key_(key), outer_(current_) {
            current_ = this;
        }
        ~Submitting() { current_ = outer_; }
        Submitting(const Submitting&) = delete;
        Submitting& operator=(const Submitting&) = delete;

    private:
        friend class InlineCompletions;
        InlineCompletions& q_;
        const void* key_;
        Submitting* outer_;
    };

    // From a completion callback, on any thread: true if this thread is inside the submit of
    // `key` (the item is then kept for run()), false if the caller must hand the completion over
    // itself (post it to the loop).
    static bool keep(const void* key, Item item) {
        Submitting* s = current_;
        if (!s || s->key_ != key) return false;
        s->q_.items_.push_back(std::move(item));
        return true;
    }

    // True if this thread is inside the submit of `key`.
    static bool inside(const void* key) { return current_ && current_->key_ == key; }

    // Handles what was kept, in the order it arrived, each item once. Re-entrant: `handle` may
    // submit again (what that keeps is handled by this same call) or call run() itself.
    template <class F>
    void run(F&& handle) {
        while (next_ < items_.size()) {
            Item item = std::move(items_[next_++]);  // a copy: handle() may grow items_
            handle(item);
        }
        items_.clear();
        next_ = 0;
    }

    bool empty() const { return next_ == items_.size(); }

private:
    static inline thread_local Submitting* current_ = nullptr;
    std::vector<Item> items_;  // capacity kept: no allocation per command once warm
    std::size_t next_ = 0;
};

}  // namespace vstor::util
