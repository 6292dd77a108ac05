#include "backends/plugin/plugin_errors.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

namespace vstor::backends::plugin {

namespace {

thread_local PluginError recorded;
thread_local bool has_recorded = false;

}  // namespace

void record_error(int errnum, const char* message) {
    recorded.errnum = errnum ? errnum : errno;
    recorded.message = message ? message : "";
    has_recorded = true;
}

const vstor_plugin_host* host_table() {
    static const vstor_plugin_host table{sizeof(vstor_plugin_host), VSTOR_PLUGIN_API_VERSION, &record_error,
                                         &add_extent};
    return &table;
}

void clear_error() {
    has_recorded = false;
    recorded = {};
    errno = 0;
}

PluginError take_error(int saved_errno) {
    PluginError e;
    if (has_recorded) e = std::move(recorded);
    if (e.errnum == 0) e.errnum = saved_errno ? saved_errno : EIO;
    if (e.message.empty()) e.message = std::strerror(e.errnum);
    clear_error();
    return e;
}

IoStatus io_status_from_errno(int errnum) {
    switch (errnum) {
#ifdef EDQUOT
        case EDQUOT:
#endif
        case ENOSPC: return IoStatus::no_space;
        case EROFS:
        case EPERM:
        case EACCES: return IoStatus::read_only;
        case EINVAL: return IoStatus::invalid_field;
        case ENOMEM:
        case EAGAIN:
        case EBUSY: return IoStatus::no_resources;
        case ERANGE:
        case EFBIG: return IoStatus::out_of_range;
        case EOPNOTSUPP: return IoStatus::not_supported;
#ifdef ENOMEDIUM
        case ENOMEDIUM:
#endif
        case ENODEV:
#ifdef ESHUTDOWN
        case ESHUTDOWN:
#endif
        case ENXIO: return IoStatus::not_ready;
        case ECANCELED:
        case EINTR: return IoStatus::aborted;
        default: return IoStatus::medium_error;  // EIO and anything unknown
    }
}

}  // namespace vstor::backends::plugin
