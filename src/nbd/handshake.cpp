// Fixed newstyle negotiation (proto.md "Fixed newstyle negotiation", "Option types").
#include "nbd/handshake.hpp"

#include <algorithm>

#include "nbd/protocol.hpp"
#include "util/endian.hpp"

namespace vstor::nbd {

namespace {

void put16(std::vector<std::uint8_t>& v, std::uint16_t x) {
    const std::size_t at = v.size();
    v.resize(at + 2);
    util::store_be16(&v[at], x);
}
void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
    const std::size_t at = v.size();
    v.resize(at + 4);
    util::store_be32(&v[at], x);
}
void put64(std::vector<std::uint8_t>& v, std::uint64_t x) {
    const std::size_t at = v.size();
    v.resize(at + 8);
    util::store_be64(&v[at], x);
}
void put_str(std::vector<std::uint8_t>& v, std::string_view s) { v.insert(v.end(), s.begin(), s.end()); }

// Bounds-checked reader over one option's data.
class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> d) : d_(d) {}
    bool u16(std::uint16_t& x) {
        if (left() < 2) return false;
        x = util::load_be16(&d_[pos_]);
        pos_ += 2;
        return true;
    }
    bool u32(std::uint32_t& x) {
        if (left() < 4) return false;
        x = util::load_be32(&d_[pos_]);
        pos_ += 4;
        return true;
    }
    bool str(std::size_t n, std::string& s) {
        if (left() < n) return false;
        s.assign(reinterpret_cast<const char*>(&d_[pos_]), n);
        pos_ += n;
        return true;
    }
    std::size_t left() const { return d_.size() - pos_; }

private:
    std::span<const std::uint8_t> d_;
    std::size_t pos_ = 0;
};

// A string in the protocol: no NUL, at most 4096 bytes (proto.md "Conventions").
bool valid_string(const std::string& s) {
    return s.size() <= kMaxStringLength && s.find('\0') == std::string::npos;
}

}  // namespace

std::uint16_t transmission_flags(const ExportInfo& e, bool structured) {
    std::uint16_t f = tflag::has_flags | tflag::send_flush | tflag::send_fua | tflag::send_cache;
    // Every connection reaches the same backend through the same engine and FLUSH flushes the
    // whole backend, so a flush on one connection covers writes completed on any other.
    f |= tflag::can_multi_conn;
    if (e.read_only) {
        f |= tflag::read_only;
    } else {
        f |= tflag::send_write_zeroes | tflag::send_fast_zero;
        if (e.thin) f |= tflag::send_trim;
    }
    if (structured) f |= tflag::send_df;  // one OFFSET_DATA chunk per read: never fragmented
    return f;
}

void Handshake::greeting(std::vector<std::uint8_t>& out) {
    put64(out, kNbdMagic);
    put64(out, kOptMagic);
    put16(out, kFlagFixedNewstyle | kFlagNoZeroes);
}

void Handshake::fail(std::string why) {
    state_ = State::failed;
    error_ = std::move(why);
}

std::size_t Handshake::feed(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) {
    std::size_t used = 0;
    while (state_ == State::haggling && used < in.size()) {
        if (step_ == Step::skip_data) {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(skip_left_, in.size() - used));
            used += n;
            skip_left_ -= n;
            if (skip_left_ == 0) step_ = Step::option_header;
            continue;
        }
        const std::size_t need = step_ == Step::client_flags ? 4 : step_ == Step::option_header ? 16 : option_len_;
        const std::size_t n = std::min(need - acc_.size(), in.size() - used);
        acc_.insert(acc_.end(), in.begin() + static_cast<std::ptrdiff_t>(used),
                    in.begin() + static_cast<std::ptrdiff_t>(used + n));
        used += n;
        if (acc_.size() < need) break;
        switch (step_) {
            case Step::client_flags:
                on_client_flags();
                acc_.clear();
                break;
            case Step::option_header: {
                if (util::load_be64(acc_.data()) != kOptMagic) {
                    fail("bad option magic");
                    break;
                }
                option_ = util::load_be32(&acc_[8]);
                option_len_ = util::load_be32(&acc_[12]);
                acc_.clear();
                ++options_seen_;
                if (option_len_ > kMaxOptionLength) {
                    if (option_ == opt::export_name) {
                        fail("NBD_OPT_EXPORT_NAME too long");  // cannot be answered with an error
                        break;
                    }
                    reply_error(out, rep::err_too_big, "option data too long");
                    skip_left_ = option_len_;
                    step_ = Step::skip_data;
                    break;
                }
                step_ = Step::option_data;
                if (option_len_ == 0) {
                    on_option(out);
                    step_ = Step::option_header;
                }
                break;
            }
            case Step::option_data:
                on_option(out);
                acc_.clear();
                step_ = Step::option_header;
                break;
            case Step::skip_data:
                break;
        }
    }
    return used;
}

void Handshake::on_client_flags() {
    const std::uint32_t flags = util::load_be32(acc_.data());
    if (flags & ~(kClientFlagFixedNewstyle | kClientFlagNoZeroes)) {
        // proto.md: the server MUST close the connection on client flags it does not know.
        return fail("unknown client flags");
    }
    no_zeroes_ = flags & kClientFlagNoZeroes;
    fixed_newstyle_ = flags & kClientFlagFixedNewstyle;
    step_ = Step::option_header;
}

void Handshake::tls_started() {
    if (state_ != State::starttls) return;
    tls_active_ = true;
    // Nothing negotiated in plain text carries over into the TLS session.
    structured_ = false;
    meta_selected_ = false;
    meta_export_.clear();
    state_ = State::haggling;
}

void Handshake::reply(std::vector<std::uint8_t>& out, std::uint32_t type, std::span<const std::uint8_t> data) {
    put64(out, kOptReplyMagic);
    put32(out, option_);
    put32(out, type);
    put32(out, static_cast<std::uint32_t>(data.size()));
    out.insert(out.end(), data.begin(), data.end());
}

void Handshake::reply_error(std::vector<std::uint8_t>& out, std::uint32_t type, std::string_view msg) {
    reply(out, type, std::span(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size()));
}

void Handshake::on_option(std::vector<std::uint8_t>& out) {
    // FORCEDTLS: only STARTTLS and ABORT before the upgrade; EXPORT_NAME cannot be refused with
    // an error, so it ends the session.
    if (tls_policy_ == TlsPolicy::required && !tls_active_ && option_ != opt::starttls && option_ != opt::abort) {
        if (option_ == opt::export_name) return fail("NBD_OPT_EXPORT_NAME before TLS on a TLS-only server");
        return reply_error(out, rep::err_tls_reqd, "TLS is required: send NBD_OPT_STARTTLS first");
    }
    switch (option_) {
        case opt::export_name:
            return on_export_name(out);
        case opt::abort:
            reply(out, rep::ack);
            state_ = State::aborted;
            return;
        case opt::list:
            return on_list(out);
        case opt::info:
            return on_info_or_go(out, false);
        case opt::go:
            return on_info_or_go(out, true);
        case opt::structured_reply:
            if (option_len_ != 0) return reply_error(out, rep::err_invalid, "NBD_OPT_STRUCTURED_REPLY takes no data");
            structured_ = true;
            return reply(out, rep::ack);
        case opt::list_meta_context:
            return on_meta_context(out, false);
        case opt::set_meta_context:
            return on_meta_context(out, true);
        case opt::starttls:
            if (tls_policy_ == TlsPolicy::off) return reply_error(out, rep::err_unsup, "TLS is not configured");
            if (tls_active_) return reply_error(out, rep::err_invalid, "TLS is already active");
            if (option_len_ != 0) return reply_error(out, rep::err_invalid, "NBD_OPT_STARTTLS takes no data");
            if (!fixed_newstyle_) return reply_error(out, rep::err_invalid, "TLS needs fixed newstyle negotiation");
            reply(out, rep::ack);
            state_ = State::starttls;
            return;
        default:
            return reply_error(out, rep::err_unsup, "option not supported");
    }
}

void Handshake::on_export_name(std::vector<std::uint8_t>& out) {
    const std::string name(acc_.begin(), acc_.end());
    auto e = valid_string(name) ? catalog_.lookup(name) : std::nullopt;
    if (!e) return fail("unknown export '" + name.substr(0, 64) + "' in NBD_OPT_EXPORT_NAME");
    result_.exp = *e;
    result_.requested_name = name;
    result_.structured = structured_;
    result_.base_allocation = structured_ && meta_selected_ && meta_export_ == name;
    result_.flags = transmission_flags(*e, structured_);
    put64(out, e->size_bytes);
    put16(out, result_.flags);
    if (!no_zeroes_) out.insert(out.end(), 124, 0);
    state_ = State::transmission;
}

void Handshake::on_list(std::vector<std::uint8_t>& out) {
    if (option_len_ != 0) return reply_error(out, rep::err_invalid, "NBD_OPT_LIST takes no data");
    for (const auto& e : catalog_.list()) {
        std::vector<std::uint8_t> d;
        put32(d, static_cast<std::uint32_t>(e.name.size()));
        put_str(d, e.name);
        put_str(d, e.description);
        reply(out, rep::server, d);
    }
    reply(out, rep::ack);
}

// NBD_OPT_INFO / NBD_OPT_GO: u32 name length, name, u16 count, count * u16 info requests.
void Handshake::on_info_or_go(std::vector<std::uint8_t>& out, bool go) {
    Reader r(acc_);
    std::uint32_t name_len = 0;
    std::string name;
    std::uint16_t n = 0;
    if (!r.u32(name_len) || !r.str(name_len, name) || !r.u16(n) || r.left() != 2u * n || !valid_string(name))
        return reply_error(out, rep::err_invalid, "malformed NBD_OPT_INFO/GO");
    bool want_name = false, want_description = false;
    for (std::uint16_t i = 0; i < n; ++i) {
        std::uint16_t t = 0;
        r.u16(t);
        if (t == info::name) want_name = true;
        if (t == info::description) want_description = true;
    }
    auto e = catalog_.lookup(name);
    if (!e) return reply_error(out, rep::err_unknown, "no such export");
    const std::uint16_t flags = transmission_flags(*e, structured_);
    std::vector<std::uint8_t> d;
    if (want_name) {
        put16(d, info::name);
        put_str(d, e->name);
        reply(out, rep::info, d);
        d.clear();
    }
    if (want_description && !e->description.empty()) {
        put16(d, info::description);
        put_str(d, e->description);
        reply(out, rep::info, d);
        d.clear();
    }
    // Always sent: requests must be aligned to the LUN's logical block (they become SCSI LBAs).
    put16(d, info::block_size);
    put32(d, e->block_size);
    put32(d, std::max(e->block_size, kPreferredBlock));
    put32(d, kMaxPayload);
    reply(out, rep::info, d);
    d.clear();
    put16(d, info::export_);
    put64(d, e->size_bytes);
    put16(d, flags);
    reply(out, rep::info, d);
    reply(out, rep::ack);
    if (!go) return;
    result_.exp = *e;
    result_.requested_name = name;
    result_.structured = structured_;
    result_.base_allocation = structured_ && meta_selected_ && meta_export_ == name;
    result_.flags = flags;
    state_ = State::transmission;
}

// NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT: u32 name length, name, u32 query count,
// then count * (u32 length, query). Only base:allocation exists here.
void Handshake::on_meta_context(std::vector<std::uint8_t>& out, bool set) {
    if (!structured_)
        return reply_error(out, rep::err_invalid, "negotiate NBD_OPT_STRUCTURED_REPLY before meta contexts");
    Reader r(acc_);
    std::uint32_t name_len = 0, count = 0;
    std::string name;
    if (!r.u32(name_len) || !r.str(name_len, name) || !r.u32(count) || !valid_string(name))
        return reply_error(out, rep::err_invalid, "malformed meta context option");
    bool match = count == 0 && !set;  // LIST with no query lists everything
    for (std::uint32_t i = 0; i < count; ++i) {
        std::uint32_t len = 0;
        std::string q;
        if (!r.u32(len) || !r.str(len, q) || !valid_string(q))
            return reply_error(out, rep::err_invalid, "malformed meta context query");
        if (q == kBaseAllocation || (!set && q == "base:")) match = true;
    }
    if (r.left() != 0) return reply_error(out, rep::err_invalid, "trailing bytes in meta context option");
    if (!catalog_.lookup(name)) return reply_error(out, rep::err_unknown, "no such export");
    if (set) {
        meta_selected_ = match;
        meta_export_ = name;
    }
    if (match) {
        std::vector<std::uint8_t> d;
        put32(d, set ? kBaseAllocationId : 0);
        put_str(d, kBaseAllocation);
        reply(out, rep::meta_context, d);
    }
    reply(out, rep::ack);
}

const char* option_name(std::uint32_t o) noexcept {
    switch (o) {
        case opt::export_name: return "EXPORT_NAME";
        case opt::abort: return "ABORT";
        case opt::list: return "LIST";
        case opt::peek_export: return "PEEK_EXPORT";
        case opt::starttls: return "STARTTLS";
        case opt::info: return "INFO";
        case opt::go: return "GO";
        case opt::structured_reply: return "STRUCTURED_REPLY";
        case opt::list_meta_context: return "LIST_META_CONTEXT";
        case opt::set_meta_context: return "SET_META_CONTEXT";
        case opt::extended_headers: return "EXTENDED_HEADERS";
        default: return "unknown";
    }
}

}  // namespace vstor::nbd
