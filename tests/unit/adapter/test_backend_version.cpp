// Backend contract v1: a backend records the contract version it was compiled against and the
// adapter refuses one built for another version, with a message naming both.
#include <gtest/gtest.h>

#include <cstring>

#include "vstor/adapter.hpp"

namespace vstor::test {
namespace {

class VersionedBackend final : public Backend {
public:
    explicit VersionedBackend(int version) : Backend(version) {}
    VersionedBackend() = default;
    std::string kind() const override { return "versioned"; }
    std::uint32_t block_size() const override { return 512; }
    std::uint64_t block_count() const override { return 8; }
    BackendCaps caps() const override { return {}; }
    void read(std::uint64_t, std::span<std::byte> buf, IoCallback done) override {
        std::memset(buf.data(), 0, buf.size());
        done(IoStatus::ok);
    }
    void write(std::uint64_t, std::span<const std::byte>, bool, IoCallback done) override { done(IoStatus::ok); }
    void flush(IoCallback done) override { done(IoStatus::ok); }
};

TEST(BackendVersion, BackendRecordsTheHeadersContractVersion) {
    EXPECT_EQ(VersionedBackend().api_version(), VSTOR_BACKEND_API_VERSION);
    EXPECT_EQ(backend_api_version, 1);
}

TEST(BackendVersion, AdapterRefusesABackendBuiltForAnotherContract) {
    auto adapter = Adapter::create();
    const auto tid = *adapter->add_target("iqn.2026-11.org.vstor:version").value;
    const auto st = adapter->add_lun(tid, 0, std::make_shared<VersionedBackend>(2));
    ASSERT_FALSE(st);
    EXPECT_NE(st.error.find("contract v2"), std::string::npos) << st.error;
    EXPECT_NE(st.error.find("implements v1"), std::string::npos) << st.error;
    EXPECT_TRUE(adapter->add_lun(tid, 0, std::make_shared<VersionedBackend>()));
}

}  // namespace
}  // namespace vstor::test
