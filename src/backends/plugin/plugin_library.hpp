// A loaded plugin: a shared object, or a plugin vstor hosts itself (a Python script), found by its
// canonical path and shared by every LUN that uses it (load() runs once, unload() after the last LUN
// is gone), its vstor_plugin struct checked and copied, and the locks its thread model and the
// per-LUN configure sequence need.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "vstor/plugin.h"

namespace vstor::backends::plugin {

// A plugin that vstor runs itself instead of loading a shared object (backends/python): it hands
// out the struct a shared object's vstor_plugin_init would, and is destroyed after unload(). The
// C ABI's load, unload, config, config_complete and open carry no handle: a hosted plugin's
// callbacks find their host with PluginLibrary::calling().
class HostedPlugin {
public:
    virtual ~HostedPlugin() = default;
    virtual const vstor_plugin* plugin() const = 0;
};

class PluginLibrary {
public:
    // The library at `path`, loaded now or shared with the LUNs already using it. nullptr with
    // `error` naming the file and the problem: missing, not loadable, no vstor_plugin_init, an
    // API version newer than this vstor's, a struct too small, a required callback missing, or
    // load() failing.
    static std::shared_ptr<PluginLibrary> get(const std::string& path, std::string& error);
    // The hosted plugin registered as `key`, made now (`make`: nullptr with its error) or shared;
    // the same checks as a shared object's struct, errors prefixed with `label`.
    using MakeHosted = std::function<std::unique_ptr<HostedPlugin>(std::string& error)>;
    static std::shared_ptr<PluginLibrary> get_hosted(const std::string& key, const std::string& label,
                                                     const MakeHosted& make, std::string& error);
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
    HostedPlugin* hosted() const { return hosted_.get(); }

    // The library whose handle-less callback (load, unload, config, config_complete, open) runs on
    // this thread, set by a Calling scope around each; nullptr elsewhere.
    static PluginLibrary* calling();
    class Calling {
    public:
        explicit Calling(PluginLibrary& lib);
        ~Calling();
        Calling(const Calling&) = delete;
        Calling& operator=(const Calling&) = delete;

    private:
        PluginLibrary* previous_;
    };

private:
    PluginLibrary() = default;
    // Where the struct comes from: nullptr with `error` (a shared object's entry point, a host).
    using Source = std::function<const vstor_plugin*(PluginLibrary& lib, std::string& error)>;
    static std::shared_ptr<PluginLibrary> find_or_make(const std::string& key, const std::string& label,
                                                       const Source& source, std::string& error);
    bool init(const vstor_plugin* p, std::string& error);  // checks and copies the struct, load()
    std::string path_;
    void* object_ = nullptr;
    std::unique_ptr<HostedPlugin> hosted_;
    vstor_plugin plugin_{};
    bool loaded_ = false;  // load() succeeded: unload() is owed
    std::mutex serialize_all_;
    std::mutex setup_;
};

}  // namespace vstor::backends::plugin
