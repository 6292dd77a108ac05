// Per-I_T-nexus state kept by the engine: pending unit attentions per LUN.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "scsi/sense.hpp"
#include "vstor/adapter.hpp"

namespace vstor::scsi {

class NexusState final : public Nexus {
public:
    NexusState(std::string initiator_port, std::uint16_t target_id, std::uint16_t rel_port,
               std::uint64_t id, std::optional<std::vector<std::uint16_t>> visible_luns = std::nullopt,
               std::uint16_t port_group = 1)
        : initiator_port_(std::move(initiator_port)),
          target_id_(target_id),
          rel_port_(rel_port),
          port_group_(port_group),
          id_(id),
          visible_(std::move(visible_luns)) {}

    const std::string& initiator_port() const override { return initiator_port_; }
    std::uint16_t target_id() const override { return target_id_; }
    std::uint16_t relative_port() const override { return rel_port_; }
    std::uint64_t id() const { return id_; }
    // ALUA target port group of the target port (Adapter::set_target_port_group).
    std::uint16_t port_group() const { return port_group_; }
    // LUN masking: may this nexus see and address `lun`?
    bool sees(std::uint16_t lun) const {
        return !visible_ || std::find(visible_->begin(), visible_->end(), lun) != visible_->end();
    }
    // Names this nexus instance: a new session from the same initiator port is a new instance,
    // so state tied to the old one (SPC-2 reservation, PREVENT) cannot leak into it.
    std::string instance_key() const { return initiator_port_ + "#" + std::to_string(id_); }

    // SAM-5 5.14: unit attentions are queued per LUN; a new one replaces a duplicate.
    void add_ua(std::uint16_t lun, const Sense& s);
    std::optional<Sense> take_ua(std::uint16_t lun);
    std::optional<Sense> peek_ua(std::uint16_t lun) const;
    void clear_ua(std::uint16_t lun);

private:
    const std::string initiator_port_;
    const std::uint16_t target_id_;
    const std::uint16_t rel_port_;
    const std::uint16_t port_group_;
    const std::uint64_t id_;
    const std::optional<std::vector<std::uint16_t>> visible_;
    mutable std::mutex mu_;  // guards ua_
    std::map<std::uint16_t, std::deque<Sense>> ua_;
};

}  // namespace vstor::scsi
