#include "control/config_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace vstor::control {

std::string render_toml(const cli::ServePlan& plan) {
    toml::table root;
    if (plan.loops) root.insert("loops", static_cast<std::int64_t>(plan.loops));
    toml::array portals;
    for (const auto& p : plan.portals) {
        const bool v6 = p.address.find(':') != std::string::npos;
        portals.push_back(toml::table{{"listen", (v6 ? "[" + p.address + "]" : p.address) + ":" + std::to_string(p.port)}});
    }
    root.insert("portal", std::move(portals));
    toml::array targets;
    for (const auto& tp : plan.targets) {
        toml::table t;
        t.insert("name", tp.config.name);
        if (!tp.config.alias.empty()) t.insert("alias", tp.config.alias);
        if (!tp.nbd_export) t.insert("nbd", false);
        if (tp.config.chap.enabled()) t.insert("chap", tp.config.chap.user + ":" + tp.config.chap.secret);
        if (!tp.config.chap.mutual_user.empty())
            t.insert("mutual_chap", tp.config.chap.mutual_user + ":" + tp.config.chap.mutual_secret);
        if (!tp.config.allowed_initiators.empty()) {
            toml::array allow;
            for (const auto& a : tp.config.allowed_initiators) allow.push_back(a);
            t.insert("allow", std::move(allow));
        }
        if (!tp.config.lun_masks.empty()) {
            toml::array masks;
            for (const auto& m : tp.config.lun_masks) masks.push_back(cli::format_mask(m));
            t.insert("masks", std::move(masks));
        }
        toml::array luns;
        std::size_t position = 0;
        for (auto spec : tp.luns) {
            if (spec.lun && *spec.lun == position) spec.lun.reset();  // numbered by position anyway
            luns.push_back(cli::format_lun_spec(spec));
            ++position;
        }
        t.insert("luns", std::move(luns));
        targets.push_back(std::move(t));
    }
    root.insert("target", std::move(targets));
    if (!plan.nbd_listen.empty() || !plan.nbd_tls.empty()) {
        toml::table nbd;
        toml::array listen;
        for (const auto& l : plan.nbd_listen) listen.push_back(l);
        if (!listen.empty()) nbd.insert("listen", std::move(listen));
        if (!plan.nbd_tls.empty()) nbd.insert("tls", plan.nbd_tls);
        root.insert("nbd", std::move(nbd));
    }
    std::ostringstream out;
    out << "# vstor configuration, written by `vstor ctl save` (docs/config.md)\n" << root << "\n";
    return out.str();
}

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

}  // namespace vstor::control
