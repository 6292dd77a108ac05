// Request validation follows proto.md "Request types" and "Error values": unknown commands and
// flags are EINVAL, writes past the end ENOSPC, writes on a read-only export EPERM.
#include "nbd/request.hpp"

#include "util/endian.hpp"

namespace vstor::nbd {

std::optional<RequestHeader> parse_request(std::span<const std::uint8_t, kRequestHeaderSize> b) {
    if (util::load_be32(b.data()) != kRequestMagic) return std::nullopt;
    RequestHeader h;
    h.flags = util::load_be16(&b[4]);
    h.type = util::load_be16(&b[6]);
    h.cookie = util::load_be64(&b[8]);
    h.offset = util::load_be64(&b[16]);
    h.length = util::load_be32(&b[24]);
    return h;
}

void encode_request(const RequestHeader& h, std::span<std::uint8_t, kRequestHeaderSize> out) {
    util::store_be32(out.data(), kRequestMagic);
    util::store_be16(&out[4], h.flags);
    util::store_be16(&out[6], h.type);
    util::store_be64(&out[8], h.cookie);
    util::store_be64(&out[16], h.offset);
    util::store_be32(&out[24], h.length);
}

namespace {

Verdict error(std::uint32_t e, const char* why) { return Verdict{Action::reply_error, e, why}; }

// Flags each command may carry (proto.md "Command flags").
std::uint16_t allowed_flags(std::uint16_t type, bool structured) {
    std::uint16_t f = cmd_flag::fua;  // valid on every command; meaningful on writes
    switch (type) {
        case cmd::read:
            if (structured) f |= cmd_flag::df;
            break;
        case cmd::write_zeroes:
            f |= cmd_flag::no_hole | cmd_flag::fast_zero;
            break;
        case cmd::block_status:
            f |= cmd_flag::req_one;
            break;
        default:
            break;
    }
    return f;
}

}  // namespace

Verdict validate(const RequestHeader& h, const ExportLimits& lim) {
    switch (h.type) {
        case cmd::disc:
            return Verdict{Action::disc, err::ok, "disconnect requested"};
        case cmd::read:
        case cmd::write:
        case cmd::flush:
        case cmd::trim:
        case cmd::cache:
        case cmd::write_zeroes:
        case cmd::block_status:
            break;
        default:
            return error(err::inval, "unknown command");
    }
    // A payload larger than the advertised maximum is not read: the client broke a MUST
    // (NBD_INFO_BLOCK_SIZE maximum), and swallowing it would only invite memory abuse.
    if (h.type == cmd::write && h.length > lim.max_payload)
        return Verdict{Action::disconnect, err::inval, "write payload larger than the advertised maximum"};
    if (h.flags & ~allowed_flags(h.type, lim.structured)) return error(err::inval, "flag not valid for this command");
    if (h.type == cmd::flush) return Verdict{};  // offset and length are reserved
    if (h.type == cmd::read && h.length > lim.max_payload)
        return error(err::inval, "read larger than the advertised maximum");
    if (lim.read_only && cmd::changes_data(h.type)) return error(err::perm, "export is read-only");
    if (h.type == cmd::trim && !lim.thin) return error(err::inval, "TRIM not supported on a thick LUN");
    if (h.type == cmd::block_status) {
        if (!lim.base_allocation) return error(err::inval, "no metadata context negotiated");
        if (h.length == 0) return error(err::inval, "zero-length block status");
    }
    const std::uint64_t bs = lim.block_size ? lim.block_size : 1;
    if (h.offset % bs || h.length % bs) return error(err::inval, "request not aligned to the block size");
    if (h.offset > lim.size_bytes || h.length > lim.size_bytes - h.offset)
        return cmd::changes_data(h.type) ? error(err::nospc, "request past the end of the export")
                                         : error(err::inval, "request past the end of the export");
    return Verdict{};
}

const char* command_name(std::uint16_t type) noexcept {
    switch (type) {
        case cmd::read: return "READ";
        case cmd::write: return "WRITE";
        case cmd::disc: return "DISC";
        case cmd::flush: return "FLUSH";
        case cmd::trim: return "TRIM";
        case cmd::cache: return "CACHE";
        case cmd::write_zeroes: return "WRITE_ZEROES";
        case cmd::block_status: return "BLOCK_STATUS";
        case cmd::resize: return "RESIZE";
        default: return "unknown";
    }
}

}  // namespace vstor::nbd
