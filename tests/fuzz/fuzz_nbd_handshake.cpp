// libFuzzer target: NBD option haggling (nbd/handshake.hpp) fed arbitrary client bytes, split
// into chunks at fuzzer-chosen points. Checks that the machine never consumes more than it was
// given, stops consuming once haggling ends, and only ever emits well-framed option replies.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "nbd/handshake.hpp"
#include "nbd/protocol.hpp"
#include "util/endian.hpp"

namespace {

class Catalog : public vstor::nbd::ExportCatalog {
public:
    std::optional<vstor::nbd::ExportInfo> lookup(std::string_view name) const override {
        if (name.empty() || name == "disk") return vstor::nbd::ExportInfo{"disk", "d", 0, 0, 1 << 30, 512, false, true};
        if (name == "ro") return vstor::nbd::ExportInfo{"ro", "", 0, 1, 1 << 20, 4096, true, false};
        return std::nullopt;
    }
    std::vector<vstor::nbd::ExportInfo> list() const override { return {*lookup("disk"), *lookup("ro")}; }
};

// Option replies: magic, option, type, length, data — exactly tiling `out` from `from`.
void check_replies(const std::vector<std::uint8_t>& out, std::size_t from) {
    std::size_t at = from;
    while (at < out.size()) {
        if (at + 20 > out.size()) std::abort();
        if (vstor::util::load_be64(&out[at]) != vstor::nbd::kOptReplyMagic) std::abort();
        at += 20 + vstor::util::load_be32(&out[at + 16]);
    }
    if (at != out.size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vstor::nbd;
    static const Catalog catalog;
    if (size < 2) return 0;
    // First byte: chunk size for feeding (1..256), to exercise every split point; second: TLS
    // policy (off, offered, required). A STARTTLS is taken as a successful TLS handshake.
    const std::size_t chunk = std::size_t{data[0]} + 1;
    const auto policy = static_cast<TlsPolicy>(data[1] % 3);
    data += 2;
    size -= 2;
    Handshake hs(catalog, policy);
    std::vector<std::uint8_t> out;
    std::size_t pos = 0;
    while (pos < size && hs.state() == Handshake::State::haggling) {
        const std::size_t n = std::min(chunk, size - pos);
        const std::size_t before = out.size();
        const std::size_t used = hs.feed(std::span(data + pos, n), out);
        if (used > n) std::abort();
        if (hs.state() == Handshake::State::haggling) {
            if (used != n) std::abort();  // while haggling every byte is taken
            check_replies(out, before);
        }
        pos += used;
        if (hs.state() == Handshake::State::starttls) {
            if (policy == TlsPolicy::off || hs.tls_active()) std::abort();
            check_replies(out, before);
            hs.tls_started();
            if (!hs.tls_active() || hs.state() != Handshake::State::haggling) std::abort();
            continue;
        }
        if (used < n) break;
    }
    if (hs.state() == Handshake::State::transmission) {
        const auto& r = hs.result();
        if (r.base_allocation && !r.structured) std::abort();
        if (!(r.flags & tflag::has_flags)) std::abort();
        if (r.exp.read_only != bool(r.flags & tflag::read_only)) std::abort();
        if (policy == TlsPolicy::required && !hs.tls_active()) std::abort();  // no way around FORCEDTLS
    }
    // Once haggling is over nothing more is consumed.
    if (hs.state() != Handshake::State::haggling) {
        std::vector<std::uint8_t> more;
        const std::uint8_t extra[4] = {1, 2, 3, 4};
        if (hs.feed(extra, more) != 0 || !more.empty()) std::abort();
    }
    return 0;
}
