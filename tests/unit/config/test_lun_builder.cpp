// add_lun_from_spec leaves nothing behind when it fails, and reports what it created so that a
// failed `serve` start can remove it (issue 13 section 6).
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "config/lun_builder.hpp"
#include "vstor/adapter.hpp"

namespace vstor::cli {
namespace {

TEST(LunBuilder, FailureRemovesWhatItCreatedAndSuccessReportsIt) {
    const auto dir = std::filesystem::temp_directory_path() / ("vstor-lunb-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    auto adapter = Adapter::create();
    const auto tid = *adapter->add_target("iqn.2026-11.org.vstor:lunb").value;
    std::string err;
    auto spec = parse_lun_spec("file:" + (dir / "a" / "b" / "one.img").string() + ",size=1M", err);
    ASSERT_TRUE(spec) << err;
    CreatedPaths created;
    ASSERT_TRUE(add_lun_from_spec(*adapter, tid, 0, *spec, err, &created)) << err;
    EXPECT_EQ(created.list(), (std::vector<std::string>{dir.string(), (dir / "a").string(), (dir / "a" / "b").string(),
                                                 (dir / "a" / "b" / "one.img").string()}));
    // LUN 0 is taken: the adapter refuses after the image was created, and the image goes again.
    auto two = parse_lun_spec("file:" + (dir / "c" / "two.img").string() + ",size=1M", err);
    ASSERT_TRUE(two) << err;
    CreatedPaths none;
    EXPECT_FALSE(add_lun_from_spec(*adapter, tid, 0, *two, err, &none));
    EXPECT_TRUE(none.list().empty());
    EXPECT_FALSE(std::filesystem::exists(dir / "c"));
    // What a failed start does with the list: the image and the directories made for it go.
    adapter.reset();
    created.discard_all();
    EXPECT_FALSE(std::filesystem::exists(dir));
    EXPECT_TRUE(created.list().empty());
}

// An interrupted start removes what was created so far and keeps the list locked until the
// process ends: a LUN still being built (another thread) cannot register another image after.
TEST(LunBuilder, DiscardAllAndHoldKeepsLaterImagesFromBeingRegistered) {
    const auto dir = std::filesystem::temp_directory_path() / ("vstor-lunh-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto one = (dir / "one.img").string();
    std::ofstream(one) << "x";
    CreatedPaths created;
    created.add({dir.string(), one});
    std::vector<std::string> removed;
    std::atomic<bool> added{false};
    std::thread builder;
    {
        const auto held = created.discard_all_and_hold(&removed);
        EXPECT_EQ(removed, (std::vector<std::string>{dir.string(), one}));
        EXPECT_FALSE(std::filesystem::exists(dir));
        builder = std::thread([&] {
            created.add({(dir / "two.img").string()});
            added = true;
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        EXPECT_FALSE(added.load()) << "an image was registered while the list was held";
    }
    builder.join();
    EXPECT_TRUE(added.load());
}

}  // namespace
}  // namespace vstor::cli
