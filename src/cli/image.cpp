#include "cli/image.hpp"

#include <fmt/format.h>

#include "config/lun_spec.hpp"

namespace vstor::cli {

void add_image_command(CLI::App& app, ImageOptions& o) {
    auto* image = app.add_subcommand("image", "Disk image files for file LUNs");
    image->require_subcommand(1);
    auto* create = image->add_subcommand("create", "Create a new image (sparse unless --thick)");
    create->add_option("path", o.path, "image file to create (must not exist)")->required();
    create->add_option("--size", o.size, "size, e.g. 8G (a multiple of the block size)")->required();
    create->add_flag("--thick", o.thick, "allocate every block now (shows progress)");
    create->add_option("--bs", o.block_size, "block size the size must be a multiple of")
        ->check(CLI::IsMember({512, 4096}))
        ->capture_default_str();
}

int run_image_create(const ImageOptions& o) {
    const auto size = parse_size(o.size);
    if (!size || *size == 0) {
        fmt::print(stderr, "vstor image create: bad size '{}' (e.g. 512M, 8G)\n", o.size);
        return 2;
    }
    if (*size % o.block_size) {
        fmt::print(stderr, "vstor image create: {} bytes is not a multiple of the block size {}\n", *size, o.block_size);
        return 2;
    }
    std::string error;
    if (!create_image_file(o.path, *size, o.thick, error)) {
        fmt::print(stderr, "{}vstor image create: {}\n", o.thick ? "\n" : "", error);
        return 1;
    }
    fmt::print("created {} ({} bytes, {}); serve it with --lun file:{}\n", o.path, *size, o.thick ? "thick" : "sparse",
               o.path);
    return 0;
}

}  // namespace vstor::cli
