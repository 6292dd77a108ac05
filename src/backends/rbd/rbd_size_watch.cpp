#include "backends/rbd/rbd_size_watch.hpp"

#include <spdlog/spdlog.h>

#include <cstring>
#include <utility>

#include "backends/rbd/rbd_lock_watch.hpp"

namespace vstor::backends {

RbdSizeWatch::RbdSizeWatch(rbd_image_t image, std::string what, std::function<void(std::uint64_t)> seen,
                           std::shared_ptr<const void> keep, RbdSizeGate* gate)
    : st_(std::make_shared<State>()) {
    st_->image = image;
    st_->what = std::move(what);
    st_->seen = std::move(seen);
    st_->keep = std::move(keep);
    st_->gate = gate;
    // Local to the image (no OSD asked): the callback's argument lives as long as the thread,
    // which unregisters it before it lets go of the state.
    if (int r = rbd_update_watch(image, &st_->handle, on_update, st_.get()); r < 0) {
        spdlog::warn("{}: cannot watch the image for resizes by other clients ({}): this gateway sees a new size "
                     "only when it reconnects",
                     st_->what, std::strerror(-r));
        return;
    }
    if (gate) gate->changed();  // the first read covers any change before the registration
    thread_ = util::BoundedThread([st = st_] { run(st); });
}

RbdSizeWatch::~RbdSizeWatch() {
    if (!thread_.started()) return;
    {
        std::lock_guard life(st_->life_mu);  // waits for a `seen` in flight; none starts after
        st_->life_stop = true;
    }
    {
        std::lock_guard lk(st_->mu);
        st_->stop = true;
    }
    st_->cv.notify_all();
    if (st_->gate) st_->gate->close();  // completions waiting for a read need not wait for a hung one
    if (!thread_.join_for(RbdLockWatch::kStopWait))
        spdlog::warn("{}: a read of the image's size has not returned after {} ms: its thread is left to finish by "
                     "itself, the connection stays open until it does",
                     st_->what, RbdLockWatch::kStopWait.count());
}

void RbdSizeWatch::on_update(void* arg) {
    auto* st = static_cast<State*>(arg);
    if (st->gate) st->gate->changed();  // before the wake-up: the read that follows covers it
    {
        std::lock_guard lk(st->mu);
        st->pending = true;
    }
    st->cv.notify_all();
}

void RbdSizeWatch::run(const std::shared_ptr<State>& st) {
    for (;;) {
        std::uint64_t upto = 0;  // the gate's changes this read covers
        {
            std::unique_lock lk(st->mu);
            st->cv.wait(lk, [&] { return st->pending || st->stop; });
            if (st->stop) break;
            st->pending = false;
            if (st->gate) upto = st->gate->changes();
        }
        std::uint64_t size = 0;
        const int r = rbd_get_size(st->image, &size);  // refreshes from the header: may ask an OSD
        std::lock_guard life(st->life_mu);
        if (st->life_stop) break;
        if (r == 0) st->seen(size);
        if (st->gate && r == 0) st->gate->read(upto, size);
        else if (st->gate) st->gate->read_failed(upto);
    }
    if (st->gate) st->gate->close();
    rbd_update_unwatch(st->image, st->handle);  // waits for a callback in flight (it never blocks)
}

}  // namespace vstor::backends
