// add_lun_from_spec leaves nothing behind when it fails, and reports what it created so that a
// failed `serve` start can remove it (issue 13 section 6).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

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
    std::vector<std::string> created;
    ASSERT_TRUE(add_lun_from_spec(*adapter, tid, 0, *spec, err, &created)) << err;
    EXPECT_EQ(created, (std::vector<std::string>{dir.string(), (dir / "a").string(), (dir / "a" / "b").string(),
                                                 (dir / "a" / "b" / "one.img").string()}));
    // LUN 0 is taken: the adapter refuses after the image was created, and the image goes again.
    auto two = parse_lun_spec("file:" + (dir / "c" / "two.img").string() + ",size=1M", err);
    ASSERT_TRUE(two) << err;
    std::vector<std::string> none;
    EXPECT_FALSE(add_lun_from_spec(*adapter, tid, 0, *two, err, &none));
    EXPECT_TRUE(none.empty());
    EXPECT_FALSE(std::filesystem::exists(dir / "c"));
    // What a failed start does with the list: the image and the directories made for it go.
    adapter.reset();
    remove_created(created);
    EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace vstor::cli
