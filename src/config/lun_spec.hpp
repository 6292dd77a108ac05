// `--lun KIND:ARG[,opt...]` specifications: mem:1G, null:1G, file:/path/disk.img,size=8G,ro,
// rbd:POOL/IMAGE,conf=/etc/ceph/ceph.conf,id=admin,stall_ms=3000,forget_ms=60000,
// plugin:/path/plugin.so,key=value (keys that are not vstor's own go to the plugin, in order),
// python:/path/script.py,key=value (the same, for a plugin written in Python).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vstor::cli {

struct LunSpec {
    std::string kind;  // mem, null, file, rbd, plugin, python
    std::string path;  // file: the image file; rbd: POOL/IMAGE; plugin: the shared object; python: the script
    std::uint64_t size_bytes = 0;  // 0 = use the existing file's size
    std::uint32_t block_size = 512;
    std::uint32_t physical_block_size = 0;  // pbs=4096: reported physical block size
    std::uint64_t sanitize_rate = 0;        // sanitize_rate=64M: SANITIZE OVERWRITE bytes per second
    bool read_only = false;
    bool removable = false;
    bool thick = false;
    std::string rbd_conf;  // rbd: conf=PATH, the ceph.conf to read
    std::string rbd_id;    // rbd: id=NAME, the cephx client id (admin for client.admin)
    std::uint32_t rbd_stall_ms = 0;  // rbd: stall_ms=N, writes stalled this long break a holder's lock (0: 3000)
    std::uint32_t rbd_forget_ms = 0;  // rbd: forget_ms=N, a dead gateway's port group is removed after (0: 60000)
    std::string name;  // export name (NBD) / free label
    std::optional<std::uint16_t> lun;  // lun=N: explicit LUN number (default: position in the list)
    std::vector<std::pair<std::string, std::string>> plugin_params;  // plugin, python: key=value for config()
};

// rbd: stall_ms= bounds (docs/ceph.md "Failover"): below 500 ms a live holder that is merely slow
// would be fenced; above 10 minutes nothing is left to fail over.
inline constexpr std::uint32_t kRbdStallMinMs = 500;
inline constexpr std::uint32_t kRbdStallMaxMs = 600000;
// rbd: forget_ms= bounds (docs/ceph.md "Every gateway's group"): a group is unavailable after 5 s
// of silence, so forgetting it sooner than twice that would drop a gateway that merely restarts;
// a day is long enough for any gateway that is coming back.
inline constexpr std::uint32_t kRbdForgetMinMs = 10000;
inline constexpr std::uint32_t kRbdForgetMaxMs = 86400000;

// Sizes: plain bytes or with K/M/G/T suffix (powers of 1024), e.g. 512, 64M, 1G, 1.5T is refused.
std::optional<std::uint64_t> parse_size(const std::string& s);

// Returns the spec, or nullopt with `error` naming the problem.
std::optional<LunSpec> parse_lun_spec(const std::string& text, std::string& error);

// The spec as text that parse_lun_spec reads back to the same spec (for `vstor ctl save`).
std::string format_lun_spec(const LunSpec& spec);

// Sizes as the shortest exact K/M/G/T form: 1073741824 -> "1G".
std::string format_size(std::uint64_t bytes);

}  // namespace vstor::cli
