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
    static std::vector<std::uint8_t> rw10(std::uint8_t op, std::uint32_t lba, std::uint16_t blocks) {
        return {op, 0, std::uint8_t(lba >> 24), std::uint8_t(lba >> 16), std::uint8_t(lba >> 8), std::uint8_t(lba),
                0, std::uint8_t(blocks >> 8), std::uint8_t(blocks), 0};
    }
};

}  // namespace vstor::test
