// write_file_atomically on POSIX: mkstemp, fsync, rename, fsync of the directory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "util/durable_file.hpp"

namespace vstor::util {

bool write_file_atomically(const std::string& path, const std::string& content, std::string& error) {
    namespace fs = std::filesystem;
    const fs::path target(path);
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    // Built by append: g++ 12 -O3 misreports `"." + name` as an overlapping copy (-Wrestrict).
    std::string name = ".";
    name.append(target.filename().string()).append(".XXXXXX");
    std::string tmp = (dir / name).string();
    const int fd = mkstemp(tmp.data());
    if (fd < 0) {
        error = "cannot create a temporary file in " + dir.string() + ": " + std::strerror(errno);
        return false;
    }
    auto fail = [&](const char* what) {
        error = std::string(what) + " " + tmp + ": " + std::strerror(errno);
        ::close(fd);
        ::unlink(tmp.c_str());
        return false;
    };
    if (::fchmod(fd, 0600) != 0) return fail("cannot set the mode of");
    std::size_t off = 0;
    while (off < content.size()) {
        const auto n = ::write(fd, content.data() + off, content.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail("cannot write");
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) return fail("cannot fsync");
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        error = "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return false;
    }
    if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return true;
}

}  // namespace vstor::util
