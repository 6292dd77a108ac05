// Opens a backend from a plain description (used by the CLI and the config file).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "vstor/backend.hpp"

namespace vstor::backends {

struct BackendSpec {
    std::string kind;  // mem, file, null
    std::string path;
    std::uint64_t size_bytes = 0;
    std::uint32_t block_size = 512;
    bool read_only = false;
    bool thick = false;
};

std::shared_ptr<Backend> open_backend(const BackendSpec& spec, std::string& error);

}  // namespace vstor::backends
