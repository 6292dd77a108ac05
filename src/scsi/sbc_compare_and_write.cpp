// SBC-4 COMPARE AND WRITE, ORWRITE(16) and WRITE ATOMIC(16): read-modify-write commands that are
// atomic with respect to each other (LogicalUnit::atomic_mu).
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include "scsi/command_table.hpp"
#include "scsi/families.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/sbc.hpp"
#include "scsi/sbc_blocking_io.hpp"
#include "scsi/sync_io.hpp"
#include "util/endian.hpp"

namespace vstor::scsi {

namespace {

bool fua_of(const std::uint8_t* cdb, const LogicalUnit& lu) { return (cdb[1] & 0x08) || !lu.write_cache_enabled(); }

// The backend's own atomic compare-and-write (e.g. RBD's, atomic in the cluster and not just in
// this process); nullopt when it has none, or none for this range.
std::optional<Outcome> backend_compare_and_write(LogicalUnit& lu, std::uint64_t lba, std::span<const std::byte> verify,
                                                 std::span<const std::byte> data, bool fua) {
    if (!lu.backend().caps().compare_and_write) return std::nullopt;
    std::optional<std::uint64_t> miscompare;  // written before the callback ends wait_io
    const IoStatus st = util::wait_io([&](IoCallback cb) {
        lu.backend().compare_and_write(lba, verify, data, fua,
                                       [&miscompare, cb](IoStatus s, std::optional<std::uint64_t> at) {
                                           miscompare = at;
                                           cb(s);
                                       });
    });
    if (st == IoStatus::not_supported) return std::nullopt;
    if (st != IoStatus::ok) return Outcome::check(sense::from_io_status(st, true));
    if (miscompare) return Outcome::check(sense::miscompare_during_verify(*miscompare));
    return Outcome::good(static_cast<std::uint32_t>(verify.size() + data.size()));
}

// The read-compare-write step, under atomic_mu (held by the handler; the engine completes after).
Outcome compare_and_write_locked(LogicalUnit& lu, std::uint64_t lba, std::span<const std::byte> verify,
                                 std::span<const std::byte> data, bool fua) {
    if (auto done = backend_compare_and_write(lu, lba, verify, data, fua)) return *done;
    std::vector<std::byte> medium(verify.size());
    if (auto st = read_blocks(lu, lba, medium); st != IoStatus::ok)
        return Outcome::check(sense::from_io_status(st, false));
    for (std::size_t i = 0; i < medium.size(); ++i)
        if (medium[i] != verify[i]) return Outcome::check(sense::miscompare_during_verify(i));
    if (auto st = write_blocks(lu, lba, data, fua); st != IoStatus::ok)
        return Outcome::check(sense::from_io_status(st, true));
    return Outcome::good(static_cast<std::uint32_t>(verify.size() + data.size()));
}

// The read-OR-write step, under atomic_mu.
Outcome orwrite_locked(LogicalUnit& lu, std::uint64_t lba, std::span<const std::byte> mask, bool fua) {
    std::vector<std::byte> medium(mask.size());
    if (auto st = read_blocks(lu, lba, medium); st != IoStatus::ok)
        return Outcome::check(sense::from_io_status(st, false));
    for (std::size_t i = 0; i < medium.size(); ++i) medium[i] |= mask[i];
    if (auto st = write_blocks(lu, lba, medium, fua); st != IoStatus::ok)
        return Outcome::check(sense::from_io_status(st, true));
    return Outcome::good(static_cast<std::uint32_t>(mask.size()));
}

// SBC-4 5.3: data-out holds N verify blocks then N write blocks.
Outcome compare_and_write(const TaskPtr& t) {
    const std::uint8_t* cdb = t->cdb();
    LogicalUnit& lu = *t->lu;
    const std::uint64_t lba = util::load_be64(cdb + 2);
    const std::uint32_t blocks = cdb[13];
    if (cdb[1] & 0xe0) return Outcome::check(sense::invalid_field_in_cdb(1, 7));
    // The data-out must hold exactly the verify and write blocks the CDB describes.
    if (t->cmd.data.size() != 2ull * blocks * lu.block_size()) return Outcome::check(sense::invalid_field_in_cdb(13, 7));
    if (blocks == 0) return Outcome::good();
    if (blocks > limits::kMaxCompareAndWriteBlocks) return Outcome::check(sense::invalid_field_in_cdb(13, 7));
    if (auto s = check_range(*t, lba, blocks)) return Outcome::check(*s);
    const std::size_t bytes = std::size_t{blocks} * lu.block_size();
    if (t->cmd.data.size() < 2 * bytes) return Outcome::check(sense::invalid_field_in_cdb(13, 7));
    const auto verify = t->cmd.data.first(bytes);
    const auto data = t->cmd.data.subspan(bytes, bytes);
    // atomic_mu is released when the handler returns, before the engine completes the command.
    std::lock_guard lk(lu.atomic_mu);
    return compare_and_write_locked(lu, lba, verify, data, fua_of(cdb, lu));
}

Outcome orwrite(const TaskPtr& t) {
    const std::uint8_t* cdb = t->cdb();
    LogicalUnit& lu = *t->lu;
    const std::uint64_t lba = util::load_be64(cdb + 2);
    const std::uint32_t blocks = util::load_be32(cdb + 10);
    if (cdb[1] & 0xe0) return Outcome::check(sense::invalid_field_in_cdb(1, 7));  // ORPROTECT: no PI
    if (auto s = check_range(*t, lba, blocks)) return Outcome::check(*s);
    if (auto s = check_transfer_length(*t, blocks, 10)) return Outcome::check(*s);
    if (blocks == 0) return Outcome::good();
    const std::size_t bytes = std::size_t{blocks} * lu.block_size();
    if (t->cmd.data.size() < bytes) return Outcome::check(sense::invalid_field_in_cdb(10, 7));
    std::lock_guard lk(lu.atomic_mu);
    return orwrite_locked(lu, lba, t->cmd.data.first(bytes), fua_of(cdb, lu));
}

// SBC-4 5.48: all of the blocks or none become visible.
Outcome write_atomic(const TaskPtr& t) {
    const std::uint8_t* cdb = t->cdb();
    LogicalUnit& lu = *t->lu;
    const std::uint64_t lba = util::load_be64(cdb + 2);
    const std::uint32_t blocks = util::load_be16(cdb + 12);
    if (cdb[1] & 0xe0) return Outcome::check(sense::invalid_field_in_cdb(1, 7));
    if (auto s = check_range(*t, lba, blocks)) return Outcome::check(*s);
    if (std::uint64_t{blocks} * lu.block_size() > limits::kMaxAtomicBlocksBytes)
        return Outcome::check(sense::invalid_field_in_cdb(12, 7));
    if (blocks == 0) return Outcome::good();
    const std::size_t bytes = std::size_t{blocks} * lu.block_size();
    if (t->cmd.data.size() < bytes) return Outcome::check(sense::invalid_field_in_cdb(12, 7));
    IoStatus st;
    {
        std::lock_guard lk(lu.atomic_mu);
        st = write_blocks(lu, lba, t->cmd.data.first(bytes), fua_of(cdb, lu));
    }
    return io_outcome(st, true, Outcome::good(static_cast<std::uint32_t>(bytes)));
}

}  // namespace

void register_sbc_compare_and_write(CommandTable& tab) {
    using namespace cmd_flag;
    const auto wr = needs_medium | writes_medium | blocking;
    tab.add({0x89, std::nullopt, "COMPARE AND WRITE", 16,
             {0x89, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff, 0x1f, 0}, compare_and_write, wr});
    tab.add({0x8b, std::nullopt, "ORWRITE(16)", 16,
             {0x8b, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0}, orwrite, wr});
    tab.add({0x9c, std::nullopt, "WRITE ATOMIC(16)", 16,
             {0x9c, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff, 0x1f, 0}, write_atomic, wr});
}

}  // namespace vstor::scsi
