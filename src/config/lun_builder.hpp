// Turns a LUN spec into a backend and a LUN on the adapter: the one place `serve` start-up and
// `vstor ctl lun add` create LUNs, so both check and name errors the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/lun_spec.hpp"
#include "vstor/adapter.hpp"

namespace vstor::cli {

// Opens the backend (creating a file image and its directory if needed) and adds it as `lun` of
// the target. On failure nothing is added, nothing it created is left behind, and `error` says
// why. On success the image file and directories it created are appended to `created` (when
// given), deepest last, so that a start-up that fails later can remove them.
bool add_lun_from_spec(Adapter& adapter, std::uint16_t target_id, std::uint16_t lun, const LunSpec& spec,
                       std::string& error, std::vector<std::string>* created = nullptr);

// Removes what add_lun_from_spec reported as created (files, then directories if empty), newest
// first. Errors are ignored: this is cleanup after a failure that is reported already.
void remove_created(const std::vector<std::string>& created);

}  // namespace vstor::cli
