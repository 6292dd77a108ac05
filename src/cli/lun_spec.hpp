// `--lun KIND:ARG[,opt...]` specifications: mem:1G, null:1G, file:/path/disk.img,size=8G,ro.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace vstor::cli {

struct LunSpec {
    std::string kind;  // mem, null, file
    std::string path;  // file only
    std::uint64_t size_bytes = 0;  // 0 = use the existing file's size
    std::uint32_t block_size = 512;
    std::uint32_t physical_block_size = 0;  // pbs=4096: reported physical block size
    bool read_only = false;
    bool removable = false;
    bool thick = false;
    std::string name;  // export name (NBD) / free label
};

// Sizes: plain bytes or with K/M/G/T suffix (powers of 1024), e.g. 512, 64M, 1G, 1.5T is refused.
std::optional<std::uint64_t> parse_size(const std::string& s);

// Returns the spec, or nullopt with `error` naming the problem.
std::optional<LunSpec> parse_lun_spec(const std::string& text, std::string& error);

}  // namespace vstor::cli
