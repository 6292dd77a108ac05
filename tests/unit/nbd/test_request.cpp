// Request header parsing and validation (proto.md "Request message", "Error values") and the
// NBD -> SCSI translation (CDB bytes, sense -> NBD error, GET LBA STATUS -> base:allocation).
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "nbd/protocol.hpp"
#include "nbd/request.hpp"
#include "nbd/scsi_translate.hpp"
#include "util/endian.hpp"
#include "check_condition.hpp"

namespace vstor::nbd {
namespace {

using test::check_condition;

RequestHeader req(std::uint16_t type, std::uint64_t offset, std::uint32_t length, std::uint16_t flags = 0) {
    return RequestHeader{flags, type, 7, offset, length};
}

ExportLimits thin_disk() {
    ExportLimits l;
    l.size_bytes = 1u << 20;
    l.block_size = 512;
    l.thin = true;
    l.structured = true;
    l.base_allocation = true;
    return l;
}

TEST(RequestParse, RoundTripAndBadMagic) {
    std::array<std::uint8_t, kRequestHeaderSize> b{};
    const RequestHeader h{cmd_flag::fua, cmd::write, 0x1122334455667788ull, 4096, 512};
    encode_request(h, b);
    EXPECT_EQ(util::load_be32(b.data()), 0x25609513u);
    auto p = parse_request(b);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->flags, h.flags);
    EXPECT_EQ(p->type, h.type);
    EXPECT_EQ(p->cookie, h.cookie);
    EXPECT_EQ(p->offset, h.offset);
    EXPECT_EQ(p->length, h.length);
    b[0] = 0;
    EXPECT_FALSE(parse_request(b));
}

TEST(RequestValidate, AcceptsWellFormedRequests) {
    const auto l = thin_disk();
    for (auto t : {cmd::read, cmd::write, cmd::trim, cmd::write_zeroes, cmd::cache, cmd::block_status})
        EXPECT_EQ(validate(req(t, 512, 4096), l).action, Action::execute) << command_name(t);
    EXPECT_EQ(validate(req(cmd::flush, 0, 0), l).action, Action::execute);
    EXPECT_EQ(validate(req(cmd::read, (1u << 20) - 512, 512), l).action, Action::execute);  // last block
    EXPECT_EQ(validate(req(cmd::disc, 0, 0), l).action, Action::disc);
}

TEST(RequestValidate, UnknownCommandAndFlagsAreEinval) {
    const auto l = thin_disk();
    auto v = validate(req(9, 0, 512), l);
    EXPECT_EQ(v.action, Action::reply_error);
    EXPECT_EQ(v.error, err::inval);
    EXPECT_EQ(validate(req(cmd::read, 0, 512, 1u << 9), l).error, err::inval);
    EXPECT_EQ(validate(req(cmd::write, 0, 512, cmd_flag::no_hole), l).error, err::inval);  // WRITE_ZEROES only
    EXPECT_EQ(validate(req(cmd::read, 0, 512, cmd_flag::req_one), l).error, err::inval);   // BLOCK_STATUS only
    auto simple = l;
    simple.structured = false;
    EXPECT_EQ(validate(req(cmd::read, 0, 512, cmd_flag::df), simple).error, err::inval);
    EXPECT_EQ(validate(req(cmd::read, 0, 512, cmd_flag::df), l).action, Action::execute);
    EXPECT_EQ(validate(req(cmd::write_zeroes, 0, 512, cmd_flag::no_hole | cmd_flag::fast_zero | cmd_flag::fua), l)
                  .action,
              Action::execute);
}

TEST(RequestValidate, OversizeReadIsEinvalOversizeWriteDisconnects) {
    const auto l = thin_disk();
    auto big = l;
    big.size_bytes = 1ull << 40;
    EXPECT_EQ(validate(req(cmd::read, 0, kMaxPayload + 512), big).error, err::inval);
    EXPECT_EQ(validate(req(cmd::write, 0, kMaxPayload + 512), big).action, Action::disconnect);
    EXPECT_EQ(validate(req(cmd::write, 0, kMaxPayload), big).action, Action::execute);
    // No payload: TRIM and WRITE_ZEROES may be larger than the maximum payload.
    EXPECT_EQ(validate(req(cmd::trim, 0, 0xfffffe00u), big).action, Action::execute);
}

TEST(RequestValidate, PastTheEndIsEnospcForWritesEinvalOtherwise) {
    const auto l = thin_disk();
    EXPECT_EQ(validate(req(cmd::write, 1u << 20, 512), l).error, err::nospc);
    EXPECT_EQ(validate(req(cmd::trim, (1u << 20) - 512, 1024), l).error, err::nospc);
    EXPECT_EQ(validate(req(cmd::write_zeroes, 0, (1u << 20) + 512), l).error, err::nospc);
    EXPECT_EQ(validate(req(cmd::read, 1u << 20, 512), l).error, err::inval);
    EXPECT_EQ(validate(req(cmd::block_status, 0, (1u << 20) + 512), l).error, err::inval);
    // offset + length overflowing 64 bits
    EXPECT_EQ(validate(req(cmd::read, ~0ull - 511, 1024), l).error, err::inval);
}

TEST(RequestValidate, MisalignedIsEinval) {
    const auto l = thin_disk();
    EXPECT_EQ(validate(req(cmd::read, 1, 512), l).error, err::inval);
    EXPECT_EQ(validate(req(cmd::write, 0, 100), l).error, err::inval);
    EXPECT_EQ(validate(req(cmd::trim, 256, 512), l).error, err::inval);
}

TEST(RequestValidate, ReadOnlyThickAndNoContext) {
    auto l = thin_disk();
    l.read_only = true;
    EXPECT_EQ(validate(req(cmd::write, 0, 512), l).error, err::perm);
    EXPECT_EQ(validate(req(cmd::trim, 0, 512), l).error, err::perm);
    EXPECT_EQ(validate(req(cmd::write_zeroes, 0, 512), l).error, err::perm);
    EXPECT_EQ(validate(req(cmd::read, 0, 512), l).action, Action::execute);
    l = thin_disk();
    l.thin = false;
    EXPECT_EQ(validate(req(cmd::trim, 0, 512), l).error, err::inval);
    l = thin_disk();
    l.base_allocation = false;
    EXPECT_EQ(validate(req(cmd::block_status, 0, 512), l).error, err::inval);
    EXPECT_EQ(validate(req(cmd::block_status, 0, 0), thin_disk()).error, err::inval);
}

// ---- Translation ----------------------------------------------------------------------------

TEST(ScsiTranslate, ReadWriteCdbs) {
    Command c;
    std::vector<std::byte> buf(4096);
    cdb_read16(c, 0x0102030405060708ull, 8, buf);
    EXPECT_EQ(c.cdb[0], 0x88);
    EXPECT_EQ(c.cdb_len, 16);
    EXPECT_EQ(util::load_be64(&c.cdb[2]), 0x0102030405060708ull);
    EXPECT_EQ(util::load_be32(&c.cdb[10]), 8u);
    EXPECT_EQ(c.dir, DataDirection::read);
    EXPECT_EQ(c.expected_length, 4096u);
    cdb_write16(c, 5, 8, true, buf);
    EXPECT_EQ(c.cdb[0], 0x8a);
    EXPECT_EQ(c.cdb[1], 0x08);  // FUA
    EXPECT_EQ(c.dir, DataDirection::write);
    cdb_write16(c, 5, 8, false, buf);
    EXPECT_EQ(c.cdb[1], 0x00);
    cdb_synchronize_cache16(c);
    EXPECT_EQ(c.cdb[0], 0x91);
    EXPECT_EQ(c.dir, DataDirection::none);
    std::vector<std::byte> zero(512);
    cdb_write_same16(c, 10, 100, true, zero);
    EXPECT_EQ(c.cdb[0], 0x93);
    EXPECT_EQ(c.cdb[1], 0x08);  // UNMAP
    EXPECT_EQ(c.expected_length, 512u);
    cdb_pre_fetch16(c, 1, 2);
    EXPECT_EQ(c.cdb[0], 0x90);
    cdb_get_lba_status16(c, 3, buf);
    EXPECT_EQ(c.cdb[0], 0x9e);
    EXPECT_EQ(c.cdb[1], 0x12);
    EXPECT_EQ(util::load_be32(&c.cdb[10]), 4096u);
}

TEST(ScsiTranslate, UnmapSplitsByBlockLimits) {
    BlockLimits lim;
    lim.max_unmap_blocks = 100;
    lim.max_unmap_descriptors = 3;
    std::vector<std::byte> param(8 + 16 * 8);
    Command c;
    const auto covered = cdb_unmap(c, 1000, 1000, lim, param);
    EXPECT_EQ(covered, 300u);
    EXPECT_EQ(c.cdb[0], 0x42);
    EXPECT_EQ(util::load_be16(&c.cdb[7]), 8 + 48);
    const auto* p = reinterpret_cast<const std::uint8_t*>(param.data());
    EXPECT_EQ(util::load_be16(p), 6 + 48);
    EXPECT_EQ(util::load_be16(p + 2), 48);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(util::load_be64(p + 8 + 16 * i), 1000u + 100u * i);
        EXPECT_EQ(util::load_be32(p + 16 + 16 * i), 100u);
    }
    EXPECT_EQ(cdb_unmap(c, 0, 50, lim, param), 50u);
}

TEST(ScsiTranslate, BlockLimitsFromVpd) {
    std::vector<std::uint8_t> v(64, 0);
    v[1] = 0xb0;
    util::store_be16(&v[2], 60);
    util::store_be32(&v[20], 4096);
    util::store_be32(&v[24], 16);
    util::store_be64(&v[36], 65536);
    const auto l = parse_block_limits(v);
    EXPECT_EQ(l.max_unmap_blocks, 4096u);
    EXPECT_EQ(l.max_unmap_descriptors, 16u);
    EXPECT_EQ(l.max_write_same_blocks, 65536u);
    EXPECT_EQ(write_same_chunk(l, 100000), 65536u);
    EXPECT_EQ(write_same_chunk(l, 10), 10u);
    // A short or foreign page keeps the defaults.
    const auto d = parse_block_limits(std::vector<std::uint8_t>{0, 0x83, 0, 0});
    EXPECT_EQ(d.max_unmap_blocks, BlockLimits{}.max_unmap_blocks);
}


TEST(ScsiTranslate, CompletionsMapToNbdErrors) {
    Completion good;
    EXPECT_EQ(map_completion(good, false).outcome, Outcome::ok);
    Completion met;
    met.status = scsi_status::condition_met;
    EXPECT_EQ(map_completion(met, false).outcome, Outcome::ok);
    Completion rc;
    rc.status = scsi_status::reservation_conflict;
    EXPECT_EQ(map_completion(rc, true).error, err::perm);
    EXPECT_EQ(map_completion(check_condition(0x6, 0x29, 0x00), true).outcome, Outcome::retry);        // power on reset
    EXPECT_EQ(map_completion(check_condition(0x6, 0x2a, 0x09, true), false).outcome, Outcome::retry); // capacity changed
    EXPECT_EQ(map_completion(check_condition(0x7, 0x27, 0x00), true).error, err::perm);              // write protected
    EXPECT_EQ(map_completion(check_condition(0x7, 0x27, 0x07), true).error, err::nospc);             // space allocation failed
    EXPECT_EQ(map_completion(check_condition(0x3, 0x11, 0x00), false).error, err::io);               // unrecovered read error
    EXPECT_EQ(map_completion(check_condition(0x5, 0x21, 0x00), true).error, err::nospc);             // LBA out of range
    EXPECT_EQ(map_completion(check_condition(0x5, 0x21, 0x00), false).error, err::inval);
    EXPECT_EQ(map_completion(check_condition(0x5, 0x24, 0x00, true), false).error, err::inval);      // invalid field
    EXPECT_EQ(map_completion(check_condition(0x2, 0x3a, 0x00), false).error, err::io);               // medium not present
    Completion busy;
    busy.status = scsi_status::busy;
    EXPECT_EQ(map_completion(busy, false).outcome, Outcome::retry);
    Completion aborted;
    aborted.aborted = true;
    EXPECT_EQ(map_completion(aborted, false).error, err::io);
}

std::vector<std::uint8_t> lba_status(std::vector<std::tuple<std::uint64_t, std::uint32_t, std::uint8_t>> d) {
    std::vector<std::uint8_t> b(8 + 16 * d.size(), 0);
    util::store_be32(b.data(), static_cast<std::uint32_t>(b.size() - 4));
    for (std::size_t i = 0; i < d.size(); ++i) {
        util::store_be64(&b[8 + 16 * i], std::get<0>(d[i]));
        util::store_be32(&b[16 + 16 * i], std::get<1>(d[i]));
        b[20 + 16 * i] = std::get<2>(d[i]);
    }
    return b;
}

TEST(ScsiTranslate, LbaStatusBecomesBaseAllocation) {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
    // mapped 0..9, deallocated 10..29, deallocated 30..99 (merged), mapped 100..
    auto d = lba_status({{0, 10, 0}, {10, 20, 1}, {30, 70, 1}, {100, 1000, 0}});
    lba_status_to_extents(d, 0, 200, 512, true, false, out);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0], std::make_pair(10u * 512, 0u));
    EXPECT_EQ(out[1], std::make_pair(90u * 512, kStateHole | kStateZero));
    EXPECT_EQ(out[2], std::make_pair(100u * 512, 0u));  // clipped to the request
    lba_status_to_extents(d, 0, 200, 512, true, true, out);
    EXPECT_EQ(out.size(), 1u);
    lba_status_to_extents(d, 0, 200, 512, false, false, out);
    EXPECT_EQ(out[1].second, kStateHole);  // without LBPRZ holes are not known to be zero
    // Starting inside the first descriptor.
    lba_status_to_extents(d, 5, 12, 512, true, false, out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].first, 5u * 512);
    EXPECT_EQ(out[1].first, 2u * 512);
    // A gap or garbage stops the walk instead of inventing data.
    lba_status_to_extents(lba_status({{50, 10, 0}}), 0, 100, 512, true, false, out);
    EXPECT_TRUE(out.empty());
    std::vector<std::uint8_t> junk(5, 0xff);
    lba_status_to_extents(junk, 0, 100, 512, true, false, out);
    EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace vstor::nbd
