// SBC-4 SYNCHRONIZE CACHE (10/16) and PRE-FETCH (10/16).
#include "scsi/command_table.hpp"
#include "scsi/families.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/sbc.hpp"
#include "util/endian.hpp"

namespace vstor::scsi {

namespace {

struct CacheRange {
    std::uint64_t lba;
    std::uint64_t blocks;
};

CacheRange decode_cache_range(const std::uint8_t* cdb) {
    if (cdb[0] == 0x35 || cdb[0] == 0x34) return {util::load_be32(cdb + 2), util::load_be16(cdb + 7)};
    return {util::load_be64(cdb + 2), util::load_be32(cdb + 10)};
}

// SBC-4 5.24/5.25: the range is checked even though the whole cache is flushed; zero blocks
// means "to the end of the medium".
Outcome synchronize_cache(const TaskPtr& t) {
    const CacheRange r = decode_cache_range(t->cdb());
    if (auto s = check_range(*t, r.lba, r.blocks)) return Outcome::check(*s);
    t->lu->backend().flush([t](IoStatus s, std::string_view why) {
        t->complete(io_outcome(s, true, Outcome::good(), why));
    });
    return Outcome::pending();
}

// SBC-4 5.9/5.10: every block fits in the (virtual) cache, so the answer is CONDITION MET.
Outcome pre_fetch(const TaskPtr& t) {
    const CacheRange r = decode_cache_range(t->cdb());
    if (auto s = check_range(*t, r.lba, r.blocks)) return Outcome::check(*s);
    return Outcome::with_status(scsi_status::condition_met);
}

}  // namespace

void register_sbc_cache(CommandTable& tab) {
    using namespace cmd_flag;
    const auto f = needs_medium | reservation_read;
    // Byte 1 bit 2 (SYNC_NV) is obsolete but still sent by initiators: accepted and ignored.
    tab.add({0x35, std::nullopt, "SYNCHRONIZE CACHE(10)", 10, {0x35, 0x06, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0},
             synchronize_cache, f});
    tab.add({0x91, std::nullopt, "SYNCHRONIZE CACHE(16)", 16,
             {0x91, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0},
             synchronize_cache, f});
    tab.add({0x34, std::nullopt, "PRE-FETCH(10)", 10, {0x34, 0x02, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0},
             pre_fetch, f});
    tab.add({0x90, std::nullopt, "PRE-FETCH(16)", 16,
             {0x90, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0},
             pre_fetch, f});
}

}  // namespace vstor::scsi
