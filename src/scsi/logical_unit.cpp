#include "scsi/logical_unit.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "scsi/sbc.hpp"

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
    resolve_identity();
}

// LunOptions win, then the backend's own identity, then vstor's defaults (SPC-5 6.7.2: the
// product names the kind of device, so the default says which backend serves it).
void LogicalUnit::resolve_identity() {
    const BackendIdentity id = backend_->identity();
    auto pick = [](const std::string& opt, const std::string& own, std::string fallback) {
        return !opt.empty() ? opt : !own.empty() ? own : fallback;
    };
    std::string kind_product = backend_->kind() + "-DISK";
    std::transform(kind_product.begin(), kind_product.end(), kind_product.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    vendor_ = pick(opts_.vendor, id.vendor, "VSTOR");
    product_ = pick(opts_.product, id.product, kind_product);
    // Stable across restarts for the same target name and LUN.
    std::uint32_t h = 2166136261u;
    for (unsigned char c : target_->name()) h = (h ^ c) * 16777619u;
    serial_ = pick(opts_.serial, id.serial, fmt::format("{:08x}{:04x}", h, lun_));
    rotation_rate_ = id.rotation_rate.value_or(1);
    const std::uint32_t max_blocks = limits::kMaxTransferBytes / block_size_;
    optimal_transfer_blocks_ = std::min(id.optimal_transfer_blocks.value_or(limits::kOptimalTransferBytes / block_size_),
                                        max_blocks);
    if (optimal_transfer_blocks_ == 0) optimal_transfer_blocks_ = limits::kOptimalTransferBytes / block_size_;
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

// NAA IEEE Registered (type 5) from a hash of target name and LUN: stable across restarts.
std::uint64_t LogicalUnit::naa_id() const {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : target_->name()) h = (h ^ c) * 1099511628211ull;
    h = (h ^ lun_) * 1099511628211ull;
    // NAA 5, IEEE company id 0x001405 (used here as a locally-assigned example OUI), vendor part.
    return (0x5ull << 60) | (0x001405ull << 36) | (h & 0xfffffffffull);
}

}  // namespace vstor::scsi
