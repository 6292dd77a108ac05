// The APTPL state file of one LU's persistent reservations (SPC-5 5.14.5): snapshots taken under
// the reservation lock, written in the order they were taken, read back when the LU is added.
// Format: "generation N", "holder TYPE NEXUS", then "reg KEY REL_PORT INITIATOR_PORT" lines.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "scsi/persistent_reservations.hpp"
#include "util/durable_file.hpp"

namespace vstor::scsi {

std::optional<Reservations::Snapshot> Reservations::snapshot_locked() {
    if (aptpl_path_.empty() || store_) return std::nullopt;  // a shared LUN's state is in its store
    Snapshot s{++snapshots_, std::nullopt};
    if (!st_.aptpl) return s;  // persistence turned off: the file goes
    std::ostringstream out;
    out << "generation " << st_.generation << "\n";
    if (st_.holder)
        out << "holder " << int(st_.holder->type) << " " << (st_.holder->nexus.empty() ? "-" : st_.holder->nexus) << "\n";
    for (const auto& r : st_.regs) out << "reg " << r.key << " " << r.relative_port << " " << r.initiator_port << "\n";
    s.content = out.str();
    return s;
}

void Reservations::persist(const Snapshot& s) {
    std::lock_guard lk(file_mu_);
    // A newer state is on disk already: it holds this one's changes too.
    if (s.seq <= written_) return;
    written_ = s.seq;
    if (!s.content) {
        std::error_code ec;
        std::filesystem::remove(aptpl_path_, ec);
        if (ec) spdlog::error("persistent reservations: cannot remove {}: {}", aptpl_path_, ec.message());
        return;
    }
    // A temporary file made durable, then renamed over the old state (atomic replace).
    std::string error;
    if (!util::write_file_atomically(aptpl_path_, *s.content, error))
        spdlog::error("persistent reservations: APTPL state not saved to {}: {}", aptpl_path_, error);
}

void Reservations::load() {
    if (aptpl_path_.empty()) return;
    std::ifstream in(aptpl_path_);
    if (!in) return;
    std::string word;
    while (in >> word) {
        if (word == "generation") {
            in >> st_.generation;
        } else if (word == "holder") {
            int type = 0;
            std::string nexus;
            in >> type >> nexus;
            st_.holder = PrHolder{nexus == "-" ? std::string() : nexus, static_cast<std::uint8_t>(type)};
        } else if (word == "reg") {
            PrRegistration r;
            in >> r.key >> r.relative_port >> r.initiator_port;
            r.nexus = pr_nexus_id(r.initiator_port, r.relative_port);
            st_.regs.push_back(r);
        }
    }
    st_.aptpl = true;
}

}  // namespace vstor::scsi
