#include <windows.h>

#include "backends/plugin/shared_object.hpp"

namespace vstor::backends::plugin {

void* open_shared_object(const std::string& path, std::string& error) {
    HMODULE h = LoadLibraryA(path.c_str());
    if (!h) error = "LoadLibrary failed with error " + std::to_string(GetLastError());
    return reinterpret_cast<void*>(h);
}

void* find_symbol(void* object, const char* name) {
    return reinterpret_cast<void*>(GetProcAddress(static_cast<HMODULE>(object), name));
}

void close_shared_object(void* object) { FreeLibrary(static_cast<HMODULE>(object)); }

}  // namespace vstor::backends::plugin
