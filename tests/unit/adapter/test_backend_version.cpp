// Backend contract v1: a backend records the contract version it was compiled against and the
// adapter refuses one built for another version, with a message naming both.
#include <gtest/gtest.h>

#include "adapter/zero_backend.hpp"
#include "vstor/adapter.hpp"

namespace vstor::test {
namespace {

class VersionedBackend final : public ZeroBackend {
public:
    explicit VersionedBackend(int version) : ZeroBackend(version) {}
    VersionedBackend() = default;
    std::string kind() const override { return "versioned"; }
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
