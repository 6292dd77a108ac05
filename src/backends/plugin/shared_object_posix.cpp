#include <dlfcn.h>

#include "backends/plugin/shared_object.hpp"

namespace vstor::backends::plugin {

void* open_shared_object(const std::string& path, std::string& error) {
    // RTLD_LOCAL: two plugins may define the same names; RTLD_NOW: a missing symbol fails here.
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* e = dlerror();
        error = e ? e : "dlopen failed";
    }
    return h;
}

void* find_symbol(void* object, const char* name) { return dlsym(object, name); }

void close_shared_object(void* object) { dlclose(object); }

}  // namespace vstor::backends::plugin
