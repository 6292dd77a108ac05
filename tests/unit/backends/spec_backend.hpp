// LUNs opened from a spec (`plugin:PATH`, `python:SCRIPT`) in engine tests: open one by kind and
// path, or add it to the fixture's target (the plugin and Python tests share these).
#pragma once

#include <memory>
#include <string>
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
    static std::vector<std::uint8_t> rw10(std::uint8_t op, std::uint32_t lba, std::uint16_t blocks) {
        return {op, 0, std::uint8_t(lba >> 24), std::uint8_t(lba >> 16), std::uint8_t(lba >> 8), std::uint8_t(lba),
                0, std::uint8_t(blocks >> 8), std::uint8_t(blocks), 0};
    }
};

}  // namespace vstor::test
