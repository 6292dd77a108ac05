#include "adapter/lun_event_bus.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

namespace vstor {

struct LunSubscription::Handle {
    std::weak_ptr<adapter::LunEventBus::Hub> hub;
    std::uint64_t id;
};

namespace adapter {

struct LunEventBus::Hub {
    struct Subscriber {
        std::shared_ptr<LunEventCallback> callback;  // shared with the drainer while it runs
        std::uint64_t from_sequence;                 // gets the events from this sequence on
    };

    std::mutex mu;
    std::condition_variable cv;  // `delivered`, `running` or `draining` changed
    std::map<std::uint64_t, Subscriber> subscribers;  // by id, i.e. in subscription order
    std::uint64_t next_id = 1;
    std::deque<LunEvent> queue;  // posted, not yet handed out; in sequence order
    std::uint64_t next_sequence = 1;
    std::uint64_t delivered = 0;  // every event up to this sequence has been handed out
    bool draining = false;
    std::thread::id drainer;    // the thread handing events out while `draining`
    std::uint64_t running = 0;  // the subscriber whose callback runs now (0 = none)

    bool on_drainer() const { return draining && drainer == std::this_thread::get_id(); }
    void drain(std::unique_lock<std::mutex>& lk);
    void hand_out(std::unique_lock<std::mutex>& lk, const LunEvent& e);
    void unsubscribe(std::uint64_t id);
};

namespace {

void call(const LunEventCallback& callback, const LunEvent& e) {
    // A throwing subscriber must not take the bus (and the Adapter call under it) down with it.
    try {
        callback(e);
    } catch (const std::exception& x) {
        spdlog::error("LUN event {} of LUN {} (target {}): a subscriber threw: {}", to_string(e.change), e.lun,
                      e.target_name, x.what());
    } catch (...) {
        spdlog::error("LUN event {} of LUN {} (target {}): a subscriber threw", to_string(e.change), e.lun,
                      e.target_name);
    }
}

}  // namespace

void LunEventBus::Hub::drain(std::unique_lock<std::mutex>& lk) {
    draining = true;
    drainer = std::this_thread::get_id();
    while (!queue.empty()) {
        const LunEvent e = std::move(queue.front());
        queue.pop_front();
        hand_out(lk, e);
        delivered = e.sequence;
        cv.notify_all();
    }
    draining = false;
    drainer = {};
    cv.notify_all();
}

void LunEventBus::Hub::hand_out(std::unique_lock<std::mutex>& lk, const LunEvent& e) {
    // Subscribers may come and go while the lock is released: look the next one up by id each time.
    std::uint64_t id = 0;
    for (auto it = subscribers.begin(); it != subscribers.end(); it = subscribers.upper_bound(id)) {
        id = it->first;
        if (e.sequence < it->second.from_sequence) continue;
        auto callback = it->second.callback;
        running = id;
        lk.unlock();
        call(*callback, e);
        callback.reset();  // if unsubscribed meanwhile, the callback is destroyed here, unlocked
        lk.lock();
        running = 0;
        cv.notify_all();  // an unsubscriber may be waiting for this callback to end
    }
}

void LunEventBus::Hub::unsubscribe(std::uint64_t id) {
    std::shared_ptr<LunEventCallback> doomed;  // destroyed after the lock is released
    std::unique_lock lk(mu);
    if (auto it = subscribers.find(id); it != subscribers.end()) {
        doomed = std::move(it->second.callback);
        subscribers.erase(it);
    }
    // The drainer never waits: the callback running now is on its own stack (possibly this one's).
    if (!on_drainer()) cv.wait(lk, [&] { return running != id || !draining; });
    lk.unlock();
}

LunEventBus::LunEventBus() : hub_(std::make_shared<Hub>()) {}

LunEventBus::~LunEventBus() = default;

LunSubscription LunEventBus::subscribe(LunEventCallback callback) {
    std::lock_guard lk(hub_->mu);
    const auto id = hub_->next_id++;
    hub_->subscribers.emplace(
        id, Hub::Subscriber{std::make_shared<LunEventCallback>(std::move(callback)), hub_->next_sequence});
    return LunSubscription(std::make_unique<LunSubscription::Handle>(LunSubscription::Handle{hub_, id}));
}

std::uint64_t LunEventBus::post(LunEvent e) {
    std::lock_guard lk(hub_->mu);
    e.sequence = hub_->next_sequence++;
    hub_->queue.push_back(std::move(e));
    return hub_->next_sequence - 1;
}

void LunEventBus::deliver(std::uint64_t sequence) {
    std::unique_lock lk(hub_->mu);
    if (hub_->on_drainer()) return;  // a change made from a callback: the running drain delivers it
    hub_->cv.wait(lk, [&] { return hub_->delivered >= sequence || !hub_->draining; });
    if (hub_->delivered < sequence) hub_->drain(lk);
}

}  // namespace adapter

const char* to_string(LunChange c) {
    switch (c) {
        case LunChange::added: return "added";
        case LunChange::removed: return "removed";
        case LunChange::resized: return "resized";
        case LunChange::medium_changed: return "medium_changed";
    }
    return "unknown";
}

LunSubscription::LunSubscription() noexcept = default;

LunSubscription::LunSubscription(std::unique_ptr<Handle> handle) : handle_(std::move(handle)) {}

LunSubscription::~LunSubscription() { reset(); }

LunSubscription::LunSubscription(LunSubscription&& other) noexcept = default;

LunSubscription& LunSubscription::operator=(LunSubscription&& other) noexcept {
    if (this != &other) {
        reset();
        handle_ = std::move(other.handle_);
    }
    return *this;
}

void LunSubscription::reset() {
    const auto handle = std::move(handle_);
    if (!handle) return;
    if (auto hub = handle->hub.lock()) hub->unsubscribe(handle->id);
}

}  // namespace vstor
