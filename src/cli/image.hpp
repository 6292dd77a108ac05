// `vstor image create PATH --size SIZE [--thick]`: make a disk image file for a file LUN.
#pragma once

#include <CLI/CLI.hpp>

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

}  // namespace vstor::cli
