// A SCSI target device: its LUNs and the I_T nexuses opened to it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "scsi/nexus_state.hpp"

namespace vstor::scsi {

class LogicalUnit;

class Target {
public:
    Target(std::uint16_t id, std::string name) : id_(id), name_(std::move(name)) {}

    std::uint16_t id() const { return id_; }
    const std::string& name() const { return name_; }

    std::shared_ptr<LogicalUnit> find_lun(std::uint16_t lun) const;
    std::vector<std::uint16_t> lun_ids() const;
    std::vector<std::shared_ptr<LogicalUnit>> luns() const;
    bool insert_lun(std::uint16_t lun, std::shared_ptr<LogicalUnit> lu);
    std::shared_ptr<LogicalUnit> erase_lun(std::uint16_t lun);

    void attach(const std::shared_ptr<NexusState>& n);
    std::vector<std::shared_ptr<NexusState>> nexuses() const;

    // Establish a unit attention for LUN `lun` on every nexus except `except` (may be null).
    void broadcast_ua(std::uint16_t lun, const Sense& s, const NexusState* except = nullptr);
    // ... on every LUN of every nexus (REPORTED LUNS DATA HAS CHANGED goes to all LUNs).
    void broadcast_ua_all_luns(const Sense& s);

private:
    const std::uint16_t id_;
    const std::string name_;
    mutable std::mutex mu_;  // guards luns_ and nexuses_
    std::map<std::uint16_t, std::shared_ptr<LogicalUnit>> luns_;
    std::vector<std::weak_ptr<NexusState>> nexuses_;
};

}  // namespace vstor::scsi
