// The Adapter's one LUN-event bus (vstor/lun_events.hpp has the contract subscribers see).
//
// A change is published in two steps so that the bus order is the order the changes took effect:
// post() gives the event its sequence and must be called under the lock that serializes the
// changes (AdapterImpl::changes_mu_); deliver() then runs outside it. The first thread in deliver()
// becomes the drainer and hands out every queued event, one callback at a time, with the bus lock
// released around each call; the others wait until their own event has been delivered. A thread
// that is already the drainer (a change made from inside a callback) leaves its event queued for
// the drain loop it is running in.
//
// The state lives in a shared Hub that subscriptions point at weakly, so a LunSubscription may
// outlive the bus (and the Adapter): ending it then does nothing.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "vstor/lun_events.hpp"

namespace vstor::adapter {

class LunEventBus {
public:
    LunEventBus();
    ~LunEventBus();
    LunEventBus(const LunEventBus&) = delete;
    LunEventBus& operator=(const LunEventBus&) = delete;

    LunSubscription subscribe(LunEventCallback callback);

    // Places `e` in the bus order (sets e.sequence) and returns its sequence. Call it while holding
    // the lock under which the change took effect.
    std::uint64_t post(LunEvent e);
    // Returns once event `sequence` has been handed to every subscriber, delivering queued events
    // on this thread if no other is; from inside a callback it returns at once (see above).
    void deliver(std::uint64_t sequence);

    struct Hub;

private:
    std::shared_ptr<Hub> hub_;
};

}  // namespace vstor::adapter
