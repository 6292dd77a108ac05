// dlopen/LoadLibrary behind one small seam (shared_object_posix.cpp, shared_object_win32.cpp).
#pragma once

#include <string>

namespace vstor::backends::plugin {

// nullptr with `error` set (naming the file) when it cannot be loaded.
void* open_shared_object(const std::string& path, std::string& error);
// nullptr when the object does not define `name`.
void* find_symbol(void* object, const char* name);
void close_shared_object(void* object);

}  // namespace vstor::backends::plugin
