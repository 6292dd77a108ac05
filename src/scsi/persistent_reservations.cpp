#include "scsi/persistent_reservations.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "scsi/command_table.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/nexus_state.hpp"
#include "scsi/target.hpp"
#include "util/durable_file.hpp"
#include "util/endian.hpp"

namespace vstor::scsi {

namespace {
constexpr std::uint8_t kReserve6 = 0x16, kRelease6 = 0x17, kReserve10 = 0x56, kRelease10 = 0x57;

bool valid_type(std::uint8_t type) { return type == 1 || type == 3 || (type >= 5 && type <= 8); }

// Unit attention to every nexus of the LU whose I_T nexus id is in `ids`.
void ua_to(LogicalUnit& lu, const std::vector<std::string>& ids, const Sense& s) {
    for (const auto& n : lu.target().nexuses()) {
        const std::string id = n->initiator_port() + "," + std::to_string(n->relative_port());
        if (std::find(ids.begin(), ids.end(), id) != ids.end()) n->add_ua(lu.lun(), s);
    }
}
}  // namespace

Reservations::Reservations(std::string aptpl_path) : aptpl_path_(std::move(aptpl_path)) { load(); }

std::string Reservations::nexus_id(const Task& t) {
    if (!t.nexus) return {};
    return t.nexus->initiator_port() + "," + std::to_string(t.nexus->relative_port());
}

const Reservations::Registration* Reservations::find(const std::string& nexus) const {
    for (const auto& r : regs_)
        if (r.nexus == nexus) return &r;
    return nullptr;
}

bool Reservations::holds(const std::string& nexus) const {
    if (!holder_) return false;
    if (all_registrants(holder_->type)) return find(nexus) != nullptr;
    return holder_->nexus == nexus;
}

bool Reservations::conflicts(const Task& t) const {
    std::lock_guard lk(mu_);
    const auto op = t.cdb()[0];
    const auto flags = t.info->flags;
    const std::string me = nexus_id(t);
    if (legacy_holder_ && t.nexus && *legacy_holder_ != t.nexus->instance_key()) {
        // SPC-2 reservation: other initiators get only the commands that never conflict, and
        // RELEASE (which is then a no-op for them).
        if (op == kRelease6 || op == kRelease10) return false;
        return !(flags & cmd_flag::reservation_any) || op == 0x5e || op == 0x5f;
    }
    if (op == kReserve6 || op == kReserve10 || op == kRelease6 || op == kRelease10) {
        // SPC-5 5.14.3: RESERVE/RELEASE conflict with an existing persistent reservation.
        return holder_.has_value() && !holds(me);
    }
    if (!holder_ || holds(me)) return false;
    if (flags & cmd_flag::reservation_any) return false;
    const std::uint8_t type = holder_->type;
    // Registrants-only and all-registrants types give every registrant holder-like access.
    if (registrants_only(type) && find(me)) return false;
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
    if (holder_) return holder_->nexus;
    return std::nullopt;
}

void Reservations::reset() {
    std::lock_guard lk(mu_);
    legacy_holder_.reset();
}

// ---- SPC-2 RESERVE / RELEASE ------------------------------------------------------------

void Reservations::reserve(const TaskPtr& t) {
    auto& r = t->lu->reservations();
    std::lock_guard lk(r.mu_);
    const auto me = t->nexus->instance_key();
    if (r.legacy_holder_ && *r.legacy_holder_ != me) return t->complete_status(scsi_status::reservation_conflict);
    r.legacy_holder_ = me;
    t->complete_good();
}

void Reservations::release(const TaskPtr& t) {
    auto& r = t->lu->reservations();
    std::lock_guard lk(r.mu_);
    if (r.legacy_holder_ && *r.legacy_holder_ == t->nexus->instance_key()) r.legacy_holder_.reset();
    t->complete_good();  // releasing a reservation one does not hold is not an error
}

// ---- PERSISTENT RESERVE IN ----------------------------------------------------------------

void Reservations::pr_in(const TaskPtr& t) {
    auto& r = t->lu->reservations();
    const std::uint8_t sa = t->cdb()[1] & 0x1f;
    const std::uint16_t alloc = util::load_be16(t->cdb() + 7);
    std::vector<std::uint8_t> d;
    std::lock_guard lk(r.mu_);
    switch (sa) {
        case 0x00: {  // READ KEYS
            d.resize(8, 0);
            util::store_be32(&d[0], r.generation_);
            for (const auto& reg : r.regs_) {
                d.resize(d.size() + 8);
                util::store_be64(&d[d.size() - 8], reg.key);
            }
            util::store_be32(&d[4], static_cast<std::uint32_t>(d.size() - 8));
            break;
        }
        case 0x01: {  // READ RESERVATION
            d.resize(8, 0);
            util::store_be32(&d[0], r.generation_);
            if (r.holder_) {
                d.resize(24, 0);
                std::uint64_t key = 0;
                if (!all_registrants(r.holder_->type))
                    if (const auto* reg = r.find(r.holder_->nexus)) key = reg->key;
                util::store_be64(&d[8], key);
                d[21] = r.holder_->type;  // scope 0 (LU_SCOPE)
                util::store_be32(&d[4], 16);
            }
            break;
        }
        case 0x02: {  // REPORT CAPABILITIES
            d.resize(8, 0);
            util::store_be16(&d[0], 8);
            d[2] = 0x01 | (r.aptpl_path_.empty() ? 0 : 0x00);  // PTPL_C: persist through power loss
            if (r.aptpl_path_.empty()) d[2] = 0;
            d[3] = 0x80 | (r.aptpl_ ? 0x01 : 0);  // TMV: the type mask is valid; PTPL_A
            d[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;  // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
            d[5] = 0x01;                             // EX_AC_AR
            break;
        }
        case 0x03: {  // READ FULL STATUS
            d.resize(8, 0);
            util::store_be32(&d[0], r.generation_);
            for (const auto& reg : r.regs_) {
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
                const bool holder = r.holders_nexus(reg.nexus);
                d[at + 12] = holder ? 0x01 : 0;
                d[at + 13] = holder ? r.holder_->type : 0;
                util::store_be16(&d[at + 18], reg.relative_port);
                util::store_be32(&d[at + 20], static_cast<std::uint32_t>(tid.size()));
                d.insert(d.end(), tid.begin(), tid.end());
            }
            util::store_be32(&d[4], static_cast<std::uint32_t>(d.size() - 8));
            break;
        }
        default:
            return t->complete_sense(sense::invalid_field_in_cdb(1, 4));
    }
    d.resize(std::min<std::size_t>(d.size(), alloc));
    t->complete_with(d);
}

// ---- PERSISTENT RESERVE OUT ---------------------------------------------------------------

void Reservations::pr_out(const TaskPtr& t) {
    auto& r = t->lu->reservations();
    const std::uint8_t* cdb = t->cdb();
    const std::uint8_t sa = cdb[1] & 0x1f;
    const std::uint8_t scope = cdb[2] >> 4;
    const std::uint8_t type = cdb[2] & 0x0f;
    const std::uint32_t len = util::load_be32(cdb + 5);
    if (sa > 7) return t->complete_sense(sense::invalid_field_in_cdb(1, 4));
    if (sa == 7) return t->complete_sense(sense::invalid_field_in_cdb(1, 4));  // REGISTER AND MOVE: not offered
    if (len != 24 || t->cmd.data.size() < 24) return t->complete_sense(sense::param_list_length_error());
    const auto* p = reinterpret_cast<const std::uint8_t*>(t->cmd.data.data());
    const std::uint64_t key = util::load_be64(p);
    const std::uint64_t sa_key = util::load_be64(p + 8);
    if (p[20] & 0x08) return t->complete_sense(sense::invalid_field_in_param(20, 3));  // SPEC_I_PT not offered
    const bool all_tg_pt = p[20] & 0x04;
    const bool aptpl = p[20] & 0x01;
    if (aptpl && r.aptpl_path_.empty()) return t->complete_sense(sense::invalid_field_in_param(20, 0));
    std::lock_guard lk(r.mu_);
    r.pr_out_locked(t, sa, scope, type, key, sa_key, aptpl, all_tg_pt);
}

void Reservations::pr_out_locked(const TaskPtr& t, std::uint8_t sa, std::uint8_t scope, std::uint8_t type,
                                 std::uint64_t key, std::uint64_t sa_key, bool aptpl, bool all_tg_pt) {
    (void)all_tg_pt;  // one target port per target: ALL_TG_PT and per-port registration coincide
    LogicalUnit& lu = *t->lu;
    const std::string me = nexus_id(*t);
    auto* mine = const_cast<Registration*>(find(me));
    auto conflict = [&] { t->complete_status(scsi_status::reservation_conflict); };
    auto done = [&] {
        save_locked();
        t->complete_good(24);
    };
    if (sa == 0 || sa == 6) {  // REGISTER / REGISTER AND IGNORE EXISTING KEY
        if (!mine) {
            if (sa == 0 && key != 0) return conflict();
            if (sa_key != 0) {
                regs_.push_back(Registration{me, t->nexus->initiator_port(), t->nexus->relative_port(), sa_key});
                ++generation_;
            }
            aptpl_ = aptpl;
            return done();
        }
        if (sa == 0 && key != mine->key) return conflict();
        if (sa_key == 0) {  // unregister
            const bool was_holder = holds(me);
            std::erase_if(regs_, [&](const Registration& r) { return r.nexus == me; });
            if (was_holder && holder_) {
                if (!all_registrants(holder_->type) || regs_.empty()) {
                    const auto old_type = holder_->type;
                    holder_.reset();
                    // SPC-5 5.14.11.2.2: registrants-only types tell the others it was released.
                    if (registrants_only(old_type)) {
                        std::vector<std::string> others;
                        for (const auto& r : regs_) others.push_back(r.nexus);
                        ua_to(lu, others, sense::ua_reservations_released());
                    }
                }
            }
        } else {
            mine->key = sa_key;
        }
        ++generation_;
        aptpl_ = aptpl;
        return done();
    }
    if (!mine || mine->key != key) return conflict();
    switch (sa) {
        case 1: {  // RESERVE
            if (scope != 0) return t->complete_sense(sense::invalid_field_in_cdb(2, 7));
            if (!valid_type(type)) return t->complete_sense(sense::invalid_field_in_cdb(2, 3));
            if (holder_) {
                if (holds(me) && holder_->type == type) return done();
                return conflict();
            }
            holder_ = Holder{all_registrants(type) ? std::string() : me, type};
            return done();
        }
        case 2: {  // RELEASE
            if (!holder_ || !holds(me)) return done();
            if (scope != 0 || holder_->type != type)
                return t->complete_sense(sense::invalid_release_of_persistent_reservation());
            const auto old_type = holder_->type;
            holder_.reset();
            if (old_type != write_exclusive && old_type != exclusive_access) {
                std::vector<std::string> others;
                for (const auto& r : regs_)
                    if (r.nexus != me) others.push_back(r.nexus);
                ua_to(lu, others, sense::ua_reservations_released());
            }
            return done();
        }
        case 3: {  // CLEAR
            std::vector<std::string> others;
            for (const auto& r : regs_)
                if (r.nexus != me) others.push_back(r.nexus);
            regs_.clear();
            holder_.reset();
            ++generation_;
            ua_to(lu, others, sense::ua_reservations_preempted());
            return done();
        }
        case 4:
        case 5: {  // PREEMPT / PREEMPT AND ABORT
            std::vector<std::string> removed;
            auto remove_key = [&](std::uint64_t k, bool all_but_me) {
                std::erase_if(regs_, [&](const Registration& r) {
                    const bool hit = all_but_me ? r.nexus != me : r.key == k;
                    if (hit && r.nexus != me) removed.push_back(r.nexus);
                    return hit && r.nexus != me;
                });
            };
            if (holder_ && all_registrants(holder_->type) && sa_key == 0) {
                // Preempting an all-registrants reservation with key 0 removes every other
                // registrant and makes this nexus the holder (SPC-5 5.14.11.4.4).
                remove_key(0, true);
                holder_ = Holder{all_registrants(type) ? std::string() : me, type};
            } else {
                if (sa_key == 0) return t->complete_sense(sense::invalid_field_in_param(8, 7));
                const bool preempts_holder = holder_ && !all_registrants(holder_->type) &&
                                             find(holder_->nexus) && find(holder_->nexus)->key == sa_key;
                const bool any = std::any_of(regs_.begin(), regs_.end(),
                                             [&](const Registration& r) { return r.key == sa_key; });
                if (!any) return conflict();
                if (preempts_holder) {
                    if (!valid_type(type)) return t->complete_sense(sense::invalid_field_in_cdb(2, 3));
                    if (scope != 0) return t->complete_sense(sense::invalid_field_in_cdb(2, 7));
                }
                remove_key(sa_key, false);
                if (preempts_holder) holder_ = Holder{all_registrants(type) ? std::string() : me, type};
            }
            ++generation_;
            ua_to(lu, removed, sense::ua_registrations_preempted());
            return done();
        }
        default:
            return t->complete_sense(sense::invalid_field_in_cdb(1, 4));
    }
}

// ---- APTPL state file ----------------------------------------------------------------------

// Format: "generation N", "holder TYPE NEXUS", then "reg KEY REL_PORT INITIATOR_PORT" lines.
void Reservations::save_locked() const {
    if (aptpl_path_.empty()) return;
    if (!aptpl_) {
        std::error_code ec;
        std::filesystem::remove(aptpl_path_, ec);
        return;
    }
    std::ostringstream out;
    out << "generation " << generation_ << "\n";
    if (holder_) out << "holder " << int(holder_->type) << " " << (holder_->nexus.empty() ? "-" : holder_->nexus) << "\n";
    for (const auto& r : regs_) out << "reg " << r.key << " " << r.relative_port << " " << r.initiator_port << "\n";
    // A temporary file made durable, then renamed over the old state (atomic replace).
    std::string error;
    util::write_file_atomically(aptpl_path_, out.str(), error);
}

void Reservations::load() {
    if (aptpl_path_.empty()) return;
    std::ifstream in(aptpl_path_);
    if (!in) return;
    std::string word;
    while (in >> word) {
        if (word == "generation") {
            in >> generation_;
        } else if (word == "holder") {
            int type = 0;
            std::string nexus;
            in >> type >> nexus;
            holder_ = Holder{nexus == "-" ? std::string() : nexus, static_cast<std::uint8_t>(type)};
        } else if (word == "reg") {
            Registration r;
            in >> r.key >> r.relative_port >> r.initiator_port;
            r.nexus = r.initiator_port + "," + std::to_string(r.relative_port);
            regs_.push_back(r);
        }
    }
    aptpl_ = true;
}

}  // namespace vstor::scsi
