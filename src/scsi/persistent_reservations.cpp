#include "scsi/persistent_reservations.hpp"

#include <algorithm>
#include <utility>

#include "scsi/command_table.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/nexus_state.hpp"
#include "scsi/target.hpp"
#include "util/endian.hpp"

namespace vstor::scsi {

namespace {
constexpr std::uint8_t kReserve6 = 0x16, kRelease6 = 0x17, kReserve10 = 0x56, kRelease10 = 0x57;
}  // namespace

Reservations::Reservations(std::string aptpl_path) : aptpl_path_(std::move(aptpl_path)) { load(); }

std::string Reservations::nexus_id(const Task& t) {
    if (!t.nexus) return {};
    return pr_nexus_id(t.nexus->initiator_port(), t.nexus->relative_port());
}

bool Reservations::conflicts(const Task& t) const {
    std::lock_guard lk(mu_);
    const auto op = t.cdb()[0];
    const auto flags = t.info->flags;
    if (legacy_holder_ && t.nexus && *legacy_holder_ != t.nexus->instance_key()) {
        // SPC-2 reservation: other initiators get only the commands that never conflict, and
        // RELEASE (which is then a no-op for them).
        if (op == kRelease6 || op == kRelease10) return false;
        return !(flags & cmd_flag::reservation_any) || op == 0x5e || op == 0x5f;
    }
    // No persistent reservation (the common case): nothing below conflicts, and the nexus id
    // (a string built per call) is not needed.
    if (!st_.holder) return false;
    const std::string me = nexus_id(t);
    // SPC-5 5.14.3: RESERVE/RELEASE conflict with an existing persistent reservation.
    if (op == kReserve6 || op == kReserve10 || op == kRelease6 || op == kRelease10) return !st_.holds(me);
    if (st_.holds(me)) return false;
    if (flags & cmd_flag::reservation_any) return false;
    const std::uint8_t type = st_.holder->type;
    // Registrants-only and all-registrants types give every registrant holder-like access.
    if (PrState::registrants_only(type) && st_.find(me)) return false;
    const bool write_exclusive = type == 1 || type == 5 || type == 7;
    if (write_exclusive && (flags & cmd_flag::reservation_read)) return false;
    return true;
}

void Reservations::nexus_lost(const std::string& instance_key) {
    std::lock_guard lk(mu_);
    if (legacy_holder_ && *legacy_holder_ == instance_key) legacy_holder_.reset();
}

std::optional<std::string> Reservations::holder() const {
    std::lock_guard lk(mu_);
    if (legacy_holder_) return *legacy_holder_;
    if (st_.holder) return st_.holder->nexus;
    return std::nullopt;
}

void Reservations::reset() {
    std::lock_guard lk(mu_);
    legacy_holder_.reset();
}

// ---- SPC-2 RESERVE / RELEASE ------------------------------------------------------------

Outcome Reservations::reserve(const TaskPtr& t) {
    auto& r = t->lu->reservations();
    const auto me = t->nexus->instance_key();
    bool conflict = false;
    {
        std::lock_guard lk(r.mu_);
        conflict = r.legacy_holder_ && *r.legacy_holder_ != me;
        if (!conflict) r.legacy_holder_ = me;
    }
    if (conflict) return Outcome::with_status(scsi_status::reservation_conflict);
    return Outcome::good();
}

Outcome Reservations::release(const TaskPtr& t) {
    auto& r = t->lu->reservations();
    {
        std::lock_guard lk(r.mu_);
        if (r.legacy_holder_ && *r.legacy_holder_ == t->nexus->instance_key()) r.legacy_holder_.reset();
    }
    return Outcome::good();  // releasing a reservation one does not hold is not an error
}

// ---- PERSISTENT RESERVE IN ----------------------------------------------------------------

Outcome Reservations::pr_in(const TaskPtr& t) {
    auto& r = t->lu->reservations();
    const std::uint8_t sa = t->cdb()[1] & 0x1f;
    const std::uint16_t alloc = util::load_be16(t->cdb() + 7);
    if (sa > 0x03) return Outcome::check(sense::invalid_field_in_cdb(1, 4));
    std::vector<std::uint8_t> d;
    {
        std::lock_guard lk(r.mu_);
        r.pr_in_locked(sa, d);
    }
    d.resize(std::min<std::size_t>(d.size(), alloc));
    return reply_data(*t, d);
}

void Reservations::pr_in_locked(std::uint8_t sa, std::vector<std::uint8_t>& d) const {
    switch (sa) {
        case 0x00: {  // READ KEYS
            d.resize(8, 0);
            util::store_be32(&d[0], st_.generation);
            for (const auto& reg : st_.regs) {
                d.resize(d.size() + 8);
                util::store_be64(&d[d.size() - 8], reg.key);
            }
            util::store_be32(&d[4], static_cast<std::uint32_t>(d.size() - 8));
            break;
        }
        case 0x01: {  // READ RESERVATION
            d.resize(8, 0);
            util::store_be32(&d[0], st_.generation);
            if (st_.holder) {
                d.resize(24, 0);
                std::uint64_t key = 0;
                if (!PrState::all_registrants(st_.holder->type))
                    if (const auto* reg = st_.find(st_.holder->nexus)) key = reg->key;
                util::store_be64(&d[8], key);
                d[21] = st_.holder->type;  // scope 0 (LU_SCOPE)
                util::store_be32(&d[4], 16);
            }
            break;
        }
        case 0x02: {  // REPORT CAPABILITIES
            d.resize(8, 0);
            util::store_be16(&d[0], 8);
            d[2] = can_persist() ? 0x01 : 0;  // PTPL_C: persist through power loss
            d[3] = 0x80 | (st_.aptpl ? 0x01 : 0);  // TMV: the type mask is valid; PTPL_A
            d[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;  // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
            d[5] = 0x01;                             // EX_AC_AR
            break;
        }
        case 0x03: {  // READ FULL STATUS
            d.resize(8, 0);
            util::store_be32(&d[0], st_.generation);
            for (const auto& reg : st_.regs) {
                // TransportID for iSCSI (SPC-5 7.6.4.6), format 01b: "name,i,0xISID".
                std::vector<std::uint8_t> tid(4, 0);
                tid[0] = 0x40 | 0x05;
                tid.insert(tid.end(), reg.initiator_port.begin(), reg.initiator_port.end());
                tid.push_back(0);
                while (tid.size() % 4) tid.push_back(0);
                util::store_be16(&tid[2], static_cast<std::uint16_t>(tid.size() - 4));
                const std::size_t at = d.size();
                d.resize(at + 24, 0);
                util::store_be64(&d[at], reg.key);
                const bool holder = st_.holds(reg.nexus);
                d[at + 12] = holder ? 0x01 : 0;
                d[at + 13] = holder ? st_.holder->type : 0;
                util::store_be16(&d[at + 18], reg.relative_port);
                util::store_be32(&d[at + 20], static_cast<std::uint32_t>(tid.size()));
                d.insert(d.end(), tid.begin(), tid.end());
            }
            util::store_be32(&d[4], static_cast<std::uint32_t>(d.size() - 8));
            break;
        }
    }
}

}  // namespace vstor::scsi
