// Opens a backend from a plain description (used by the CLI and the config file).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vstor/backend.hpp"

namespace vstor::backends {

struct BackendSpec {
    std::string kind;  // mem, file, null, rbd, plugin, python
    std::string path;  // file: the image file; rbd: POOL/IMAGE; plugin: the shared object; python: the script
    std::uint64_t size_bytes = 0;
    std::uint32_t block_size = 512;
    bool read_only = false;
    bool thick = false;
    std::string rbd_conf;  // rbd: ceph.conf path (empty: librados' default)
    std::string rbd_id;    // rbd: client id (empty: librados' default)
    std::vector<std::pair<std::string, std::string>> params;  // plugin, python: its key=value pairs, in order
    std::uint32_t rbd_stall_ms = 0;  // rbd: stalled writes that break a holder's lock (0: the default)
    std::uint32_t rbd_forget_ms = 0;  // rbd: a dead gateway's port group is removed after (0: the default)
};

std::shared_ptr<Backend> open_backend(const BackendSpec& spec, std::string& error);

}  // namespace vstor::backends
