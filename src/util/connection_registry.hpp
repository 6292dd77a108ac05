// The live connections of a server, held weakly (a connection owns itself through its pending
// asio operations), so that stop() and the control plane can reach each of them.
#pragma once

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

namespace vstor::util {

template <class Conn>
class ConnectionRegistry {
public:
    void add(const std::shared_ptr<Conn>& c) {
        std::lock_guard lk(mu_);
        std::erase_if(conns_, [](const auto& w) { return w.expired(); });
        conns_.push_back(c);
    }
    void remove(const Conn* c) {
        std::lock_guard lk(mu_);
        std::erase_if(conns_, [c](const auto& w) {
            auto s = w.lock();
            return !s || s.get() == c;
        });
    }
    // The connections alive now.
    std::vector<std::shared_ptr<Conn>> snapshot() const {
        std::vector<std::shared_ptr<Conn>> out;
        std::lock_guard lk(mu_);
        for (const auto& w : conns_)
            if (auto c = w.lock()) out.push_back(std::move(c));
        return out;
    }

private:
    mutable std::mutex mu_;  // guards conns_
    std::vector<std::weak_ptr<Conn>> conns_;
};

}  // namespace vstor::util
