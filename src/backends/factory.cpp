#include "backends/factory.hpp"

#include "backends/file/file_backend.hpp"
#include "backends/mem/mem_backend.hpp"
#include "backends/null/null_backend.hpp"
#include "backends/plugin/plugin_backend.hpp"
#ifndef _WIN32
#include "backends/rbd/rbd_backend.hpp"
#endif
#ifdef VSTOR_HAVE_PYTHON
#include "backends/python/python_script.hpp"
#endif

namespace vstor::backends {

std::shared_ptr<Backend> open_backend(const BackendSpec& spec, std::string& error) {
    if (spec.block_size != 512 && spec.block_size != 4096) {
        error = "block size must be 512 or 4096";
        return nullptr;
    }
    if (spec.kind == "mem" || spec.kind == "null") {
        if (spec.size_bytes < spec.block_size || spec.size_bytes % spec.block_size) {
            error = spec.kind + " LUN size must be a non-zero multiple of " + std::to_string(spec.block_size);
            return nullptr;
        }
        if (spec.kind == "null") return std::make_shared<NullBackend>(spec.size_bytes, spec.block_size);
        return std::make_shared<MemBackend>(spec.size_bytes, spec.block_size, spec.read_only);
    }
    if (spec.kind == "file") {
        FileOptions o;
        o.path = spec.path;
        o.size_bytes = spec.size_bytes;
        o.block_size = spec.block_size;
        o.read_only = spec.read_only;
        o.thick = spec.thick;
        return FileBackend::open(o, error);
    }
    if (spec.kind == "rbd") {
#ifdef _WIN32
        error = "rbd LUNs need the Linux build (librbd)";
        return nullptr;
#else
        const auto slash = spec.path.find('/');
        RbdOptions o;
        o.pool = spec.path.substr(0, slash);
        o.image = slash == std::string::npos ? "" : spec.path.substr(slash + 1);
        o.conf = spec.rbd_conf;
        o.client_id = spec.rbd_id;
        if (spec.rbd_stall_ms) o.stall = std::chrono::milliseconds(spec.rbd_stall_ms);
        o.forget = std::chrono::milliseconds(spec.rbd_forget_ms);
        o.block_size = spec.block_size;
        o.read_only = spec.read_only;
        return RbdBackend::open(o, error);
#endif
    }
    if (spec.kind == "plugin")
        return plugin::PluginBackend::open({spec.path, spec.params, spec.read_only, spec.block_size}, error);
    if (spec.kind == "python") {
#ifdef VSTOR_HAVE_PYTHON
        auto lib = python::script_library(spec.path, error);
        if (!lib) return nullptr;
        return plugin::PluginBackend::open(std::move(lib), {spec.path, spec.params, spec.read_only, spec.block_size},
                                           error);
#else
        error = "python LUNs need vstor built with Python (python3-dev: pkg-config python3-embed)";
        return nullptr;
#endif
    }
    error = "unknown backend kind '" + spec.kind + "'";
    return nullptr;
}

}  // namespace vstor::backends
