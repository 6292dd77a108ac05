#include "iscsi/pdu.hpp"

#include "util/crc32c.hpp"

namespace vstor::iscsi {

std::size_t ahs_length(std::span<const std::uint8_t, kBhsLength> bhs) {
    return Bhs<const std::uint8_t>(bhs.data()).total_ahs_length();
}

std::size_t data_segment_length(std::span<const std::uint8_t, kBhsLength> bhs) {
    return Bhs<const std::uint8_t>(bhs.data()).data_segment_length();
}

std::size_t rest_length(std::span<const std::uint8_t, kBhsLength> bhs, bool header_digest, bool data_digest) {
    const std::size_t dl = data_segment_length(bhs);
    return ahs_length(bhs) + (header_digest ? 4 : 0) + padded(dl) + (data_digest && dl ? 4 : 0);
}

std::uint32_t crc32c(const std::uint8_t* p, std::size_t n) {
    return util::crc32c_update(p, n, 0xffffffffu) ^ 0xffffffffu;
}

namespace {
// Digests travel least-significant byte first (RFC 7143 B.4 test vectors).
std::uint32_t load_le32(const std::uint8_t* p) {
    return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) |
           (std::uint32_t{p[3]} << 24);
}
void append_le32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
std::uint32_t header_crc(const Pdu& pdu) {
    std::uint32_t crc = util::crc32c_update(pdu.bhs.data(), kBhsLength, 0xffffffffu);
    if (!pdu.ahs.empty())
        crc = util::crc32c_update(pdu.ahs.data(), pdu.ahs.size(), crc);
    return crc ^ 0xffffffffu;
}
std::uint32_t data_crc(std::span<const std::uint8_t> data) {
    static const std::uint8_t zeros[4] = {};
    std::uint32_t crc = util::crc32c_update(data.data(), data.size(), 0xffffffffu);
    const std::size_t pad = padded(data.size()) - data.size();
    if (pad) crc = util::crc32c_update(zeros, pad, crc);
    return crc ^ 0xffffffffu;
}
void set_lengths(Pdu& pdu, std::size_t data_len) {
    const auto h = pdu.as<Bhs>();
    h.set_total_ahs_length(pdu.ahs.size());
    h.set_data_segment_length(static_cast<std::uint32_t>(data_len));
}
}  // namespace

std::size_t header_rest_length(std::span<const std::uint8_t, kBhsLength> bhs, bool header_digest) {
    return ahs_length(bhs) + (header_digest ? 4 : 0);
}

std::size_t trailer_length(std::size_t data_len, bool data_digest) {
    return padded(data_len) - data_len + (data_digest && data_len ? 4 : 0);
}

DecodeError decode_header(Pdu& pdu, std::span<const std::uint8_t> head, bool header_digest) {
    const std::size_t al = ahs_length(pdu.bhs);
    if (head.size() < header_rest_length(pdu.bhs, header_digest)) return DecodeError::bad_ahs;
    pdu.ahs.assign(head.begin(), head.begin() + static_cast<std::ptrdiff_t>(al));
    if (header_digest && load_le32(&head[al]) != header_crc(pdu)) return DecodeError::header_digest;
    return DecodeError::none;
}

bool data_digest_matches(std::span<const std::uint8_t> data, std::span<const std::uint8_t> trailer) {
    const std::size_t pad = padded(data.size()) - data.size();
    return trailer.size() >= pad + 4 && load_le32(&trailer[pad]) == data_crc(data);
}

DecodeError decode_rest(Pdu& pdu, std::span<const std::uint8_t> rest, bool header_digest, bool data_digest,
                        std::size_t max_data) {
    const std::size_t dl = data_segment_length(pdu.bhs);
    if (dl > max_data) return DecodeError::too_long;
    if (rest.size() < rest_length(pdu.bhs, header_digest, data_digest)) return DecodeError::bad_ahs;
    const std::size_t head = header_rest_length(pdu.bhs, header_digest);
    if (const auto e = decode_header(pdu, rest.first(head), header_digest); e != DecodeError::none) return e;
    const auto data = rest.subspan(head, dl);
    pdu.data.assign(data.begin(), data.end());
    if (data_digest && dl && !data_digest_matches(data, rest.subspan(head + dl))) return DecodeError::data_digest;
    return DecodeError::none;
}

void encode(Pdu& pdu, bool header_digest, bool data_digest, std::vector<std::uint8_t>& out) {
    set_lengths(pdu, pdu.data.size());
    out.insert(out.end(), pdu.bhs.begin(), pdu.bhs.end());
    out.insert(out.end(), pdu.ahs.begin(), pdu.ahs.end());
    if (header_digest) append_le32(out, header_crc(pdu));
    out.insert(out.end(), pdu.data.begin(), pdu.data.end());
    out.resize(out.size() + padded(pdu.data.size()) - pdu.data.size(), 0);
    if (data_digest && !pdu.data.empty()) append_le32(out, data_crc(pdu.data));
}

void encode_split(Pdu& pdu, std::span<const std::uint8_t> data, bool header_digest, bool data_digest,
                  std::vector<std::uint8_t>& head, std::vector<std::uint8_t>& tail) {
    encode_split(pdu, data.size(), header_digest, head, tail);
    if (data_digest && !data.empty()) append_le32(tail, data_crc(data));
}

void encode_split(Pdu& pdu, std::size_t data_len, bool header_digest, std::vector<std::uint8_t>& head,
                  std::vector<std::uint8_t>& tail) {
    set_lengths(pdu, data_len);
    head.insert(head.end(), pdu.bhs.begin(), pdu.bhs.end());
    head.insert(head.end(), pdu.ahs.begin(), pdu.ahs.end());
    if (header_digest) append_le32(head, header_crc(pdu));
    tail.resize(tail.size() + padded(data_len) - data_len, 0);
}

const char* opcode_name(std::uint8_t opcode) {
    switch (opcode) {
        case op::nop_out: return "NOP-Out";
        case op::scsi_command: return "SCSI Command";
        case op::tmf_request: return "Task Management Request";
        case op::login_request: return "Login Request";
        case op::text_request: return "Text Request";
        case op::data_out: return "Data-Out";
        case op::logout_request: return "Logout Request";
        case op::snack: return "SNACK";
        default: return "unknown";
    }
}

}  // namespace vstor::iscsi
