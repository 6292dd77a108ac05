// libFuzzer target: NBD transmission requests. Each input is an export description followed by
// request headers; every header is parsed and validated, and valid ones are translated into the
// SCSI commands the connection would submit (UNMAP splitting, WRITE SAME chunks), with the
// GET LBA STATUS decoder fed the remaining bytes. Checks the invariants the connection relies on.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "nbd/protocol.hpp"
#include "nbd/request.hpp"
#include "nbd/scsi_translate.hpp"
#include "util/endian.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vstor::nbd;
    using vstor::util::load_be32;
    using vstor::util::load_be64;
    if (size < 24) return 0;
    ExportLimits lim;
    lim.size_bytes = load_be64(data) & ((1ull << 50) - 1);
    lim.block_size = (data[8] & 1) ? 4096 : 512;
    lim.read_only = data[9] & 1;
    lim.thin = data[9] & 2;
    lim.structured = data[9] & 4;
    lim.base_allocation = lim.structured && (data[9] & 8);
    BlockLimits bl;
    // Lower bounds keep one input's work small (the engine advertises far larger limits).
    bl.max_unmap_blocks = (load_be32(data + 12) & 0xfffff) + 2048;
    bl.max_unmap_descriptors = (data[16] & 0x3f) + 1;
    bl.max_write_same_blocks = (load_be32(data + 17) & 0xffffff) + 2048;
    std::size_t pos = 24;
    std::vector<std::byte> buf(8 + 16 * 64);
    std::vector<std::byte> zero(lim.block_size);
    std::vector<std::pair<std::uint32_t, std::uint32_t>> ext;
    while (pos + kRequestHeaderSize <= size) {
        const auto h = parse_request(std::span<const std::uint8_t, kRequestHeaderSize>(data + pos, kRequestHeaderSize));
        pos += kRequestHeaderSize;
        if (!h) continue;
        const Verdict v = validate(*h, lim);
        if (v.action == Action::reply_error && v.error == 0) std::abort();
        if (v.action != Action::execute) continue;
        if (h->type == cmd::flush) continue;
        // Executed requests are aligned, in range and within the payload limit.
        if (h->offset % lim.block_size || h->length % lim.block_size) std::abort();
        if (h->offset + h->length > lim.size_bytes || h->offset + h->length < h->offset) std::abort();
        if ((h->type == cmd::read || h->type == cmd::write) && h->length > lim.max_payload) std::abort();
        if (lim.read_only && (h->type == cmd::write || h->type == cmd::trim || h->type == cmd::write_zeroes))
            std::abort();
        const std::uint64_t lba = h->offset / lim.block_size;
        std::uint64_t remaining = h->length / lim.block_size;
        vstor::Command c;
        if (h->type == cmd::trim) {
            std::uint64_t next = lba;
            while (remaining) {
                const std::uint64_t n = cdb_unmap(c, next, remaining, bl, buf);
                if (n == 0 || n > remaining) std::abort();
                if (c.expected_length > buf.size()) std::abort();
                next += n;
                remaining -= n;
            }
        } else if (h->type == cmd::write_zeroes) {
            while (remaining) {
                const std::uint32_t n = write_same_chunk(bl, remaining);
                if (n == 0 || n > remaining) std::abort();
                cdb_write_same16(c, lba, n, true, zero);
                remaining -= n;
            }
        } else if (h->type == cmd::block_status) {
            const std::size_t rest = size - pos;
            lba_status_to_extents(std::span(data + pos, rest), lba, lba + remaining, lim.block_size, lim.thin,
                                  h->flags & cmd_flag::req_one, ext);
            std::uint64_t total = 0;
            for (const auto& e : ext) {
                if (e.first == 0) std::abort();
                total += e.first;
            }
            if (total > h->length) std::abort();
            if ((h->flags & cmd_flag::req_one) && ext.size() > 1) std::abort();
        }
    }
    return 0;
}
