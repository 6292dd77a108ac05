// The example backend works through the engine exactly like the built-in ones.
#include "map_backend.hpp"
#include "scsi/engine_fixture.hpp"

namespace vstor::test {
namespace {

class MapBackendExample : public EngineTest {
protected:
    void SetUp() override {
        EngineTest::SetUp();
        map = std::make_shared<example::MapBackend>(2048);
        ASSERT_TRUE(adapter->add_lun(tid, 1, map));
        clear_ua(1);  // REPORTED LUNS DATA HAS CHANGED
    }
    std::shared_ptr<example::MapBackend> map;
};

TEST_F(MapBackendExample, WriteReadUnmapThroughCdbs) {
    std::vector<std::uint8_t> data(1024, 0x5a);
    ASSERT_EQ(send({0x2a, 0, 0, 0, 0, 7, 0, 0, 2, 0}, 1, 0, data).status(), 0);
    EXPECT_EQ(map->stored_blocks(), 2u);
    auto r = send({0x28, 0, 0, 0, 0, 7, 0, 0, 2, 0}, 1, 1024);
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.data, data);
    // UNMAP one block: LBA 7, 1 block.
    std::vector<std::uint8_t> param(24, 0);
    param[1] = 22;
    param[3] = 16;
    param[15] = 7;
    param[19] = 1;
    ASSERT_EQ(send({0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}, 1, 0, param).status(), 0);
    EXPECT_EQ(map->stored_blocks(), 1u);
    auto z = send({0x28, 0, 0, 0, 0, 7, 0, 0, 1, 0}, 1, 512);
    EXPECT_EQ(z.data, std::vector<std::uint8_t>(512, 0));
}

}  // namespace
}  // namespace vstor::test
