// A loaded plugin shared object: found by its canonical path and shared by every LUN that uses it
// (load() runs once, unload() after the last LUN is gone), its vstor_plugin struct checked and
// copied, and the locks its thread model and the per-LUN configure sequence need.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "vstor/plugin.h"

namespace vstor::backends::plugin {

class PluginLibrary {
public:
    // The library at `path`, loaded now or shared with the LUNs already using it. nullptr with
    // `error` naming the file and the problem: missing, not loadable, no vstor_plugin_init, an
    // API version newer than this vstor's, a struct too small, a required callback missing, or
    // load() failing.
    static std::shared_ptr<PluginLibrary> get(const std::string& path, std::string& error);
    ~PluginLibrary();
    PluginLibrary(const PluginLibrary&) = delete;
    PluginLibrary& operator=(const PluginLibrary&) = delete;

    // The plugin's struct as this vstor knows it: fields past the plugin's struct_size are NULL.
    const vstor_plugin& plugin() const { return plugin_; }
    const std::string& path() const { return path_; }
    // Held for every callback when the thread model is SERIALIZE_ALL.
    std::mutex& serialize_all() { return serialize_all_; }
    // Held across one LUN's config, config_complete and open, so that LUNs do not interleave.
    std::mutex& setup() { return setup_; }

private:
    PluginLibrary() = default;
    bool init(std::string& error);  // after object_ is open
    std::string path_;
    void* object_ = nullptr;
    vstor_plugin plugin_{};
    bool loaded_ = false;  // load() succeeded: unload() is owed
    std::mutex serialize_all_;
    std::mutex setup_;
};

}  // namespace vstor::backends::plugin
