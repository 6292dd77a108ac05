// SBC-4 START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, READ DEFECT DATA (10/12) and SANITIZE.
#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

#include "scsi/command_table.hpp"
#include "scsi/families.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/nexus_state.hpp"
#include "scsi/sbc_blocking_io.hpp"
#include "scsi/target.hpp"
#include "util/endian.hpp"
#include "util/thread_pool.hpp"

namespace vstor::scsi {

namespace {

// SBC-4 5.27. A virtual disk has no spindle: START=0 without LOEJ only flushes. LOEJ moves the
// medium of a removable LUN.
Outcome start_stop_unit(const TaskPtr& t) {
    const std::uint8_t* cdb = t->cdb();
    const std::uint8_t power_condition = cdb[4] >> 4;
    const bool no_flush = cdb[4] & 0x04;
    const bool loej = cdb[4] & 0x02;
    const bool start = cdb[4] & 0x01;
    LogicalUnit& lu = *t->lu;
    // A virtual disk has no power states to enter: any power condition is accepted as done, and
    // START and LOEJ are then ignored (SBC-4 5.27).
    if (power_condition != 0) return Outcome::good();
    if (!start && !no_flush) {
        if (auto st = util::wait_io([&](IoCallback cb) { lu.backend().flush(std::move(cb)); }); st != IoStatus::ok)
            return Outcome::check(sense::from_io_status(st, true));
    }
    if (loej) {
        if (!lu.removable()) return Outcome::check(sense::invalid_field_in_cdb(4, 1));
        // SBC-4 5.14: while removal is prevented the medium can be neither ejected nor loaded.
        if (lu.removal_prevented()) return Outcome::check(sense::medium_removal_prevented());
        if (!start) {
            lu.medium_present = false;
        } else if (!lu.medium_present.exchange(true)) {
            lu.target().broadcast_ua(lu.lun(), sense::ua_medium_may_have_changed(), t->nexus);
        }
    }
    return Outcome::good();
}

Outcome prevent_allow(const TaskPtr& t) {
    const std::uint8_t prevent = t->cdb()[4] & 0x03;
    if (prevent > 1) return Outcome::check(sense::invalid_field_in_cdb(4, 1));
    if (!t->lu->removable() && prevent) {
        // Nothing can be removed from a fixed LUN; remembering the request is harmless and
        // lets the same initiator code run against both kinds.
    }
    t->lu->set_prevent(t->nexus ? t->nexus->instance_key() : std::string(), prevent == 1);
    return Outcome::good();
}

// No defects are ever reported: an empty list in the format asked for.
Outcome read_defect_data(const TaskPtr& t) {
    const std::uint8_t* cdb = t->cdb();
    const bool twelve = cdb[0] == 0xb7;
    const std::uint8_t flags = twelve ? cdb[1] : cdb[2];
    const std::uint32_t alloc = twelve ? util::load_be32(cdb + 6) : util::load_be16(cdb + 7);
    std::vector<std::uint8_t> d(twelve ? 8 : 4, 0);
    d[1] = flags & 0x1f;  // PLISTV/GLISTV echo what was asked, FORMAT as requested
    d.resize(std::min<std::size_t>(d.size(), alloc));
    return reply_data(*t, d);
}

// What a SANITIZE asks for: OVERWRITE with a pattern, or an erase (no pattern).
struct SanitizeRequest {
    std::vector<std::byte> pattern;
    unsigned passes = 1;
    bool invert = false;
};

// SBC-4 5.30: the CDB and parameter list. An outcome when the command ends here (refused, or
// EXIT FAILURE MODE), nullopt when the sanitize is to run.
std::optional<Outcome> parse_sanitize(const Task& t, SanitizeRequest& rq) {
    const std::uint8_t* cdb = t.cdb();
    const std::uint8_t sa = cdb[1] & 0x1f;
    const std::uint16_t len = util::load_be16(cdb + 7);
    const std::uint32_t bs = t.lu->block_size();
    if (sa == 0x1f) {  // EXIT FAILURE MODE: takes no parameter list; no failure mode is ever entered
        if (len != 0) return Outcome::check(sense::invalid_field_in_cdb(7, 7));
        return Outcome::good();
    }
    if (sa == 0x01) {  // OVERWRITE
        if (len < 5) return Outcome::check(sense::invalid_field_in_cdb(7, 7));
        if (t.cmd.data.size() < len) return Outcome::check(sense::param_list_length_error());
        const auto* p = reinterpret_cast<const std::uint8_t*>(t.cmd.data.data());
        const std::uint16_t plen = util::load_be16(p + 2);
        rq.passes = p[0] & 0x1f;                                                             // OWCOUNT
        if (rq.passes == 0) return Outcome::check(sense::invalid_field_in_param(0, 4));
        if (p[0] & 0x60) return Outcome::check(sense::invalid_field_in_param(0, 6));  // TEST: none defined
        if (plen == 0 || plen > bs) return Outcome::check(sense::invalid_field_in_param(2, 7));
        if (4u + plen != len) return Outcome::check(sense::invalid_field_in_cdb(7, 7));
        rq.pattern.resize(bs);
        for (std::size_t i = 0; i < bs; ++i) rq.pattern[i] = t.cmd.data[4 + i % plen];
        rq.invert = p[0] & 0x80;  // INVERT: the pattern is inverted between consecutive passes
        return std::nullopt;
    }
    if (sa == 0x02 || sa == 0x03) {
        // BLOCK ERASE, and CRYPTOGRAPHIC ERASE: vstor keeps no encrypted data, so it makes the
        // old data irretrievable the same way, by deallocating (or zeroing) every block.
        if (len != 0) return Outcome::check(sense::invalid_field_in_cdb(7, 7));
        return std::nullopt;
    }
    return Outcome::check(sense::invalid_field_in_cdb(1, 4));
}

// SBC-4 5.30. Runs on the worker pool; with IMMED the command completes first and the progress
// shows through REQUEST SENSE (NOT READY, SANITIZE IN PROGRESS) until it is done.
Outcome sanitize(const TaskPtr& t) {
    const bool immed = t->cdb()[1] & 0x80;
    const std::uint16_t len = util::load_be16(t->cdb() + 7);
    LogicalUnit& lu = *t->lu;
    const std::uint32_t bs = lu.block_size();
    SanitizeRequest rq;
    if (auto done = parse_sanitize(*t, rq)) return *done;
    auto& pattern = rq.pattern;
    const unsigned passes = rq.passes;
    const bool invert = rq.invert;
    lu.sanitize_progress = 0;
    // Answered before the sanitize ends (IMMED, or aborted below): the engine is told pending.
    if (immed) t->complete(Outcome::good(len));
    // SBC-4 4.11: a task management function (ABORT TASK, LOGICAL UNIT RESET, I_T nexus loss, …)
    // ends the SANITIZE command but not the sanitize operation, which goes on with TEST UNIT
    // READY reporting its progress. So an aborted command is answered (finish() turns it into
    // TASK ABORTED or no response) within one step and the loop carries on without it.
    bool answered = immed;
    const auto let_go_if_aborted = [&] {
        if (!answered && t->aborted.load()) {
            answered = true;
            t->complete(Outcome::good(len));
        }
    };
    const std::uint64_t blocks = lu.block_count();
    // Steps of at most 4 MiB: progress moves visibly and an abort is noticed quickly.
    const std::uint64_t step = std::min(std::max<std::uint64_t>(1, blocks / 64), std::max<std::uint64_t>(1, (4u << 20) / bs));
    const std::uint64_t total = blocks * passes;
    IoStatus st = IoStatus::ok;
    // sanitize_rate paces OVERWRITE: after each step, wait until the bytes written so far fit
    // the rate. Once the server is stopping the pacing ends and the rest is written at full
    // speed: a sanitize that was started is finished, not left half done.
    const std::uint64_t rate = pattern.empty() ? 0 : lu.options().sanitize_rate;
    const auto started = std::chrono::steady_clock::now();
    std::uint64_t written = 0;
    bool unpaced = rate == 0 || t->pool == nullptr;
    const auto keep_to_rate = [&] {
        let_go_if_aborted();
        if (unpaced) return;
        const auto due = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                       std::chrono::duration<double>(static_cast<double>(written) / static_cast<double>(rate)));
        for (auto now = std::chrono::steady_clock::now(); !unpaced && now < due; now = std::chrono::steady_clock::now()) {
            unpaced = t->pool->sleep_until(std::min(due, now + std::chrono::milliseconds(100)));
            let_go_if_aborted();
        }
    };
    for (unsigned pass = 0; pass < passes && st == IoStatus::ok; ++pass) {
        if (pass > 0 && invert)
            for (auto& b : pattern) b = ~b;
        for (std::uint64_t lba = 0; lba < blocks && st == IoStatus::ok; lba += step) {
            const std::uint64_t n = std::min(step, blocks - lba);
            if (pattern.empty())
                st = util::wait_io([&](IoCallback cb) {
                    lu.thin() ? lu.backend().unmap(lba, n, std::move(cb)) : lu.backend().write_zeroes(lba, n, std::move(cb));
                });
            else
                st = write_pattern(lu, lba, n, pattern, false);
            lu.sanitize_progress = static_cast<int>((pass * blocks + lba + n) * 65535 / total);
            written += n * bs;
            keep_to_rate();
        }
        // Each pass reaches the medium before the next starts: otherwise a cache would merge
        // the passes and only the last would ever be written.
        if (st == IoStatus::ok) st = util::wait_io([&](IoCallback cb) { lu.backend().flush(std::move(cb)); });
    }
    lu.sanitize_progress = -1;
    let_go_if_aborted();
    if (answered) return Outcome::pending();
    if (st != IoStatus::ok) return Outcome::check(sense::sanitize_failed());
    return Outcome::good(len);
}

}  // namespace

void register_sbc_medium(CommandTable& tab) {
    using namespace cmd_flag;
    tab.add({0x1b, std::nullopt, "START STOP UNIT", 6, {0x1b, 0x01, 0, 0x0f, 0xf7, 0}, start_stop_unit, blocking});
    tab.add({0x1e, std::nullopt, "PREVENT ALLOW MEDIUM REMOVAL", 6, {0x1e, 0, 0, 0, 0x03, 0}, prevent_allow, none});
    tab.add({0x37, std::nullopt, "READ DEFECT DATA(10)", 10, {0x37, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0},
             read_defect_data, needs_medium | reservation_read});
    tab.add({0xb7, std::nullopt, "READ DEFECT DATA(12)", 12, {0xb7, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0},
             read_defect_data, needs_medium | reservation_read});
    const auto san = needs_medium | writes_medium | blocking;
    for (std::uint16_t sa : {0x01, 0x02, 0x03, 0x1f})
        tab.add({0x48, sa, "SANITIZE", 10, {0x48, 0xbf, 0, 0, 0, 0, 0, 0xff, 0xff, 0}, sanitize, san, 3600});
}

}  // namespace vstor::scsi
