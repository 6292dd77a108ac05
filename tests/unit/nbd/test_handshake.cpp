// Option haggling (proto.md "Fixed newstyle negotiation") driven byte by byte against a fake
// export catalog: every reply is decoded and checked.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "nbd/handshake.hpp"
#include "nbd/protocol.hpp"
#include "util/endian.hpp"

namespace vstor::nbd {
namespace {

class FakeCatalog : public ExportCatalog {
public:
    FakeCatalog() {
        add({"disk", "a disk", 0, 0, 1ull << 30, 512, false, true});
        add({"ro", "", 0, 1, 1ull << 20, 4096, true, false});
    }
    void add(ExportInfo e) { exports_[e.name] = e; }
    std::optional<ExportInfo> lookup(std::string_view name) const override {
        if (name.empty()) return exports_.at("disk");
        auto it = exports_.find(std::string(name));
        if (it == exports_.end()) return std::nullopt;
        return it->second;
    }
    std::vector<ExportInfo> list() const override {
        std::vector<ExportInfo> v;
        for (const auto& [k, e] : exports_) v.push_back(e);
        return v;
    }

private:
    std::map<std::string, ExportInfo> exports_;
};

struct Rep {
    std::uint32_t option, type;
    std::vector<std::uint8_t> data;
};

// Splits server output into option replies.
std::vector<Rep> parse_replies(const std::vector<std::uint8_t>& out) {
    std::vector<Rep> v;
    std::size_t at = 0;
    while (at + 20 <= out.size()) {
        EXPECT_EQ(util::load_be64(&out[at]), kOptReplyMagic);
        Rep r{util::load_be32(&out[at + 8]), util::load_be32(&out[at + 12]), {}};
        const std::size_t len = util::load_be32(&out[at + 16]);
        EXPECT_LE(at + 20 + len, out.size());
        r.data.assign(out.begin() + static_cast<long>(at + 20), out.begin() + static_cast<long>(at + 20 + len));
        v.push_back(r);
        at += 20 + len;
    }
    EXPECT_EQ(at, out.size());
    return v;
}

std::vector<std::uint8_t> u32(std::uint32_t x) {
    std::vector<std::uint8_t> b(4);
    util::store_be32(b.data(), x);
    return b;
}

std::vector<std::uint8_t> option(std::uint32_t opt, const std::vector<std::uint8_t>& data) {
    // Sized up front: g++ 12 at -O2 misreads insert() into a 16-byte vector (-Warray-bounds).
    std::vector<std::uint8_t> b;
    b.reserve(16 + data.size());
    b.resize(16);
    util::store_be64(b.data(), kOptMagic);
    util::store_be32(&b[8], opt);
    util::store_be32(&b[12], static_cast<std::uint32_t>(data.size()));
    b.insert(b.end(), data.begin(), data.end());
    return b;
}

std::vector<std::uint8_t> name_data(const std::string& name, std::vector<std::uint16_t> infos = {}) {
    auto d = u32(static_cast<std::uint32_t>(name.size()));
    d.insert(d.end(), name.begin(), name.end());
    d.push_back(static_cast<std::uint8_t>(infos.size() >> 8));
    d.push_back(static_cast<std::uint8_t>(infos.size()));
    for (auto i : infos) {
        d.push_back(static_cast<std::uint8_t>(i >> 8));
        d.push_back(static_cast<std::uint8_t>(i));
    }
    return d;
}

std::vector<std::uint8_t> meta_data(const std::string& name, const std::vector<std::string>& queries) {
    auto d = u32(static_cast<std::uint32_t>(name.size()));
    d.insert(d.end(), name.begin(), name.end());
    auto n = u32(static_cast<std::uint32_t>(queries.size()));
    d.insert(d.end(), n.begin(), n.end());
    for (const auto& q : queries) {
        auto l = u32(static_cast<std::uint32_t>(q.size()));
        d.insert(d.end(), l.begin(), l.end());
        d.insert(d.end(), q.begin(), q.end());
    }
    return d;
}

class HandshakeTest : public ::testing::Test {
protected:
    // Feeds client flags then `bytes`, returns the server's output after the flags.
    std::vector<std::uint8_t> run(const std::vector<std::uint8_t>& bytes, std::uint32_t client_flags = 3) {
        auto f = u32(client_flags);
        std::vector<std::uint8_t> out;
        EXPECT_EQ(hs.feed(f, out), 4u);
        EXPECT_TRUE(out.empty());
        consumed = hs.feed(bytes, out);
        return out;
    }
    FakeCatalog cat;
    Handshake hs{cat};
    std::size_t consumed = 0;
};

TEST(HandshakeGreeting, IsNbdMagicIhaveoptAndFlags) {
    std::vector<std::uint8_t> out;
    Handshake::greeting(out);
    ASSERT_EQ(out.size(), 18u);
    EXPECT_EQ(util::load_be64(out.data()), 0x4e42444d41474943ull);
    EXPECT_EQ(util::load_be64(&out[8]), 0x49484156454f5054ull);
    EXPECT_EQ(util::load_be16(&out[16]), kFlagFixedNewstyle | kFlagNoZeroes);
}

TEST_F(HandshakeTest, UnknownClientFlagsFail) {
    std::vector<std::uint8_t> out;
    hs.feed(u32(0x4), out);
    EXPECT_EQ(hs.state(), Handshake::State::failed);
}

TEST_F(HandshakeTest, BadOptionMagicFails) {
    auto b = option(opt::list, {});
    b[0] ^= 0xff;
    run(b);
    EXPECT_EQ(hs.state(), Handshake::State::failed);
}

TEST_F(HandshakeTest, GoAnswersInfosThenAckAndEntersTransmission) {
    auto out = run(option(opt::go, name_data("disk", {info::name, info::description, info::block_size})));
    EXPECT_EQ(hs.state(), Handshake::State::transmission);
    auto reps = parse_replies(out);
    ASSERT_GE(reps.size(), 4u);
    EXPECT_EQ(reps.back().type, rep::ack);
    bool export_seen = false, bs_seen = false, name_seen = false, desc_seen = false;
    for (const auto& r : reps) {
        EXPECT_EQ(r.option, opt::go);
        if (r.type != rep::info) continue;
        switch (util::load_be16(r.data.data())) {
            case info::export_:
                export_seen = true;
                ASSERT_EQ(r.data.size(), 12u);
                EXPECT_EQ(util::load_be64(&r.data[2]), 1ull << 30);
                EXPECT_EQ(util::load_be16(&r.data[10]), transmission_flags(*cat.lookup("disk"), false));
                break;
            case info::block_size:
                bs_seen = true;
                ASSERT_EQ(r.data.size(), 14u);
                EXPECT_EQ(util::load_be32(&r.data[2]), 512u);
                EXPECT_EQ(util::load_be32(&r.data[6]), 4096u);
                EXPECT_EQ(util::load_be32(&r.data[10]), kMaxPayload);
                break;
            case info::name:
                name_seen = std::string(r.data.begin() + 2, r.data.end()) == "disk";
                break;
            case info::description:
                desc_seen = std::string(r.data.begin() + 2, r.data.end()) == "a disk";
                break;
        }
    }
    EXPECT_TRUE(export_seen && bs_seen && name_seen && desc_seen);
    EXPECT_EQ(hs.result().exp.name, "disk");
    EXPECT_FALSE(hs.result().structured);
}

TEST_F(HandshakeTest, InfoDoesNotEndHaggling) {
    auto out = run(option(opt::info, name_data("ro")));
    EXPECT_EQ(hs.state(), Handshake::State::haggling);
    auto reps = parse_replies(out);
    ASSERT_FALSE(reps.empty());
    EXPECT_EQ(reps.back().type, rep::ack);
}

TEST_F(HandshakeTest, UnknownExportInGoIsErrUnknown) {
    auto out = run(option(opt::go, name_data("nope")));
    EXPECT_EQ(hs.state(), Handshake::State::haggling);
    auto reps = parse_replies(out);
    ASSERT_EQ(reps.size(), 1u);
    EXPECT_EQ(reps[0].type, rep::err_unknown);
}

TEST_F(HandshakeTest, MalformedGoIsErrInvalid) {
    auto d = name_data("disk", {info::name});
    d.pop_back();  // info list one byte short
    auto reps = parse_replies(run(option(opt::go, d)));
    ASSERT_EQ(reps.size(), 1u);
    EXPECT_EQ(reps[0].type, rep::err_invalid);
    // A name length past the end of the option.
    std::vector<std::uint8_t> out;
    hs.feed(option(opt::go, u32(1000)), out);
    reps = parse_replies(out);
    ASSERT_EQ(reps.size(), 1u);
    EXPECT_EQ(reps[0].type, rep::err_invalid);
    EXPECT_EQ(hs.state(), Handshake::State::haggling);
}

TEST_F(HandshakeTest, EmptyNameIsTheDefaultExport) {
    run(option(opt::go, name_data("")));
    ASSERT_EQ(hs.state(), Handshake::State::transmission);
    EXPECT_EQ(hs.result().exp.name, "disk");
}

TEST_F(HandshakeTest, ListNamesEveryExport) {
    auto reps = parse_replies(run(option(opt::list, {})));
    ASSERT_EQ(reps.size(), 3u);
    std::vector<std::string> names;
    for (int i = 0; i < 2; ++i) {
        EXPECT_EQ(reps[i].type, rep::server);
        const auto len = util::load_be32(reps[i].data.data());
        names.emplace_back(reps[i].data.begin() + 4, reps[i].data.begin() + 4 + len);
    }
    EXPECT_EQ(names, (std::vector<std::string>{"disk", "ro"}));
    EXPECT_EQ(reps[2].type, rep::ack);
}

TEST_F(HandshakeTest, ListWithDataIsInvalid) {
    auto reps = parse_replies(run(option(opt::list, {1, 2})));
    ASSERT_EQ(reps.size(), 1u);
    EXPECT_EQ(reps[0].type, rep::err_invalid);
}

TEST_F(HandshakeTest, ExportNameWithNoZeroesSendsTenBytes) {
    const std::string n = "ro";
    auto out = run(option(opt::export_name, std::vector<std::uint8_t>(n.begin(), n.end())));
    EXPECT_EQ(hs.state(), Handshake::State::transmission);
    ASSERT_EQ(out.size(), 10u);
    EXPECT_EQ(util::load_be64(out.data()), 1ull << 20);
    const auto flags = util::load_be16(&out[8]);
    EXPECT_TRUE(flags & tflag::read_only);
    EXPECT_FALSE(flags & tflag::send_trim);
    EXPECT_FALSE(flags & tflag::send_write_zeroes);
}

TEST_F(HandshakeTest, ExportNameWithoutNoZeroesPads124Bytes) {
    const std::string n = "disk";
    auto out = run(option(opt::export_name, std::vector<std::uint8_t>(n.begin(), n.end())), 1);
    ASSERT_EQ(out.size(), 134u);
    for (std::size_t i = 10; i < out.size(); ++i) EXPECT_EQ(out[i], 0);
}

TEST_F(HandshakeTest, UnknownExportNameDisconnects) {
    const std::string n = "missing";
    run(option(opt::export_name, std::vector<std::uint8_t>(n.begin(), n.end())));
    EXPECT_EQ(hs.state(), Handshake::State::failed);
}

TEST_F(HandshakeTest, AbortIsAcknowledged) {
    auto reps = parse_replies(run(option(opt::abort, {})));
    ASSERT_EQ(reps.size(), 1u);
    EXPECT_EQ(reps[0].type, rep::ack);
    EXPECT_EQ(hs.state(), Handshake::State::aborted);
}

TEST_F(HandshakeTest, UnknownOptionAndStarttlsAreUnsupported) {
    auto b = option(42, {1, 2, 3});
    auto t = option(opt::starttls, {});
    b.insert(b.end(), t.begin(), t.end());
    auto reps = parse_replies(run(b));
    ASSERT_EQ(reps.size(), 2u);
    EXPECT_EQ(reps[0].type, rep::err_unsup);
    EXPECT_EQ(reps[0].option, 42u);
    EXPECT_EQ(reps[1].type, rep::err_unsup);
    EXPECT_EQ(hs.state(), Handshake::State::haggling);
}

TEST_F(HandshakeTest, TooBigOptionIsSkippedAndHagglingGoesOn) {
    std::vector<std::uint8_t> big(kMaxOptionLength + 100, 0xaa);
    auto b = option(opt::info, big);
    auto g = option(opt::go, name_data("disk"));
    b.insert(b.end(), g.begin(), g.end());
    auto reps = parse_replies(run(b));
    ASSERT_GE(reps.size(), 2u);
    EXPECT_EQ(reps[0].type, rep::err_too_big);
    EXPECT_EQ(reps.back().type, rep::ack);
    EXPECT_EQ(hs.state(), Handshake::State::transmission);
    EXPECT_EQ(consumed, b.size());
}

TEST_F(HandshakeTest, StructuredReplyThenMetaContextSelectsBaseAllocation) {
    auto b = option(opt::structured_reply, {});
    auto l = option(opt::list_meta_context, meta_data("disk", {}));
    auto s = option(opt::set_meta_context, meta_data("disk", {"base:allocation", "qemu:dirty-bitmap:x"}));
    auto g = option(opt::go, name_data("disk"));
    for (auto* x : {&l, &s, &g}) b.insert(b.end(), x->begin(), x->end());
    auto reps = parse_replies(run(b));
    ASSERT_EQ(hs.state(), Handshake::State::transmission);
    EXPECT_TRUE(hs.result().structured);
    EXPECT_TRUE(hs.result().base_allocation);
    EXPECT_TRUE(hs.result().flags & tflag::send_df);
    int contexts = 0;
    for (const auto& r : reps)
        if (r.type == rep::meta_context) {
            ++contexts;
            EXPECT_EQ(std::string(r.data.begin() + 4, r.data.end()), "base:allocation");
            if (r.option == opt::set_meta_context) {
                EXPECT_EQ(util::load_be32(r.data.data()), kBaseAllocationId);
            }
        }
    EXPECT_EQ(contexts, 2);  // one from LIST, one from SET
}

TEST_F(HandshakeTest, MetaContextNeedsStructuredReplies) {
    auto reps = parse_replies(run(option(opt::set_meta_context, meta_data("disk", {"base:allocation"}))));
    ASSERT_EQ(reps.size(), 1u);
    EXPECT_EQ(reps[0].type, rep::err_invalid);
}

TEST_F(HandshakeTest, MetaContextForAnotherExportIsNotUsed) {
    auto b = option(opt::structured_reply, {});
    auto s = option(opt::set_meta_context, meta_data("ro", {"base:allocation"}));
    auto g = option(opt::go, name_data("disk"));
    b.insert(b.end(), s.begin(), s.end());
    b.insert(b.end(), g.begin(), g.end());
    run(b);
    ASSERT_EQ(hs.state(), Handshake::State::transmission);
    EXPECT_FALSE(hs.result().base_allocation);
}

TEST_F(HandshakeTest, TruncatedMetaQueryIsInvalid) {
    auto d = meta_data("disk", {"base:allocation"});
    d.resize(d.size() - 3);
    auto b = option(opt::structured_reply, {});
    auto s = option(opt::set_meta_context, d);
    b.insert(b.end(), s.begin(), s.end());
    auto reps = parse_replies(run(b));
    ASSERT_EQ(reps.size(), 2u);
    EXPECT_EQ(reps[1].type, rep::err_invalid);
}

TEST_F(HandshakeTest, ByteAtATimeGivesTheSameAnswer) {
    auto b = option(opt::structured_reply, {});
    auto g = option(opt::go, name_data("disk", {info::name}));
    b.insert(b.end(), g.begin(), g.end());
    FakeCatalog c2;
    Handshake whole(c2), bytewise(c2);
    std::vector<std::uint8_t> o1, o2;
    whole.feed(u32(3), o1);
    whole.feed(b, o1);
    const auto flags = u32(3);
    for (auto x : flags) bytewise.feed(std::span(&x, 1), o2);
    for (auto x : b) bytewise.feed(std::span(&x, 1), o2);
    EXPECT_EQ(o1, o2);
    EXPECT_EQ(bytewise.state(), Handshake::State::transmission);
}

TEST_F(HandshakeTest, BytesAfterGoAreLeftForTransmission) {
    auto b = option(opt::go, name_data("disk"));
    const std::size_t go_len = b.size();
    b.insert(b.end(), {0x25, 0x60, 0x95, 0x13});
    run(b);
    EXPECT_EQ(hs.state(), Handshake::State::transmission);
    EXPECT_EQ(consumed, go_len);
}

TEST(TransmissionFlags, TellTheTruth) {
    ExportInfo thin{"a", "", 0, 0, 1 << 20, 512, false, true};
    ExportInfo thick = thin;
    thick.thin = false;
    ExportInfo ro = thin;
    ro.read_only = true;
    EXPECT_TRUE(transmission_flags(thin, true) & tflag::send_trim);
    EXPECT_FALSE(transmission_flags(thick, true) & tflag::send_trim);
    EXPECT_TRUE(transmission_flags(thick, true) & tflag::send_write_zeroes);
    EXPECT_TRUE(transmission_flags(ro, true) & tflag::read_only);
    EXPECT_FALSE(transmission_flags(ro, true) & (tflag::send_write_zeroes | tflag::send_trim));
    EXPECT_FALSE(transmission_flags(thin, false) & tflag::send_df);
    EXPECT_TRUE(transmission_flags(thin, false) & tflag::can_multi_conn);
    EXPECT_TRUE(transmission_flags(thin, false) & tflag::has_flags);
}

}  // namespace
}  // namespace vstor::nbd

namespace vstor::nbd {
namespace {

class HandshakeTlsTest : public ::testing::Test {
protected:
    std::vector<std::uint8_t> feed(Handshake& hs, const std::vector<std::uint8_t>& bytes) {
        std::vector<std::uint8_t> out;
        hs.feed(bytes, out);
        return out;
    }
    std::vector<std::uint8_t> flags() {
        std::vector<std::uint8_t> f(4);
        util::store_be32(f.data(), 3);
        return f;
    }
    FakeCatalog cat;
};

TEST_F(HandshakeTlsTest, StarttlsUnsupportedWithoutTls) {
    Handshake hs(cat);
    feed(hs, flags());
    auto reps = parse_replies(feed(hs, option(opt::starttls, {})));
    ASSERT_EQ(reps.size(), 1u);
    EXPECT_EQ(reps[0].type, rep::err_unsup);
    EXPECT_EQ(hs.state(), Handshake::State::haggling);
}

TEST_F(HandshakeTlsTest, RequiredRefusesOptionsUntilStarttls) {
    Handshake hs(cat, TlsPolicy::required);
    feed(hs, flags());
    for (auto o : {opt::list, opt::go, opt::info, opt::structured_reply}) {
        auto reps = parse_replies(feed(hs, option(o, o == opt::go || o == opt::info ? name_data("disk")
                                                                                      : std::vector<std::uint8_t>{})));
        ASSERT_EQ(reps.size(), 1u) << option_name(o);
        EXPECT_EQ(reps[0].type, rep::err_tls_reqd) << option_name(o);
    }
    // STARTTLS: ACK, then the connection runs the TLS handshake; bytes after it are not consumed.
    auto b = option(opt::starttls, {});
    const std::size_t n = b.size();
    b.push_back(0x16);  // a TLS record would follow
    std::vector<std::uint8_t> out;
    EXPECT_EQ(hs.feed(b, out), n);
    auto reps = parse_replies(out);
    ASSERT_EQ(reps.size(), 1u);
    EXPECT_EQ(reps[0].type, rep::ack);
    EXPECT_EQ(hs.state(), Handshake::State::starttls);
    hs.tls_started();
    EXPECT_TRUE(hs.tls_active());
    EXPECT_EQ(hs.state(), Handshake::State::haggling);
    // Over TLS everything works; a second STARTTLS is invalid.
    reps = parse_replies(feed(hs, option(opt::starttls, {})));
    ASSERT_EQ(reps.size(), 1u);
    EXPECT_EQ(reps[0].type, rep::err_invalid);
    reps = parse_replies(feed(hs, option(opt::go, name_data("disk"))));
    EXPECT_EQ(reps.back().type, rep::ack);
    EXPECT_EQ(hs.state(), Handshake::State::transmission);
}

TEST_F(HandshakeTlsTest, RequiredExportNameBeforeTlsDisconnects) {
    Handshake hs(cat, TlsPolicy::required);
    feed(hs, flags());
    const std::string n = "disk";
    feed(hs, option(opt::export_name, std::vector<std::uint8_t>(n.begin(), n.end())));
    EXPECT_EQ(hs.state(), Handshake::State::failed);
}

TEST_F(HandshakeTlsTest, RequiredStillAllowsAbort) {
    Handshake hs(cat, TlsPolicy::required);
    feed(hs, flags());
    auto reps = parse_replies(feed(hs, option(opt::abort, {})));
    ASSERT_EQ(reps.size(), 1u);
    EXPECT_EQ(reps[0].type, rep::ack);
    EXPECT_EQ(hs.state(), Handshake::State::aborted);
}

TEST_F(HandshakeTlsTest, OfferedAllowsPlainAndForgetsPlainNegotiationAfterUpgrade) {
    Handshake hs(cat, TlsPolicy::offered);
    feed(hs, flags());
    auto reps = parse_replies(feed(hs, option(opt::structured_reply, {})));
    EXPECT_EQ(reps[0].type, rep::ack);
    reps = parse_replies(feed(hs, option(opt::starttls, {1})));  // with data: invalid
    EXPECT_EQ(reps[0].type, rep::err_invalid);
    feed(hs, option(opt::starttls, {}));
    ASSERT_EQ(hs.state(), Handshake::State::starttls);
    hs.tls_started();
    feed(hs, option(opt::go, name_data("disk")));
    ASSERT_EQ(hs.state(), Handshake::State::transmission);
    EXPECT_FALSE(hs.result().structured);  // negotiated before TLS: does not count
}

TEST_F(HandshakeTlsTest, StarttlsNeedsFixedNewstyle) {
    Handshake hs(cat, TlsPolicy::offered);
    std::vector<std::uint8_t> f(4, 0);  // no client flags
    feed(hs, f);
    auto reps = parse_replies(feed(hs, option(opt::starttls, {})));
    ASSERT_EQ(reps.size(), 1u);
    EXPECT_EQ(reps[0].type, rep::err_invalid);
}

}  // namespace
}  // namespace vstor::nbd
