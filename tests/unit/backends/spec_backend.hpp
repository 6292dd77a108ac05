// LUNs opened from a spec (`plugin:PATH`, `python:SCRIPT`) in engine tests: open one by kind and
// path, or add it to the fixture's target (the plugin and Python tests share these).
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backends/factory.hpp"
#include "scsi/engine_fixture.hpp"

namespace vstor::test {

using SpecParams = std::vector<std::pair<std::string, std::string>>;

inline std::shared_ptr<Backend> open_spec(const std::string& kind, const std::string& path, std::string& error,
                                          SpecParams params = {}) {
    backends::BackendSpec s;
    s.kind = kind;
    s.path = path;
    s.params = std::move(params);
    return backends::open_backend(s, error);
}

// The test name suffix of a thread-model parameter (0, 1, 2: serialize all, serialize requests,
// parallel), for the plugin and Python thread tests.
inline std::string thread_model_name(const ::testing::TestParamInfo<int>& info) {
    static const char* const names[] = {"SerializeAll", "SerializeRequests", "Parallel"};
    return names[info.param];
}

class SpecBackendTest : public EngineTest {
protected:
    // Adds the LUN; `clear` uses up its unit attention (pass false to add several first: adding
    // one raises a unit attention on the others too).
    void add_spec(std::uint16_t lun, const std::string& kind, const std::string& path, SpecParams params = {},
                  bool clear = true) {
        std::string error;
        auto b = open_spec(kind, path, error, std::move(params));
        ASSERT_TRUE(b) << error;
        ASSERT_TRUE(adapter->add_lun(tid, lun, b));
        if (clear) clear_ua(lun);
    }
    // Six READs at once on each of LUNs 1 and 2, each from its own thread.
    void read_at_once() {
        std::vector<std::thread> threads;
        for (int i = 0; i < 12; ++i)
            threads.emplace_back([this, i] {
                const auto lun = static_cast<std::uint16_t>(1 + i % 2);
                EXPECT_EQ(send({0x28, 0, 0, 0, 0, std::uint8_t(i), 0, 0, 1, 0}, lun, 512).status(), 0);
            });
        for (auto& t : threads) t.join();
    }
    // tests/plugins/errors_plugin.c and tests/python/errors.py fail the first block of region N
    // (128 blocks each) with the same errno, each in its own language's way (the comments name
    // the C plugin's): each must reach the initiator as the sense that errno names.
    void expect_errno_senses(std::uint16_t lun) {
        struct Case {
            std::uint32_t region;
            std::uint8_t key, asc, ascq;
        };
        const Case cases[] = {{1, 0x03, 0x11, 0x00},  // EIO: unrecovered read error
                              {2, 0x07, 0x27, 0x07},  // ENOSPC: space allocation failed
                              {3, 0x07, 0x27, 0x00},  // EROFS: write protected
                              {4, 0x05, 0x24, 0x00},  // EINVAL: invalid field in CDB
                              {5, 0x0b, 0x55, 0x03},  // ENOMEM: insufficient resources (retryable)
                              {6, 0x03, 0x11, 0x00}};  // no errno given: EIO
        for (const auto& c : cases) {
            auto r = send_cdb(rw10(0x28, c.region * 128, 1), lun, 512);
            EXPECT_EQ(r.status(), 2) << "region " << c.region;
            EXPECT_EQ(r.key(), c.key) << "region " << c.region;
            EXPECT_EQ(r.asc(), c.asc) << "region " << c.region;
            EXPECT_EQ(r.ascq(), c.ascq) << "region " << c.region;
        }
        auto w = send_cdb(rw10(0x2a, 128, 1), lun, 0, std::vector<std::uint8_t>(512, 1));
        EXPECT_EQ(w.key(), 0x03);
        EXPECT_EQ(w.asc(), 0x0c);  // EIO on a write: write error
        EXPECT_EQ(send_cdb(rw10(0x28, 0, 1), lun, 512).status(), 0);  // region 0 works
    }
    static std::vector<std::uint8_t> rw10(std::uint8_t op, std::uint32_t lba, std::uint16_t blocks) {
        return {op, 0, std::uint8_t(lba >> 24), std::uint8_t(lba >> 16), std::uint8_t(lba >> 8), std::uint8_t(lba),
                0, std::uint8_t(blocks >> 8), std::uint8_t(blocks), 0};
    }
};

}  // namespace vstor::test
