#include "backends/plugin/plugin_library.hpp"

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <map>

#include "backends/plugin/plugin_errors.hpp"
#include "backends/plugin/shared_object.hpp"

namespace vstor::backends::plugin {

namespace {

// The fields every API v1 plugin has: up to and including thread_model.
constexpr std::size_t kMinStructSize = offsetof(vstor_plugin, thread_model) + sizeof(int);

// Recursive: a library that fails to initialise is destroyed inside get(), which holds it.
std::recursive_mutex registry_mu;
std::map<std::string, std::weak_ptr<PluginLibrary>>& registry() {
    static std::map<std::string, std::weak_ptr<PluginLibrary>> r;
    return r;
}

thread_local PluginLibrary* calling_library = nullptr;

}  // namespace

PluginLibrary* PluginLibrary::calling() { return calling_library; }
PluginLibrary::Calling::Calling(PluginLibrary& lib) : previous_(calling_library) { calling_library = &lib; }
PluginLibrary::Calling::~Calling() { calling_library = previous_; }

std::shared_ptr<PluginLibrary> PluginLibrary::get(const std::string& path, std::string& error) {
    std::error_code ec;
    const auto canonical = std::filesystem::canonical(path, ec);
    if (ec) {
        error = "plugin " + path + ": " + (ec == std::errc::no_such_file_or_directory ? "no such file" : ec.message());
        return nullptr;
    }
    auto from_object = [](PluginLibrary& lib, std::string& why) -> const vstor_plugin* {
        lib.object_ = open_shared_object(lib.path_, why);
        if (!lib.object_) {
            why = "cannot load: " + why;
            return nullptr;
        }
        auto entry = reinterpret_cast<vstor_plugin_init_fn>(find_symbol(lib.object_, "vstor_plugin_init"));
        if (!entry) {
            why = "does not define vstor_plugin_init (not a vstor plugin? see VSTOR_PLUGIN_REGISTER)";
            return nullptr;
        }
        const vstor_plugin* p = entry(host_table());
        if (!p) why = "vstor_plugin_init returned NULL";
        return p;
    };
    return find_or_make(canonical.string(), "plugin " + path, from_object, error);
}

std::shared_ptr<PluginLibrary> PluginLibrary::get_hosted(const std::string& key, const std::string& label,
                                                         const MakeHosted& make, std::string& error) {
    auto from_host = [&make](PluginLibrary& lib, std::string& why) -> const vstor_plugin* {
        lib.hosted_ = make(why);
        return lib.hosted_ ? lib.hosted_->plugin() : nullptr;
    };
    return find_or_make(key, label, from_host, error);
}

std::shared_ptr<PluginLibrary> PluginLibrary::find_or_make(const std::string& key, const std::string& label,
                                                           const Source& source, std::string& error) {
    std::lock_guard lk(registry_mu);
    auto& slot = registry()[key];
    if (auto lib = slot.lock()) return lib;
    std::shared_ptr<PluginLibrary> lib(new PluginLibrary);
    lib->path_ = key;
    std::string why;
    const vstor_plugin* p = source(*lib, why);
    if (!p || !lib->init(p, why)) {
        error = label + ": " + why;
        return nullptr;
    }
    slot = lib;
    return lib;
}

bool PluginLibrary::init(const vstor_plugin* p, std::string& error) {
    if (p->api_version > VSTOR_PLUGIN_API_VERSION || p->api_version == 0) {
        error = "built for plugin API version " + std::to_string(p->api_version) + "; this vstor implements " +
                "versions 1 to " + std::to_string(VSTOR_PLUGIN_API_VERSION);
        return false;
    }
    if (p->struct_size < kMinStructSize) {
        error = "struct vstor_plugin of " + std::to_string(p->struct_size) + " bytes is too small (at least " +
                std::to_string(kMinStructSize) + ")";
        return false;
    }
    // An older plugin's struct is a prefix of ours: copy what it has, the rest stays NULL. A newer
    // plugin's extra fields (same API version, larger struct) are ignored.
    std::memcpy(&plugin_, p, std::min<std::size_t>(p->struct_size, sizeof plugin_));
    const std::string name = plugin_.name ? plugin_.name : "";
    if (name.empty()) {
        error = "the plugin struct has no name";
        return false;
    }
    const char* missing = !plugin_.open ? "open" : !plugin_.get_size ? "get_size" : !plugin_.pread ? "pread" : nullptr;
    if (missing) {
        error = "plugin '" + name + "' has no " + missing + " callback (required)";
        return false;
    }
    if (plugin_.thread_model < VSTOR_THREAD_MODEL_SERIALIZE_ALL || plugin_.thread_model > VSTOR_THREAD_MODEL_PARALLEL) {
        error = "plugin '" + name + "' declares unknown thread model " + std::to_string(plugin_.thread_model);
        return false;
    }
    if (plugin_.load) {
        Calling scope(*this);
        clear_error();
        if (plugin_.load() == -1) {
            const int saved = errno;
            error = "plugin '" + name + "' failed to load: " + take_error(saved).message;
            return false;
        }
    }
    loaded_ = true;
    return true;
}

PluginLibrary::~PluginLibrary() {
    std::lock_guard lk(registry_mu);  // a get() of the same path waits until unload() is done
    if (loaded_ && plugin_.unload) {
        Calling scope(*this);
        plugin_.unload();
    }
    hosted_.reset();
    if (object_) close_shared_object(object_);
    // The registry slot now holds an expired pointer; the next get() replaces it.
}

}  // namespace vstor::backends::plugin
