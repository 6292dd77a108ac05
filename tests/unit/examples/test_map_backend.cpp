// The example backend works through the engine exactly like the built-in ones.
#include "map_backend.hpp"

#include <chrono>
#include <future>
#include <thread>

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

// Contract v1: `done` is never called under a lock the backend's entry points take, so a
// completion may call straight back into the backend (here: stored_blocks, which takes the lock).
TEST(MapBackendContract, DoneRunsOutsideTheBackendsLock) {
    struct Shared {
        std::shared_ptr<example::MapBackend> map = std::make_shared<example::MapBackend>(16);
        std::vector<std::byte> block = std::vector<std::byte>(512, std::byte{1});
        std::promise<std::size_t> stored;
    };
    auto sh = std::make_shared<Shared>();
    auto fut = sh->stored.get_future();
    std::thread([sh] {
        auto& m = *sh->map;
        m.read(3, sh->block, [&](IoStatus) { m.stored_blocks(); });
        m.unmap(3, 1, [&](IoStatus) { m.stored_blocks(); });
        m.write(3, sh->block, false, [&](IoStatus) { sh->stored.set_value(m.stored_blocks()); });
    }).detach();  // detached: if it deadlocks, the test fails instead of hanging
    ASSERT_EQ(fut.wait_for(std::chrono::seconds(5)), std::future_status::ready) << "done ran under the lock";
    EXPECT_EQ(fut.get(), 1u);
}

}  // namespace
}  // namespace vstor::test
