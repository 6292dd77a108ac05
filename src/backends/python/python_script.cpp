#include "backends/python/python_script.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace vstor::backends::python {

namespace {

constexpr const char* kFnNames[] = {"load", "unload", "config", "config_complete", "open", "close", "get_size",
                                    "block_size", "pread", "pwrite", "flush", "trim", "zero", "extents",
                                    "can_write", "can_flush", "can_trim", "can_zero", "can_fua", "can_extents",
                                    "identity"};
static_assert(std::size(kFnNames) == static_cast<std::size_t>(Fn::count_));

// A module name no other module has: vstor_script_<stem>, then _2, _3, ...
std::string unused_module_name(const std::string& stem) {
    PyObject* modules = PyImport_GetModuleDict();  // borrowed
    std::string name = "vstor_script_" + stem;
    for (int i = 2; PyDict_GetItemString(modules, name.c_str()); ++i) name = "vstor_script_" + stem + "_" + std::to_string(i);
    return name;
}

// thread_model = "parallel" (or "serialize_all", "serialize_requests", or vstor.THREAD_MODEL_*), or
// a function returning one. Absent: serialize_all, as a C plugin's zeroed field.
bool thread_model_of(PyObject* module, int& model, std::string& error) {
    Ref declared(PyObject_GetAttrString(module, "thread_model"));
    if (!declared) {
        PyErr_Clear();
        model = VSTOR_THREAD_MODEL_SERIALIZE_ALL;
        return true;
    }
    if (PyCallable_Check(declared.get())) declared = Ref(PyObject_CallNoArgs(declared.get()));
    if (!declared) {
        error = "thread_model(): " + take_exception().message;
        return false;
    }
    if (PyLong_Check(declared.get())) {
        model = static_cast<int>(PyLong_AsLong(declared.get()));  // the library checks the range
        return true;
    }
    const char* text = PyUnicode_Check(declared.get()) ? PyUnicode_AsUTF8(declared.get()) : nullptr;
    const std::string s = text ? text : "";
    if (s == "serialize_all") model = VSTOR_THREAD_MODEL_SERIALIZE_ALL;
    else if (s == "serialize_requests") model = VSTOR_THREAD_MODEL_SERIALIZE_REQUESTS;
    else if (s == "parallel") model = VSTOR_THREAD_MODEL_PARALLEL;
    else {
        PyErr_Clear();
        error = "thread_model must be \"serialize_all\", \"serialize_requests\" or \"parallel\"";
        return false;
    }
    return true;
}

}  // namespace

std::unique_ptr<PythonScript> PythonScript::load(const std::string& path, std::string& error) {
    if (!start_interpreter(error)) return nullptr;
    std::unique_ptr<PythonScript> s(new PythonScript);
    Gil gil;
    if (!s->run(path, error) || !s->read_declarations(path, error)) return nullptr;
    fill_callbacks(s->plugin_, *s);
    return s;
}

bool PythonScript::run(const std::string& path, std::string& error) {
    std::ifstream in(path);
    std::stringstream source;
    source << in.rdbuf();
    if (!in) {
        error = "cannot read the script";
        return false;
    }
    Ref code(Py_CompileString(source.str().c_str(), path.c_str(), Py_file_input));
    // Registered in sys.modules under a name of its own (some modules, e.g. dataclasses, look
    // their caller up there), with __file__ set, then executed as `import` would.
    if (code) module_name_ = unused_module_name(std::filesystem::path(path).stem());
    Ref module(code ? PyImport_ExecCodeModuleEx(module_name_.c_str(), code.get(), path.c_str()) : nullptr);
    if (!module) {
        error = take_exception().message;
        return false;
    }
    module_ = Py_NewRef(module.get());
    return true;
}

bool PythonScript::read_declarations(const std::string& path, std::string& error) {
    Ref name(PyObject_GetAttrString(module_, "name"));
    const char* text = name && PyUnicode_Check(name.get()) ? PyUnicode_AsUTF8(name.get()) : nullptr;
    PyErr_Clear();
    name_ = text && *text ? text : std::filesystem::path(path).stem().string();
    for (std::size_t i = 0; i < fns_.size(); ++i) {
        PyObject* f = PyObject_GetAttrString(module_, kFnNames[i]);
        if (f && !PyCallable_Check(f)) {
            Py_DECREF(f);
            error = std::string("'") + kFnNames[i] + "' is not a function";
            return false;
        }
        if (!f) PyErr_Clear();
        fns_[i] = f;
    }
    plugin_.struct_size = sizeof plugin_;
    plugin_.api_version = VSTOR_PLUGIN_API_VERSION;
    plugin_.name = name_.c_str();
    return thread_model_of(module_, plugin_.thread_model, error);
}

PythonScript::~PythonScript() {
    Gil gil;
    for (PyObject* f : fns_) Py_XDECREF(f);
    if (module_ && PyDict_DelItemString(PyImport_GetModuleDict(), module_name_.c_str()) < 0) PyErr_Clear();
    Py_XDECREF(module_);
}

std::shared_ptr<plugin::PluginLibrary> script_library(const std::string& path, std::string& error) {
    std::error_code ec;
    const auto canonical = std::filesystem::canonical(path, ec);
    if (ec) {
        error = "python " + path + ": " + (ec == std::errc::no_such_file_or_directory ? "no such file" : ec.message());
        return nullptr;
    }
    auto make = [&canonical](std::string& why) -> std::unique_ptr<plugin::HostedPlugin> {
        return PythonScript::load(canonical.string(), why);
    };
    return plugin::PluginLibrary::get_hosted("python:" + canonical.string(), "python " + path, make, error);
}

}  // namespace vstor::backends::python
