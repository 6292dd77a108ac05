#include "cli/image.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "cli/lun_spec.hpp"
#include "cli/progress.hpp"

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
    const int fd = ::open(o.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        fmt::print(stderr, "vstor image create: {}: {}\n", o.path, std::strerror(errno));
        return 1;
    }
    auto fail = [&](const char* what) {
        fmt::print(stderr, "\nvstor image create: {} {}: {}\n", what, o.path, std::strerror(errno));
        ::close(fd);
        ::unlink(o.path.c_str());  // never leave a half-made image behind
        return 1;
    };
    if (::ftruncate(fd, static_cast<off_t>(*size)) != 0) return fail("cannot size");
    if (o.thick) {
        Progress progress("allocating " + format_size(*size), *size);
        constexpr std::uint64_t kStep = 64ull << 20;
        std::vector<char> zeroes;  // only if the filesystem cannot fallocate
        for (std::uint64_t off = 0; off < *size; off += kStep) {
            const auto len = std::min(kStep, *size - off);
            if (zeroes.empty() && ::fallocate(fd, 0, static_cast<off_t>(off), static_cast<off_t>(len)) == 0) {
                progress.update(off + len);
                continue;
            }
            if (errno != EOPNOTSUPP && zeroes.empty()) return fail("cannot allocate");
            zeroes.assign(kStep, 0);
            for (std::uint64_t done = 0; done < len;) {
                const auto n = ::pwrite(fd, zeroes.data(), len - done, static_cast<off_t>(off + done));
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) return fail("cannot write");
                done += static_cast<std::uint64_t>(n);
            }
            progress.update(off + len);
        }
        progress.finish();
    }
    if (::fsync(fd) != 0) return fail("cannot sync");
    ::close(fd);
    fmt::print("created {} ({} bytes, {}); serve it with --lun file:{}\n", o.path, *size, o.thick ? "thick" : "sparse",
               o.path);
    return 0;
}

}  // namespace vstor::cli
