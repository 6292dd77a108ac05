// Replacing a small file so that a crash leaves either the old or the new content: used for the
// APTPL reservations file and `vstor ctl save`. Platform code: durable_file_posix.cpp (Linux),
// durable_file_win32.cpp (Windows).
#pragma once

#include <string>

namespace vstor::util {

// Writes `content` to a temporary file in the same directory (readable by the owner only: it may
// hold CHAP secrets), makes it durable, and renames it over `path`; then makes the rename durable
// where the platform allows (fsync of the directory on POSIX; MOVEFILE_WRITE_THROUGH on Windows).
bool write_file_atomically(const std::string& path, const std::string& content, std::string& error);

}  // namespace vstor::util
