// Sense data on the wire (SPC-5 4.4.2 descriptor format, 4.4.3 fixed format): the two encoders
// and the one decoder that reads either.
#include <algorithm>
#include <cstring>

#include "util/endian.hpp"
#include "vstor/sense.hpp"

namespace vstor::scsi {

namespace {
void sense_key_specific(const Sense& s, std::uint8_t* p /* 3 bytes */) {
    if (s.has_field_pointer) {
        p[0] = static_cast<std::uint8_t>(0x80 | (s.in_cdb ? 0x40 : 0) | (s.bit_valid ? 0x08 : 0) |
                                         (s.bit & 0x07));
        util::store_be16(p + 1, s.field_byte);
    } else if (s.progress) {
        p[0] = 0x80;
        util::store_be16(p + 1, *s.progress);
    }
}
bool has_sks(const Sense& s) { return s.has_field_pointer || s.progress.has_value(); }

// The SKSV-flagged 3 bytes, read as what the sense key says they hold (SPC-5 4.4.2.4).
void read_sense_key_specific(const std::uint8_t* p, Sense& s) {
    if (!(p[0] & 0x80)) return;  // SKSV clear: nothing there
    if (s.key == sense_key::illegal_request) {
        s.has_field_pointer = true;
        s.in_cdb = p[0] & 0x40;
        s.bit_valid = p[0] & 0x08;
        s.bit = p[0] & 0x07;
        s.field_byte = util::load_be16(p + 1);
    } else if (s.key == sense_key::no_sense || s.key == sense_key::not_ready) {
        s.progress = util::load_be16(p + 1);
    }
}

// Bytes that belong to the sense data: what arrived, cut at 8 + ADDITIONAL SENSE LENGTH.
std::size_t sense_end(std::span<const std::uint8_t> b) {
    return b.size() < 8 ? b.size() : std::min<std::size_t>(b.size(), 8 + std::size_t{b[7]});
}

void decode_fixed(std::span<const std::uint8_t> b, Sense& s) {
    const std::size_t end = sense_end(b);
    if (end > 2) s.key = b[2] & 0x0f;
    if ((b[0] & 0x80) && end >= 7) s.information = util::load_be32(b.data() + 3);  // VALID
    if (end > 12) s.asc = b[12];
    if (end > 13) s.ascq = b[13];
    if (end >= 18) read_sense_key_specific(b.data() + 15, s);
}

void decode_descriptor(std::span<const std::uint8_t> b, Sense& s) {
    const std::size_t end = sense_end(b);
    if (end > 1) s.key = b[1] & 0x0f;
    if (end > 2) s.asc = b[2];
    if (end > 3) s.ascq = b[3];
    for (std::size_t pos = 8; pos + 2 <= end;) {
        const std::uint8_t type = b[pos], len = b[pos + 1];
        if (pos + 2 + len > end) break;  // a descriptor cut short is not read
        const std::uint8_t* d = b.data() + pos;
        if (type == 0x00 && len >= 0x0a && (d[2] & 0x80)) s.information = util::load_be64(d + 4);
        if (type == 0x02 && len >= 0x06) read_sense_key_specific(d + 4, s);
        pos += 2 + std::size_t{len};
    }
}
}  // namespace

std::uint8_t encode_fixed(const Sense& s, std::uint8_t* out, std::size_t cap) {
    std::uint8_t b[18] = {};
    b[0] = s.deferred ? 0x71 : 0x70;
    b[2] = s.key & 0x0f;
    if (s.information) {
        b[0] |= 0x80;  // VALID (fixed format holds the low 32 bits)
        util::store_be32(b + 3, static_cast<std::uint32_t>(*s.information));
    }
    b[7] = 10;  // additional sense length
    b[12] = s.asc;
    b[13] = s.ascq;
    if (has_sks(s)) sense_key_specific(s, b + 15);
    const auto n = static_cast<std::uint8_t>(std::min<std::size_t>(sizeof b, cap));
    std::memcpy(out, b, n);
    return n;
}

std::uint8_t encode_descriptor(const Sense& s, std::uint8_t* out, std::size_t cap) {
    std::uint8_t b[8 + 12 + 8] = {};
    b[0] = s.deferred ? 0x73 : 0x72;
    b[1] = s.key & 0x0f;
    b[2] = s.asc;
    b[3] = s.ascq;
    std::size_t n = 8;
    if (s.information) {  // information descriptor (type 0)
        b[n] = 0x00;
        b[n + 1] = 0x0a;
        b[n + 2] = 0x80;
        util::store_be64(b + n + 4, *s.information);
        n += 12;
    }
    if (has_sks(s)) {  // sense key specific descriptor (type 2)
        b[n] = 0x02;
        b[n + 1] = 0x06;
        sense_key_specific(s, b + n + 4);
        n += 8;
    }
    b[7] = static_cast<std::uint8_t>(n - 8);
    const auto m = static_cast<std::uint8_t>(std::min<std::size_t>(n, cap));
    std::memcpy(out, b, m);
    return m;
}

std::optional<Sense> decode_sense(std::span<const std::uint8_t> bytes) {
    if (bytes.empty()) return std::nullopt;
    const std::uint8_t code = bytes[0] & 0x7f;
    if (code < 0x70 || code > 0x73) return std::nullopt;
    Sense s;
    s.deferred = code == 0x71 || code == 0x73;
    if (code <= 0x71)
        decode_fixed(bytes, s);
    else
        decode_descriptor(bytes, s);
    return s;
}

}  // namespace vstor::scsi
