#include "scsi/sbc_blocking_io.hpp"

#include <algorithm>
#include <cstring>

namespace vstor::scsi {

IoStatus write_pattern(LogicalUnit& lu, std::uint64_t lba, std::uint64_t count, std::span<const std::byte> pattern,
                       bool fua) {
    const std::size_t bs = pattern.size();
    const std::uint64_t per_chunk = std::max<std::uint64_t>(1, (1u << 20) / bs);
    std::vector<std::byte> chunk(static_cast<std::size_t>(std::min(count, per_chunk)) * bs);
    for (std::size_t off = 0; off < chunk.size(); off += bs) std::memcpy(chunk.data() + off, pattern.data(), bs);
    while (count) {
        const std::uint64_t n = std::min(count, per_chunk);
        const IoStatus s = write_blocks(lu, lba, std::span<const std::byte>(chunk.data(), n * bs), fua);
        if (s != IoStatus::ok) return s;
        lba += n;
        count -= n;
    }
    return IoStatus::ok;
}

}  // namespace vstor::scsi
