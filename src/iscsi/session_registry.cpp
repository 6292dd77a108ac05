#include "iscsi/session_registry.hpp"

#include <cstring>

#include "iscsi/login.hpp"
#include "iscsi/session.hpp"

namespace vstor::iscsi {

namespace {
bool same_port(const Session& s, const LoginIdentity& who) {
    return s.keys().initiator_name == who.initiator_name && std::memcmp(s.isid(), who.isid.data(), 6) == 0;
}
std::string target_name(const TargetConfig* t) { return t ? t->name : std::string(); }
}  // namespace

std::shared_ptr<Session> SessionRegistry::take_for_reinstatement(const LoginIdentity& who) {
    std::lock_guard lk(mu_);
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
        if (same_port(*it->second, who) && target_name(it->second->target()) == target_name(who.target)) {
            auto old = std::move(it->second);
            sessions_.erase(it);
            return old;
        }
    }
    return nullptr;
}

SessionRegistry::Join SessionRegistry::join(const LoginIdentity& who) const {
    auto session = find(who.tsih);
    if (!session || !same_port(*session, who)) return {nullptr, login_status::session_does_not_exist};
    if (session->connection_count() >= session->params().max_connections)
        return {nullptr, login_status::too_many_connections};
    return {std::move(session), login_status::success};
}

std::uint16_t SessionRegistry::allocate_tsih() {
    std::lock_guard lk(mu_);
    for (;;) {
        const std::uint16_t t = next_tsih_++;
        if (next_tsih_ == 0) next_tsih_ = 1;  // TSIH 0 is reserved for "new session"
        if (t != 0 && !sessions_.count(t)) return t;
    }
}

void SessionRegistry::add(const std::shared_ptr<Session>& s) {
    std::lock_guard lk(mu_);
    sessions_[s->tsih()] = s;
}

void SessionRegistry::remove(const Session* s) {
    std::lock_guard lk(mu_);
    auto it = sessions_.find(s->tsih());
    if (it != sessions_.end() && it->second.get() == s) sessions_.erase(it);
}

std::shared_ptr<Session> SessionRegistry::find(std::uint16_t tsih) const {
    std::lock_guard lk(mu_);
    auto it = sessions_.find(tsih);
    return it == sessions_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Session>> SessionRegistry::of_initiator(const std::string& name,
                                                                    const TargetConfig* target) const {
    std::lock_guard lk(mu_);
    std::vector<std::shared_ptr<Session>> v;
    for (const auto& [t, s] : sessions_)
        if (s->keys().initiator_name == name && target_name(s->target()) == target_name(target)) v.push_back(s);
    return v;
}

std::vector<std::shared_ptr<Session>> SessionRegistry::all() const {
    std::lock_guard lk(mu_);
    std::vector<std::shared_ptr<Session>> v;
    for (const auto& [t, s] : sessions_) v.push_back(s);
    return v;
}

}  // namespace vstor::iscsi
