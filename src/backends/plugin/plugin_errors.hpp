// The error channel of the plugin C ABI: vstor_plugin_set_error records an errno and a message for
// the callback running on this thread; the backend takes it when the callback returns -1 and turns
// the errno into an IoStatus (and so into SCSI sense).
#pragma once

#include <string>

#include "vstor/backend.hpp"
#include "vstor/plugin.h"

namespace vstor::backends::plugin {

// The host table handed to every plugin's vstor_plugin_init.
const vstor_plugin_host* host_table();

struct PluginError {
    int errnum = 0;
    std::string message;
};

// What vstor_plugin_set_error does (errnum 0: errno), for vstor's own checks of plugin input.
void record_error(int errnum, const char* message);
// The host table's add_extent (plugin_backend.cpp, which owns struct vstor_extents).
int add_extent(vstor_extents* extents, std::uint64_t offset, std::uint64_t length, std::uint32_t type);

// Clears this thread's recorded error; call before a callback.
void clear_error();
// The error of the callback that just failed on this thread: what it recorded with
// vstor_plugin_set_error, else `saved_errno` (errno right after it returned) and its text.
PluginError take_error(int saved_errno);

// EIO -> medium error, ENOSPC/EDQUOT -> no space, EROFS/EPERM -> read-only, EINVAL -> invalid
// field, ENOMEM/EAGAIN -> insufficient resources, ...; an unknown errno is a medium error.
IoStatus io_status_from_errno(int errnum);

}  // namespace vstor::backends::plugin
