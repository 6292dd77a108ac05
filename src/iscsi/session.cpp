#include "iscsi/session.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "iscsi/connection.hpp"

namespace vstor::iscsi {

Session::Session(std::uint16_t tsih, const std::uint8_t* isid, LoginKeys keys, TargetPtr target,
                 SessionParams params, std::shared_ptr<Nexus> nexus, std::uint32_t exp_cmdsn,
                 std::shared_ptr<util::WriteBudget::Account> writes)
    : tsih_(tsih),
      keys_(std::move(keys)),
      target_(std::move(target)),
      params_(params),
      nexus_(std::move(nexus)),
      exp_cmdsn_(exp_cmdsn),
      // The login responses already offered a full window (login.cpp).
      advertised_max_(exp_cmdsn + TargetLimits::cmd_window - 1),
      writes_(std::move(writes)) {
    std::memcpy(isid_, isid, 6);
}

std::string Session::isid_hex() const {
    return fmt::format("{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}", isid_[0], isid_[1], isid_[2], isid_[3], isid_[4],
                       isid_[5]);
}

bool Session::accept_cmdsn(std::uint32_t cmdsn, bool immediate) {
    std::lock_guard lk(mu_);
    if (immediate) return true;
    if (sn_lt(cmdsn, exp_cmdsn_) || sn_lt(advertised_max_, cmdsn)) return false;
    if (cmdsn != exp_cmdsn_) {
        if (!ahead_.insert(cmdsn).second) return false;  // duplicate
        return true;
    }
    ++exp_cmdsn_;
    while (!ahead_.empty() && ahead_.count(exp_cmdsn_)) {
        ahead_.erase(exp_cmdsn_);
        ++exp_cmdsn_;
    }
    return true;
}

std::uint32_t Session::exp_cmdsn() const {
    std::lock_guard lk(mu_);
    return exp_cmdsn_;
}

std::uint32_t Session::window_end() const {
    std::lock_guard lk(mu_);
    return advertised_max_;
}

std::uint32_t Session::unsolicited_per_command() const {
    if (!params_.initial_r2t) return params_.first_burst_length;
    if (!params_.immediate_data) return 0;
    return std::min(params_.first_burst_length, params_.max_recv_data_segment_length_target);
}

std::uint32_t Session::max_cmdsn() const {
    std::lock_guard lk(mu_);
    // Queue-depth flow control: the window shrinks while commands are outstanding.
    std::uint32_t room = in_flight_ >= TargetLimits::cmd_window ? 0 : TargetLimits::cmd_window - in_flight_;
    if (writes_) {
        std::uint32_t budget_room = writes_->room_for(unsolicited_per_command());
        // A session with nothing outstanding may always send one command: no PDU would come to
        // tell its initiator when the window opens again.
        if (budget_room == 0 && in_flight_ == 0 && writes_->idle()) budget_room = 1;
        room = std::min(room, budget_room);
    }
    // Initiators ignore a MaxCmdSN lower than one they have seen (RFC 7143 4.2.2.1): keep the highest.
    const std::uint32_t max = exp_cmdsn_ + room - 1;
    if (sn_lt(advertised_max_, max)) advertised_max_ = max;
    return advertised_max_;
}

void Session::task_started() {
    std::lock_guard lk(mu_);
    ++in_flight_;
}

void Session::task_finished() {
    std::lock_guard lk(mu_);
    if (in_flight_) --in_flight_;
}

void Session::add_connection(const std::shared_ptr<Connection>& c) {
    std::lock_guard lk(mu_);
    connections_.push_back(c);
}

void Session::remove_connection(const Connection* c) {
    std::lock_guard lk(mu_);
    std::erase_if(connections_, [c](const auto& w) {
        auto s = w.lock();
        return !s || s.get() == c;
    });
}

std::vector<std::shared_ptr<Connection>> Session::connections() const {
    std::lock_guard lk(mu_);
    std::vector<std::shared_ptr<Connection>> v;
    for (const auto& w : connections_)
        if (auto s = w.lock()) v.push_back(std::move(s));
    return v;
}

std::size_t Session::connection_count() const { return connections().size(); }

bool Session::lun_visible(std::uint16_t lun) const {
    if (!target_) return false;
    const auto visible = target_->visible_luns(keys_.initiator_name);
    return !visible || std::find(visible->begin(), visible->end(), lun) != visible->end();
}

}  // namespace vstor::iscsi
