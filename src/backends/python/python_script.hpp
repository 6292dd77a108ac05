// A Python script as a plugin (`--lun python:SCRIPT.py,key=value...`): the module, the callbacks it
// defines (the C ABI's names: open, get_size, pread, ...) and the vstor_plugin struct that calls
// them, so the C plugin machinery (thread model, configure sequence, errno -> sense) serves it.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "backends/plugin/plugin_library.hpp"
#include "backends/python/python_interpreter.hpp"

namespace vstor::backends::python {

// The script functions vstor calls, in the order of the C struct's callbacks.
enum class Fn {
    load, unload, config, config_complete, open, close, get_size, block_size, pread, pwrite, flush, trim, zero,
    extents, can_write, can_flush, can_trim, can_zero, can_fua, can_extents, identity, count_
};

class PythonScript final : public plugin::HostedPlugin {
public:
    // Runs the script at `path` as a new module and reads its name and thread model. nullptr with
    // `error` (the Python exception and where it was raised) on failure.
    static std::unique_ptr<PythonScript> load(const std::string& path, std::string& error);
    ~PythonScript() override;

    const vstor_plugin* plugin() const override { return &plugin_; }
    // The script's function, or nullptr when it does not define it. Call under the GIL.
    PyObject* fn(Fn f) const { return fns_[static_cast<std::size_t>(f)]; }
    const std::string& name() const { return name_; }

private:
    PythonScript() = default;
    bool run(const std::string& path, std::string& error);           // executes the module
    bool read_declarations(const std::string& path, std::string& error);  // name, thread model, functions
    PyObject* module_ = nullptr;
    std::string module_name_;  // its sys.modules key, dropped with it
    std::array<PyObject*, static_cast<std::size_t>(Fn::count_)> fns_{};
    std::string name_;
    vstor_plugin plugin_{};
};

// The struct's callbacks for a script that defines the functions `script` has (python_callbacks.cpp).
void fill_callbacks(vstor_plugin& p, const PythonScript& script);

// The library of the script at `path` (shared by its LUNs, as a plugin's is), started now if needed.
std::shared_ptr<plugin::PluginLibrary> script_library(const std::string& path, std::string& error);

}  // namespace vstor::backends::python
