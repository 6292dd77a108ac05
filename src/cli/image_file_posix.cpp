// create_image_file on POSIX: O_EXCL, ftruncate, fallocate (or written zeroes), fsync.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "cli/image.hpp"
#include "config/lun_spec.hpp"
#include "cli/progress.hpp"

namespace vstor::cli {

bool create_image_file(const std::string& path, std::uint64_t size, bool thick, std::string& error) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        error = path + ": " + std::strerror(errno);
        return false;
    }
    auto fail = [&](const char* what) {
        error = std::string(what) + " " + path + ": " + std::strerror(errno);
        ::close(fd);
        ::unlink(path.c_str());  // never leave a half-made image behind
        return false;
    };
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return fail("cannot size");
    if (thick) {
        Progress progress("allocating " + format_size(size), size);
        constexpr std::uint64_t kStep = 64ull << 20;
        std::vector<char> zeroes;  // only if the filesystem cannot fallocate
        for (std::uint64_t off = 0; off < size; off += kStep) {
            const auto len = std::min(kStep, size - off);
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
    return true;
}

}  // namespace vstor::cli
