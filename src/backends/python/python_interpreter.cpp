#include "backends/python/python_interpreter.hpp"

#include <cerrno>
#include <mutex>

#include "backends/plugin/plugin_errors.hpp"
#include "vstor/plugin.h"

namespace vstor::backends::python {

namespace {

// `import vstor` in a script: the plugin ABI's constants under their C names, less the prefix.
PyModuleDef vstor_module_def = {PyModuleDef_HEAD_INIT, "vstor", "vstor's Python plugin constants", -1,
                                nullptr, nullptr, nullptr, nullptr, nullptr};

PyObject* init_vstor_module() {
    PyObject* m = PyModule_Create(&vstor_module_def);
    if (!m) return nullptr;
    const std::pair<const char*, long> constants[] = {
        {"API_VERSION", VSTOR_PLUGIN_API_VERSION},
        {"THREAD_MODEL_SERIALIZE_ALL", VSTOR_THREAD_MODEL_SERIALIZE_ALL},
        {"THREAD_MODEL_SERIALIZE_REQUESTS", VSTOR_THREAD_MODEL_SERIALIZE_REQUESTS},
        {"THREAD_MODEL_PARALLEL", VSTOR_THREAD_MODEL_PARALLEL},
        {"FLAG_FUA", VSTOR_FLAG_FUA},
        {"EXTENT_HOLE", VSTOR_EXTENT_HOLE},
        {"EXTENT_ZERO", VSTOR_EXTENT_ZERO},
    };
    for (const auto& [name, value] : constants) {
        if (PyModule_AddIntConstant(m, name, value) < 0) {
            Py_DECREF(m);
            return nullptr;
        }
    }
    return m;
}

std::string str_of(PyObject* o) {
    Ref s(o ? PyObject_Str(o) : nullptr);
    const char* text = s ? PyUnicode_AsUTF8(s.get()) : nullptr;
    if (!text) PyErr_Clear();
    return text ? text : "";
}

// " (script.py:12 in pread)": the innermost frame of the traceback, where the exception was raised.
std::string raised_at(PyObject* value) {
    Ref tb(PyException_GetTraceback(value));
    if (!tb) return "";
    Ref last(Py_NewRef(tb.get()));
    for (;;) {
        Ref next(PyObject_GetAttrString(last.get(), "tb_next"));
        if (!next || next.get() == Py_None) break;
        last = std::move(next);
    }
    PyErr_Clear();
    Ref line(PyObject_GetAttrString(last.get(), "tb_lineno"));
    Ref frame(PyObject_GetAttrString(last.get(), "tb_frame"));
    Ref code(frame ? PyObject_GetAttrString(frame.get(), "f_code") : nullptr);
    Ref file(code ? PyObject_GetAttrString(code.get(), "co_filename") : nullptr);
    Ref func(code ? PyObject_GetAttrString(code.get(), "co_name") : nullptr);
    PyErr_Clear();
    if (!line || !file || !func) return "";
    std::string path = str_of(file.get());
    path = path.substr(path.rfind('/') + 1);
    return " (" + path + ":" + str_of(line.get()) + " in " + str_of(func.get()) + ")";
}

// Under AddressSanitizer Python allocates with malloc, not in its own mmap()ed arenas, which
// LeakSanitizer does not scan (it would report what only Python's objects point to as leaked).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

}  // namespace

bool start_interpreter(std::string& error) {
    static std::mutex mu;
    static bool started = false;
    std::lock_guard lk(mu);
    if (started) return true;
    if (PyImport_AppendInittab("vstor", &init_vstor_module) < 0) {
        error = "cannot register the vstor module";
        return false;
    }
    PyPreConfig pre;
    PyPreConfig_InitPythonConfig(&pre);
    if (kAsan) pre.allocator = PYMEM_ALLOCATOR_MALLOC;
    if (PyStatus pst = Py_PreInitialize(&pre); PyStatus_Exception(pst)) {
        error = std::string("cannot start Python: ") + (pst.err_msg ? pst.err_msg : "unknown error");
        return false;
    }
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    const PyStatus st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) {
        error = std::string("cannot start Python: ") + (st.err_msg ? st.err_msg : "unknown error");
        return false;
    }
    PyEval_SaveThread();  // the GIL is taken per call (Gil), from whichever thread calls
    started = true;
    return true;
}

Exception take_exception() {
    PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value && tb) PyException_SetTraceback(value, tb);
    Ref t(type), v(value), b(tb);
    Exception e;
    e.errnum = EIO;
    if (v) {
        Ref errnum(PyObject_GetAttrString(v.get(), "errno"));
        if (errnum && PyLong_Check(errnum.get())) {
            const long n = PyLong_AsLong(errnum.get());
            if (n > 0 && n < 4096) e.errnum = static_cast<int>(n);
        }
        PyErr_Clear();
    }
    const char* type_name = t ? reinterpret_cast<PyTypeObject*>(t.get())->tp_name : "exception";
    const std::string text = str_of(v.get());
    e.message = std::string(type_name) + (text.empty() ? "" : ": " + text) + (v ? raised_at(v.get()) : "");
    return e;
}

int fail_with_exception(const char* callback) {
    if (!PyErr_Occurred()) {  // a C-API failure without an exception (should not happen)
        plugin::record_error(EIO, (std::string(callback) + " failed").c_str());
        return -1;
    }
    const Exception e = take_exception();
    plugin::record_error(e.errnum, e.message.c_str());
    return -1;
}

}  // namespace vstor::backends::python
