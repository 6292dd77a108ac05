// Turns a LUN spec into a backend and a LUN on the adapter: the one place `serve` start-up and
// `vstor ctl lun add` create LUNs, so both check and name errors the same way.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "config/lun_spec.hpp"
#include "vstor/adapter.hpp"

namespace vstor::cli {

// The image files and directories a `serve` start created, oldest first, so that a start that
// fails or is interrupted can remove them. Thread-safe: an interrupted start removes them from
// the signal's thread while the LUNs are still being built.
class CreatedPaths {
public:
    void add(const std::vector<std::string>& paths);
    // Removes `paths` (newest first; a directory only when empty) and forgets them.
    void discard(const std::vector<std::string>& paths);
    void discard_all();
    // The same for a process about to end: the list stays locked while the lock lives, so that a
    // LUN being built cannot register (and then create) another image meanwhile. What was removed
    // goes into `removed` when given.
    [[nodiscard]] std::unique_lock<std::mutex> discard_all_and_hold(std::vector<std::string>* removed = nullptr);
    std::vector<std::string> list() const;

private:
    mutable std::mutex mu_;
    std::vector<std::string> paths_;
};

// Opens the backend (creating a file image and its directory if needed) and adds it as `lun` of
// the target. On failure nothing is added, nothing it created is left behind, and `error` says
// why. What it creates goes into `created` (when given) before it is created, deepest last, so
// that a start-up that fails later, or is interrupted meanwhile, can remove it.
bool add_lun_from_spec(Adapter& adapter, std::uint16_t target_id, std::uint16_t lun, const LunSpec& spec,
                       std::string& error, CreatedPaths* created = nullptr);

// Removes files, then directories if empty, newest first. Errors are ignored: this is cleanup
// after a failure that is reported already.
void remove_created(const std::vector<std::string>& created);

}  // namespace vstor::cli
