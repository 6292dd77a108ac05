// Writing the running configuration back to TOML (`vstor ctl save`), in the format
// `vstor serve --config` reads (docs/config.md).
#pragma once

#include <string>

#include "config/serve_plan.hpp"
#include "util/durable_file.hpp"

namespace vstor::control {

std::string render_toml(const cli::ServePlan& plan);

// Replaces `path` atomically (util/durable_file.hpp).
using util::write_file_atomically;

}  // namespace vstor::control
