#include "scsi/command_table.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/sbc.hpp"

namespace vstor::scsi {

std::optional<Sense> check_range(const Task& t, std::uint64_t lba, std::uint64_t count) {
    const std::uint64_t cap = t.lu->block_count();
    if (lba > cap || count > cap - lba) return sense::lba_out_of_range();
    return std::nullopt;
}

std::optional<std::uint32_t> writable_bytes(const Task& t, std::uint32_t needed) {
    const auto have = static_cast<std::uint32_t>(t.cmd.data.size());
    if (have >= needed) return needed;
    if (have % t.lu->block_size()) return std::nullopt;
    return have;
}

std::optional<Sense> check_transfer_length(const Task& t, std::uint64_t blocks, std::uint16_t len_byte) {
    if (blocks * t.lu->block_size() > limits::kMaxTransferBytes)
        return sense::invalid_field_in_cdb(len_byte, 7);
    return std::nullopt;
}

}  // namespace vstor::scsi
