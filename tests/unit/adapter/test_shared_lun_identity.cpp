// Two gateways serving one shared LUN (vstor/shared_lun.hpp) present the same logical unit: the
// same NAA designator and serial, whatever the target names and LUN numbers, but each its own
// relative target port and target port group. LUNs that are not shared keep their designators.
#include <future>
#include <optional>
#include <string>

#include "backends/mem/mem_backend.hpp"
#include "scsi/engine_fixture.hpp"
#include "vstor/shared_lun.hpp"

namespace vstor::test {
namespace {

class SharedMem final : public Backend, public SharedLun {
public:
    explicit SharedMem(std::string id) : id_(std::move(id)) {}
    std::string kind() const override { return "shared"; }
    std::uint32_t block_size() const override { return 512; }
    std::uint64_t block_count() const override { return 2048; }
    BackendCaps caps() const override { return {}; }
    std::string unit_id() const override { return id_; }
    AccessState access_state() const override { return AccessState::active_optimized; }
    void watch_access_state(std::function<void()>) override {}
    void read(std::uint64_t, std::span<std::byte> buf, IoCallback done) override {
        std::fill(buf.begin(), buf.end(), std::byte{0});
        done(IoStatus::ok);
    }
    void write(std::uint64_t, std::span<const std::byte>, bool, IoCallback done) override { done(IoStatus::ok); }
    void flush(IoCallback done) override { done(IoStatus::ok); }

private:
    std::string id_;
};

// One `vstor serve`: its own adapter, target name, port group and relative port.
struct Gateway {
    std::unique_ptr<Adapter> adapter = Adapter::create();
    std::uint16_t tid = 0;
    std::shared_ptr<Nexus> nexus;

    Gateway(const std::string& target, std::uint16_t group, std::uint16_t rel_port) {
        set_target_port_group(*adapter, group);
        tid = *adapter->add_target(target).value;
        nexus_rel = rel_port;
    }
    void open() {
        nexus = adapter->open_nexus(tid, "iqn.2026-12.org.test:host,i,0x1", nexus_rel);
    }
    std::vector<std::uint8_t> vpd(std::uint16_t lun, std::uint8_t page) {
        Command c;
        c.nexus = nexus;
        c.lun = encode_sam_lun(lun);
        const std::uint8_t cdb[6] = {0x12, 1, page, 0, 255, 0};
        std::copy(std::begin(cdb), std::end(cdb), c.cdb.begin());
        c.cdb_len = 6;
        std::vector<std::uint8_t> buf(255);
        c.dir = DataDirection::read;
        c.expected_length = 255;
        c.data = std::as_writable_bytes(std::span(buf));
        std::promise<Completion> p;
        adapter->submit(c, [&p](const Completion& r) { p.set_value(r); });
        const auto r = p.get_future().get();
        EXPECT_EQ(r.status, scsi_status::good);
        buf.resize(r.data_in_len);
        return buf;
    }
    std::uint16_t nexus_rel = 1;
};

// The designator of `type` and `assoc` in a VPD page 83h: its bytes, or nullopt.
std::optional<std::vector<std::uint8_t>> designator(const std::vector<std::uint8_t>& d, int type, int assoc) {
    for (std::size_t at = 4; at + 4 <= d.size(); at += 4 + d[at + 3]) {
        if ((d[at + 1] & 0x0f) == type && ((d[at + 1] >> 4) & 0x03) == assoc)
            return std::vector<std::uint8_t>(d.begin() + static_cast<std::ptrdiff_t>(at + 4),
                                             d.begin() + static_cast<std::ptrdiff_t>(at + 4 + d[at + 3]));
    }
    return std::nullopt;
}

std::string serial(const std::vector<std::uint8_t>& d) { return std::string(d.begin() + 4, d.begin() + 4 + d[3]); }

TEST(SharedLunIdentity, BothGatewaysPresentOneLogicalUnitThroughTheirOwnPorts) {
    Gateway a("iqn.2026-12.org.test:gw-a", 1, 1), b("iqn.2026-12.org.test:gw-b", 2, 2);
    ASSERT_TRUE(a.adapter->add_lun(a.tid, 0, std::make_shared<SharedMem>("ceph:fsid:3:abc123")));
    ASSERT_TRUE(b.adapter->add_lun(b.tid, 5, std::make_shared<SharedMem>("ceph:fsid:3:abc123")));
    a.open();
    b.open();
    const auto da = a.vpd(0, 0x83), db = b.vpd(5, 0x83);
    const auto naa_a = designator(da, 3, 0), naa_b = designator(db, 3, 0);
    ASSERT_TRUE(naa_a && naa_b);
    EXPECT_EQ(*naa_a, *naa_b);
    EXPECT_EQ((*naa_a)[0] >> 4, 5);  // NAA IEEE Registered
    EXPECT_EQ(serial(a.vpd(0, 0x80)), serial(b.vpd(5, 0x80)));
    EXPECT_EQ(designator(da, 4, 1), (std::vector<std::uint8_t>{0, 0, 0, 1}));  // relative target port
    EXPECT_EQ(designator(db, 4, 1), (std::vector<std::uint8_t>{0, 0, 0, 2}));
    EXPECT_EQ(designator(da, 5, 1), (std::vector<std::uint8_t>{0, 0, 0, 1}));  // target port group
    EXPECT_EQ(designator(db, 5, 1), (std::vector<std::uint8_t>{0, 0, 0, 2}));
}

TEST(SharedLunIdentity, AnotherImageIsAnotherUnitAndPlainLunsKeepTheirDesignators) {
    Gateway a("iqn.2026-12.org.test:gw-a", 1, 1), b("iqn.2026-12.org.test:gw-b", 2, 2);
    ASSERT_TRUE(a.adapter->add_lun(a.tid, 0, std::make_shared<SharedMem>("ceph:fsid:3:abc123")));
    ASSERT_TRUE(a.adapter->add_lun(a.tid, 1, std::make_shared<SharedMem>("ceph:fsid:3:def456")));
    ASSERT_TRUE(a.adapter->add_lun(a.tid, 2, std::make_shared<backends::MemBackend>(1 << 20, 512)));
    ASSERT_TRUE(b.adapter->add_lun(b.tid, 2, std::make_shared<backends::MemBackend>(1 << 20, 512)));
    a.open();
    b.open();
    EXPECT_NE(designator(a.vpd(0, 0x83), 3, 0), designator(a.vpd(1, 0x83), 3, 0));
    EXPECT_NE(serial(a.vpd(0, 0x80)), serial(a.vpd(1, 0x80)));
    // Not shared: derived from the target name and LUN, as before.
    EXPECT_NE(designator(a.vpd(2, 0x83), 3, 0), designator(b.vpd(2, 0x83), 3, 0));
    EXPECT_EQ(serial(a.vpd(2, 0x80)).size(), 12u);
}

}  // namespace
}  // namespace vstor::test
