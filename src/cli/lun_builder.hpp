// Turns a LUN spec into a backend and a LUN on the adapter: the one place `serve` start-up and
// `vstor ctl lun add` create LUNs, so both check and name errors the same way.
#pragma once

#include <cstdint>
#include <string>

#include "cli/lun_spec.hpp"
#include "vstor/adapter.hpp"

namespace vstor::cli {

// Opens the backend (creating a file image and its directory if needed) and adds it as `lun` of
// the target. On failure nothing is added and `error` says why.
bool add_lun_from_spec(Adapter& adapter, std::uint16_t target_id, std::uint16_t lun, const LunSpec& spec,
                       std::string& error);

}  // namespace vstor::cli
