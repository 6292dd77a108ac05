#include "scsi/logical_unit.hpp"

#include <fmt/format.h>

#include "scsi/persistent_reservations.hpp"
#include "scsi/target.hpp"
#include "scsi/task_set.hpp"

namespace vstor::scsi {

LogicalUnit::LogicalUnit(Target* target, std::uint16_t lun, std::shared_ptr<Backend> backend,
                         LunOptions opts)
    : target_(target),
      lun_(lun),
      backend_(std::move(backend)),
      opts_(std::move(opts)),
      admin_read_only_(opts_.read_only),
      block_size_(backend_->block_size()),
      block_count_(backend_->block_count()),
      reservations_(std::make_unique<Reservations>(opts_.pr_state_path)),
      task_set_(std::make_unique<TaskSet>()) {
    mode_.wce = backend_->caps().write_cache;
}

LogicalUnit::~LogicalUnit() = default;

bool LogicalUnit::read_only() const {
    return admin_read_only_.load(std::memory_order_acquire) || backend_->caps().read_only || mode().swp;
}

ModeState LogicalUnit::mode() const {
    std::lock_guard lk(mode_mu_);
    return mode_;
}

void LogicalUnit::set_mode(const ModeState& m) {
    std::lock_guard lk(mode_mu_);
    mode_ = m;
}

void LogicalUnit::set_prevent(const std::string& initiator_port, bool prevent) {
    std::lock_guard lk(prevent_mu_);
    std::erase(preventers_, initiator_port);
    if (prevent) preventers_.push_back(initiator_port);
}

bool LogicalUnit::removal_prevented() const {
    std::lock_guard lk(prevent_mu_);
    return !preventers_.empty();
}

void LogicalUnit::clear_prevent(const std::string* initiator_port) {
    std::lock_guard lk(prevent_mu_);
    if (initiator_port)
        std::erase(preventers_, *initiator_port);
    else
        preventers_.clear();
}

std::string LogicalUnit::serial() const {
    if (!opts_.serial.empty()) return opts_.serial;
    // Stable across restarts for the same target name and LUN.
    std::uint32_t h = 2166136261u;
    for (unsigned char c : target_->name()) h = (h ^ c) * 16777619u;
    return fmt::format("{:08x}{:04x}", h, lun_);
}

// NAA IEEE Registered (type 5) from a hash of target name and LUN: stable across restarts.
std::uint64_t LogicalUnit::naa_id() const {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : target_->name()) h = (h ^ c) * 1099511628211ull;
    h = (h ^ lun_) * 1099511628211ull;
    // NAA 5, IEEE company id 0x001405 (used here as a locally-assigned example OUI), vendor part.
    return (0x5ull << 60) | (0x001405ull << 36) | (h & 0xfffffffffull);
}

std::string LogicalUnit::product() const {
    if (!opts_.product.empty()) return opts_.product;
    return "VIRTUAL-DISK";
}

}  // namespace vstor::scsi
