// `vstor image create PATH --size SIZE [--thick]`: make a disk image file for a file LUN.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace vstor::cli {

struct ImageOptions {
    std::string path;
    std::string size;
    bool thick = false;
    unsigned block_size = 512;
};

void add_image_command(CLI::App& app, ImageOptions& opts);
int run_image_create(const ImageOptions& opts);

// Creates `path`, which must not exist, with `size` bytes: sparse, or with every block allocated
// (a progress bar on stderr) when `thick`. False with `error` naming the path, and no file left
// behind. Platform code: image_file_posix.cpp, image_file_win32.cpp.
bool create_image_file(const std::string& path, std::uint64_t size, bool thick, std::string& error);

}  // namespace vstor::cli
