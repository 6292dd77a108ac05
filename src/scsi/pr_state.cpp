// PrState's lookups and its byte format. Format 1, big-endian: "VSPR", u8 format, u64 seq,
// u32 generation, u8 flags (bit 0 APTPL, bit 1 a holder), [u8 type, str nexus], u32 count of
// registrations {u64 key, u16 relative port, str initiator port}, u32 count of unit attentions
// {u64 seq, str nexus, u8 asc, u8 ascq}; str = u16 length + bytes. Nothing may follow.
#include "scsi/pr_state.hpp"

#include <algorithm>
#include <utility>

#include "util/endian.hpp"

namespace vstor::scsi {

namespace {
constexpr std::uint8_t kMagic[4] = {'V', 'S', 'P', 'R'};
constexpr std::uint8_t kFormat = 1;

class Writer {
public:
    void u8(std::uint8_t v) { b_.push_back(v); }
    void u16(std::uint16_t v) { grow(2), util::store_be16(&b_[b_.size() - 2], v); }
    void u32(std::uint32_t v) { grow(4), util::store_be32(&b_[b_.size() - 4], v); }
    void u64(std::uint64_t v) { grow(8), util::store_be64(&b_[b_.size() - 8], v); }
    void str(const std::string& s) {
        u16(static_cast<std::uint16_t>(s.size()));
        b_.insert(b_.end(), s.begin(), s.end());
    }
    std::vector<std::uint8_t> take() { return std::move(b_); }

private:
    void grow(std::size_t n) { b_.resize(b_.size() + n); }
    std::vector<std::uint8_t> b_;
};

// Every read is bounds-checked; after the first short read all reads fail.
class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> b) : b_(b) {}
    bool ok() const { return ok_; }
    bool at_end() const { return at_ == b_.size(); }
    std::uint8_t u8() { return take(1) ? b_[at_ - 1] : 0; }
    std::uint16_t u16() { return take(2) ? util::load_be16(&b_[at_ - 2]) : 0; }
    std::uint32_t u32() { return take(4) ? util::load_be32(&b_[at_ - 4]) : 0; }
    std::uint64_t u64() { return take(8) ? util::load_be64(&b_[at_ - 8]) : 0; }
    std::string str() {
        const std::uint16_t n = u16();
        if (n > PrState::kMaxName || !take(n)) return ok_ = false, std::string();
        return std::string(reinterpret_cast<const char*>(&b_[at_ - n]), n);
    }

private:
    bool take(std::size_t n) {
        if (!ok_ || b_.size() - at_ < n) return ok_ = false;
        at_ += n;
        return true;
    }
    std::span<const std::uint8_t> b_;
    std::size_t at_ = 0;
    bool ok_ = true;
};
}  // namespace

std::string pr_nexus_id(const std::string& initiator_port, std::uint16_t relative_port) {
    return initiator_port + "," + std::to_string(relative_port);
}

const PrRegistration* PrState::find(const std::string& nexus) const {
    for (const auto& r : regs)
        if (r.nexus == nexus) return &r;
    return nullptr;
}

PrRegistration* PrState::find(const std::string& nexus) {
    return const_cast<PrRegistration*>(std::as_const(*this).find(nexus));
}

bool PrState::holds(const std::string& nexus) const {
    if (!holder) return false;
    if (all_registrants(holder->type)) return find(nexus) != nullptr;
    return holder->nexus == nexus;
}

std::vector<std::string> PrState::registrants_except(const std::string& nexus) const {
    std::vector<std::string> out;
    for (const auto& r : regs)
        if (r.nexus != nexus) out.push_back(r.nexus);
    return out;
}

void PrState::add_uas(const std::vector<std::string>& ids, std::uint8_t asc, std::uint8_t ascq) {
    for (const auto& id : ids) uas.push_back(PrUnitAttention{seq + 1, id, asc, ascq});
}

void PrState::commit() {
    ++seq;
    std::erase_if(uas, [&](const PrUnitAttention& u) { return u.seq + kUaChanges <= seq; });
}

std::vector<std::uint8_t> PrState::serialize() const {
    Writer w;
    for (auto c : kMagic) w.u8(c);
    w.u8(kFormat);
    w.u64(seq);
    w.u32(generation);
    w.u8(static_cast<std::uint8_t>((aptpl ? 1 : 0) | (holder ? 2 : 0)));
    if (holder) w.u8(holder->type), w.str(holder->nexus);
    w.u32(static_cast<std::uint32_t>(regs.size()));
    for (const auto& r : regs) w.u64(r.key), w.u16(r.relative_port), w.str(r.initiator_port);
    w.u32(static_cast<std::uint32_t>(uas.size()));
    for (const auto& u : uas) w.u64(u.seq), w.str(u.nexus), w.u8(u.asc), w.u8(u.ascq);
    return w.take();
}

std::optional<PrState> PrState::parse(std::span<const std::uint8_t> bytes, std::string& error) {
    Reader r(bytes);
    for (auto c : kMagic)
        if (r.u8() != c) return error = "not a reservation state", std::nullopt;
    if (const auto f = r.u8(); f != kFormat) return error = "unknown format " + std::to_string(f), std::nullopt;
    PrState s;
    s.seq = r.u64();
    s.generation = r.u32();
    const std::uint8_t flags = r.u8();
    if (flags & ~3u) return error = "unknown flags", std::nullopt;
    s.aptpl = flags & 1;
    if (flags & 2) {
        PrHolder h;
        h.type = r.u8();
        h.nexus = r.str();
        if (r.ok() && !valid_type(h.type)) return error = "bad reservation type", std::nullopt;
        s.holder = std::move(h);
    }
    const std::uint32_t nregs = r.u32();
    if (nregs > kMaxRegistrations) return error = "too many registrations", std::nullopt;
    for (std::uint32_t i = 0; i < nregs && r.ok(); ++i) {
        PrRegistration g;
        g.key = r.u64();
        g.relative_port = r.u16();
        g.initiator_port = r.str();
        g.nexus = pr_nexus_id(g.initiator_port, g.relative_port);
        if (s.find(g.nexus)) return error = "a nexus registered twice", std::nullopt;
        s.regs.push_back(std::move(g));
    }
    const std::uint32_t nuas = r.u32();
    if (nuas > kMaxRegistrations * kUaChanges) return error = "too many unit attentions", std::nullopt;
    for (std::uint32_t i = 0; i < nuas && r.ok(); ++i) {
        PrUnitAttention u;
        u.seq = r.u64();
        u.nexus = r.str();
        u.asc = r.u8();
        u.ascq = r.u8();
        if (u.seq > s.seq) return error = "a unit attention from the future", std::nullopt;
        s.uas.push_back(std::move(u));
    }
    if (!r.ok()) return error = "truncated", std::nullopt;
    if (!r.at_end()) return error = "trailing bytes", std::nullopt;
    return s;
}

}  // namespace vstor::scsi
