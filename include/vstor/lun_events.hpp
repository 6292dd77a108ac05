// LUN events: what changed in an Adapter's LUN inventory, for whoever must tell others (the iSCSI
// Async Message, NBD's export list, StorPort's BusChangeDetected). One bus per Adapter; a
// subscription lasts as long as the LunSubscription its owner holds.
//
// Threading (the contract, docs/sdk.md "LUN events"):
// - A callback runs on a thread that is inside an Adapter call changing a LUN (add_lun, remove_lun,
//   resize_lun, set_medium), after the change took effect and before the call that made it
//   returns: when `add_lun` returns, every subscriber has seen `added`. Usually that is the thread
//   that made the change; when several threads change LUNs at once, one of them delivers the
//   events of all.
// - Callbacks run one at a time across the whole bus, each event to every subscriber (in the order
//   they subscribed) before the next event. So they must not block: a slow callback holds up every
//   LUN change of the adapter. Post work to a thread of your own if it may wait.
// - Events come in the order the changes took effect, one sequence for the whole adapter: per LUN,
//   `added` comes before its `resized`/`medium_changed` and those before its `removed`.
// - A callback may make LUN changes itself; their events follow once the current callback
//   returns (the nested Adapter call then returns before they are delivered). It may subscribe
//   (the new subscription gets the events of later changes) and unsubscribe any subscription,
//   its own included.
// - A subscription gets the events of the changes made after subscribe_lun_events returned.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#pragma GCC visibility push(default)  // the public API: exported from libvstor.so

namespace vstor {

enum class LunChange : std::uint8_t {
    added,           // the LUN exists now
    removed,         // the LUN is gone
    resized,         // block count changed (initiators get CAPACITY DATA HAS CHANGED)
    medium_changed,  // removable medium ejected or inserted
};

const char* to_string(LunChange c);

struct LunEvent {
    LunChange change = LunChange::added;
    std::uint16_t target_id = 0;
    std::string target_name;  // the target's name (the iSCSI IQN)
    std::uint16_t lun = 0;
    std::string lun_name;        // LunOptions::name ("" when it has none)
    std::uint64_t sequence = 0;  // 1, 2, 3, ... in the order the adapter's changes took effect
};

using LunEventCallback = std::function<void(const LunEvent&)>;

// Move-only ownership of one subscription (Adapter::subscribe_lun_events). Destroying it or
// calling reset() ends the subscription: once that returns, its callback is not running and will
// not run again, except when reset from inside a callback on the delivering thread (the callback
// that is running finishes; that is how a callback drops its own subscription without deadlock).
// It may outlive the Adapter: then ending it does nothing.
class LunSubscription {
public:
    struct Handle;  // the adapter's side; made only by Adapter::subscribe_lun_events

    LunSubscription() noexcept;  // holds nothing
    explicit LunSubscription(std::unique_ptr<Handle> handle);
    ~LunSubscription();
    LunSubscription(LunSubscription&& other) noexcept;
    LunSubscription& operator=(LunSubscription&& other) noexcept;  // ends the held subscription first
    LunSubscription(const LunSubscription&) = delete;
    LunSubscription& operator=(const LunSubscription&) = delete;

    void reset();
    explicit operator bool() const { return handle_ != nullptr; }

private:
    std::unique_ptr<Handle> handle_;
};

}  // namespace vstor

#pragma GCC visibility pop
