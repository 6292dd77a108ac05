#include "scsi/logical_unit.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "scsi/sbc.hpp"

#include "scsi/lun_alua.hpp"
#include "scsi/persistent_reservations.hpp"
#include "scsi/target.hpp"
#include "scsi/task_set.hpp"
#include "vstor/shared_lun.hpp"

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
    hot_mode_.store(hot_bits(mode_), std::memory_order_release);
    resolve_identity();
    // A shared LUN has ALUA: its state follows the backend's from here on; and its persistent
    // reservations live where every gateway sees them, if it says where.
    auto* shared = dynamic_cast<SharedLun*>(backend_.get());
    if (shared && !shared->unit_id().empty()) {
        alua_ = std::make_unique<LunAlua>(*this, *shared);
        if (auto store = shared->reservation_store()) reservations_->share(*this, std::move(store));
    }
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
    // A shared LUN (vstor/shared_lun.hpp) is the same logical unit on every gateway that serves
    // its data: both designators come from the data's own id. Otherwise they are stable across
    // restarts for the same target name and LUN.
    const auto* shared = dynamic_cast<const SharedLun*>(backend_.get());
    const std::string unit_id = shared ? shared->unit_id() : std::string();
    naa_ = unit_id.empty() ? naa_from(target_->name(), lun_) : naa_from(unit_id, std::nullopt);
    std::uint32_t h = 2166136261u;
    for (unsigned char c : target_->name()) h = (h ^ c) * 16777619u;
    const std::string own_serial =
        unit_id.empty() ? fmt::format("{:08x}{:04x}", h, lun_) : fmt::format("{:016x}", naa_ & 0xfffffffffull);
    serial_ = pick(opts_.serial, id.serial, own_serial);
    rotation_rate_ = id.rotation_rate.value_or(1);
    const std::uint32_t max_blocks = limits::kMaxTransferBytes / block_size_;
    optimal_transfer_blocks_ = std::min(id.optimal_transfer_blocks.value_or(limits::kOptimalTransferBytes / block_size_),
                                        max_blocks);
    if (optimal_transfer_blocks_ == 0) optimal_transfer_blocks_ = limits::kOptimalTransferBytes / block_size_;
}

LogicalUnit::~LogicalUnit() {
    // First: the backend stops calling this LU.
    alua_.reset();
    reservations_->stop_sharing();
}

void LogicalUnit::capacity_changed() {
    refresh_capacity();
    target_->broadcast_ua(lun_, sense::ua_capacity_changed());
}

void LogicalUnit::set_resize_hook(std::function<void(LogicalUnit&)> hook) {
    std::lock_guard lk(resize_hook_mu_);
    resize_hook_ = std::move(hook);
}

void LogicalUnit::resized_elsewhere() {
    std::lock_guard lk(resize_hook_mu_);
    if (resize_hook_) return resize_hook_(*this);
    if (backend_->block_count() != block_count()) capacity_changed();
}

bool LogicalUnit::read_only() const {
    return admin_read_only_.load(std::memory_order_acquire) || backend_->caps().read_only ||
           (hot_mode_.load(std::memory_order_acquire) & kHotSwp);
}

std::uint8_t LogicalUnit::hot_bits(const ModeState& m) {
    return static_cast<std::uint8_t>((m.wce ? kHotWce : 0) | (m.swp ? kHotSwp : 0) | (m.d_sense ? kHotDSense : 0));
}

ModeState LogicalUnit::mode() const {
    std::lock_guard lk(mode_mu_);
    return mode_;
}

void LogicalUnit::set_mode(const ModeState& m) {
    std::lock_guard lk(mode_mu_);
    mode_ = m;
    hot_mode_.store(hot_bits(m), std::memory_order_release);
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

// NAA IEEE Registered (type 5) from a hash of the target name and LUN (or of a shared LUN's
// unit id alone): stable across restarts.
std::uint64_t LogicalUnit::naa_from(const std::string& name, std::optional<std::uint16_t> lun) {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
    if (lun) h = (h ^ *lun) * 1099511628211ull;
    // NAA 5, IEEE company id 0x001405 (used here as a locally-assigned example OUI), vendor part.
    return (0x5ull << 60) | (0x001405ull << 36) | (h & 0xfffffffffull);
}

}  // namespace vstor::scsi
