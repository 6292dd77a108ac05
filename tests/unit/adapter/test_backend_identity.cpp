// A backend can say what it is (vendor, product, serial, rotation rate, optimal transfer length);
// LunOptions still win; without either, the product names the backend's kind.
#include <string>

#include "scsi/engine_fixture.hpp"

namespace vstor::test {
namespace {

class NamedBackend final : public Backend {
public:
    std::string kind() const override { return "dbdisk"; }
    std::uint32_t block_size() const override { return 4096; }
    std::uint64_t block_count() const override { return 256; }
    BackendCaps caps() const override { return {}; }
    BackendIdentity identity() const override {
        BackendIdentity id;
        id.vendor = "DBDISK";
        id.product = "SQLITE-BLOCKS";
        id.serial = "db-0001";
        id.rotation_rate = 7200;
        id.optimal_transfer_blocks = 64;
        return id;
    }
    void read(std::uint64_t, std::span<std::byte> buf, IoCallback done) override {
        std::fill(buf.begin(), buf.end(), std::byte{0});
        done(IoStatus::ok);
    }
    void write(std::uint64_t, std::span<const std::byte>, bool, IoCallback done) override { done(IoStatus::ok); }
    void flush(IoCallback done) override { done(IoStatus::ok); }
};

class BackendIdentityTest : public EngineTest {
protected:
    std::string inquiry_field(std::uint16_t lun, std::size_t at, std::size_t len) {
        auto r = send({0x12, 0, 0, 0, 96, 0}, lun, 96);
        EXPECT_EQ(r.status(), 0);
        return std::string(r.data.begin() + static_cast<std::ptrdiff_t>(at),
                           r.data.begin() + static_cast<std::ptrdiff_t>(at + len));
    }
    std::vector<std::uint8_t> vpd(std::uint16_t lun, std::uint8_t page) {
        auto r = send({0x12, 1, page, 0, 255, 0}, lun, 255);
        EXPECT_EQ(r.status(), 0);
        return r.data;
    }
    std::string serial(std::uint16_t lun) {
        auto d = vpd(lun, 0x80);
        return std::string(d.begin() + 4, d.begin() + 4 + d[3]);
    }
    static std::uint32_t be(const std::vector<std::uint8_t>& d, std::size_t at, int n) {
        std::uint32_t v = 0;
        for (int i = 0; i < n; ++i) v = (v << 8) | d[at + static_cast<std::size_t>(i)];
        return v;
    }
};

TEST_F(BackendIdentityTest, DefaultsNameTheBackendKind) {
    EXPECT_EQ(inquiry_field(0, 8, 8), "VSTOR   ");
    EXPECT_EQ(inquiry_field(0, 16, 16), "MEM-DISK        ");
    EXPECT_EQ(be(vpd(0, 0xb1), 4, 2), 1u);  // non-rotating
    EXPECT_EQ(be(vpd(0, 0xb0), 12, 4), (1u << 20) / 512);
    EXPECT_EQ(serial(0).size(), 12u);  // derived from target name and LUN
}

TEST_F(BackendIdentityTest, BackendIdentityReachesInquiryAndVpd) {
    ASSERT_TRUE(adapter->add_lun(tid, 2, std::make_shared<NamedBackend>()));
    clear_ua(2);
    EXPECT_EQ(inquiry_field(2, 8, 8), "DBDISK  ");
    EXPECT_EQ(inquiry_field(2, 16, 16), "SQLITE-BLOCKS   ");
    EXPECT_EQ(serial(2), "db-0001");
    EXPECT_EQ(be(vpd(2, 0xb1), 4, 2), 7200u);
    EXPECT_EQ(be(vpd(2, 0xb0), 12, 4), 64u);
}

TEST_F(BackendIdentityTest, LunOptionsWinOverTheBackend) {
    LunOptions o;
    o.vendor = "ACME";
    o.product = "ROCKET";
    o.serial = "ops-42";
    ASSERT_TRUE(adapter->add_lun(tid, 3, std::make_shared<NamedBackend>(), o));
    clear_ua(3);
    EXPECT_EQ(inquiry_field(3, 8, 8), "ACME    ");
    EXPECT_EQ(inquiry_field(3, 16, 16), "ROCKET          ");
    EXPECT_EQ(serial(3), "ops-42");
    EXPECT_EQ(be(vpd(3, 0xb1), 4, 2), 7200u);  // no option for these: still the backend's
}

}  // namespace
}  // namespace vstor::test
