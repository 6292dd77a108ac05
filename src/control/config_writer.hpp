// Writing the running configuration back to TOML (`vstor ctl save`), in the format
// `vstor serve --config` reads (docs/config.md).
#pragma once

#include <string>

#include "cli/serve_plan.hpp"

namespace vstor::control {

std::string render_toml(const cli::ServePlan& plan);

// Replaces `path` atomically: a temporary file in the same directory (mode 0600: it may hold
// CHAP secrets), fsync, rename over the old one, fsync of the directory.
bool write_file_atomically(const std::string& path, const std::string& content, std::string& error);

}  // namespace vstor::control
