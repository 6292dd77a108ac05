// NBD transmission-phase request header: parsing and validation, pure (no I/O). The connection
// acts on the verdict; the fuzzer and unit tests call these directly.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "nbd/protocol.hpp"

namespace vstor::nbd {

struct RequestHeader {
    std::uint16_t flags = 0;
    std::uint16_t type = 0;
    std::uint64_t cookie = 0;  // "handle" in proto.md, echoed in the reply
    std::uint64_t offset = 0;
    std::uint32_t length = 0;
};

// nullopt when the magic is wrong (the stream cannot be trusted: disconnect).
std::optional<RequestHeader> parse_request(std::span<const std::uint8_t, kRequestHeaderSize> bytes);
void encode_request(const RequestHeader& h, std::span<std::uint8_t, kRequestHeaderSize> out);  // tests, fuzzers

// What the connection knows about the export it serves.
struct ExportLimits {
    std::uint64_t size_bytes = 0;
    std::uint32_t block_size = 512;
    std::uint32_t max_payload = kMaxPayload;
    bool read_only = false;
    bool thin = false;
    bool structured = false;
    bool base_allocation = false;
};

enum class Action : std::uint8_t {
    execute,           // valid: translate and submit
    reply_error,       // answer `error` (a WRITE's payload must be read and dropped first)
    disconnect,        // cannot keep the stream in sync or the client broke a MUST
    disc,              // NBD_CMD_DISC: finish what is in flight, then close
};

struct Verdict {
    Action action = Action::execute;
    std::uint32_t error = err::ok;
    const char* why = "";
};

Verdict validate(const RequestHeader& h, const ExportLimits& lim);

// True if the request carries `length` bytes of payload after the header.
inline bool has_payload(const RequestHeader& h) { return h.type == cmd::write; }

}  // namespace vstor::nbd
