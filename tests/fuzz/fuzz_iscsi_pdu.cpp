// libFuzzer target: iSCSI PDU framing (BHS lengths, AHS, header and data digests, padding) and
// text key parsing, exactly as a connection decodes bytes from the network: whole (decode_rest)
// and split as Data-Out is received into place (decode_header, then the data's trailer), which
// must agree.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "iscsi/pdu.hpp"
#include "iscsi/text_keys.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vstor::iscsi;
    if (size < kBhsLength + 1) return 0;
    const bool hd = data[0] & 1;
    const bool dd = data[0] & 2;
    Pdu pdu;
    std::memcpy(pdu.bhs.data(), data + 1, kBhsLength);
    const std::span<const std::uint8_t> rest(data + 1 + kBhsLength, size - 1 - kBhsLength);
    const std::size_t need = rest_length(pdu.bhs, hd, dd);
    if (need > rest.size()) return 0;
    const DecodeError whole = decode_rest(pdu, rest.first(need), hd, dd, 1u << 20);
    Pdu split;
    split.bhs = pdu.bhs;
    const std::size_t head = header_rest_length(split.bhs, hd);
    const std::size_t dl = data_segment_length(split.bhs);
    DecodeError parts = decode_header(split, rest.first(head), hd);
    if (parts == DecodeError::none && dd && dl &&
        !data_digest_matches(rest.subspan(head, dl), rest.subspan(head + dl, trailer_length(dl, dd))))
        parts = DecodeError::data_digest;
    if (dl <= (1u << 20) && parts != whole) __builtin_trap();  // the two ways must agree
    if (whole == DecodeError::none) {
        KeyValues kv;
        (void)parse_text(pdu.data, kv);
        std::vector<std::uint8_t> out;
        encode(pdu, hd, dd, out);
        if (out.size() != kBhsLength + need) __builtin_trap();  // re-encoding must round-trip the length
    }
    return 0;
}
