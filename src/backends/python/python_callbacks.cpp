// The vstor_plugin callbacks of a Python script: each takes the GIL, calls the script's function of
// the same name and turns an exception into the C ABI's -1 with an errno and message. The callbacks
// without a handle find their script through PluginLibrary::calling(); the others through the handle.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <type_traits>

#include "backends/plugin/plugin_errors.hpp"
#include "backends/python/python_script.hpp"

namespace vstor::backends::python {

namespace {

// What open() returns to the engine: the script and the object its open() returned.
struct ScriptHandle {
    const PythonScript* script;
    PyObject* object;
};

const PythonScript& calling_script() {
    return static_cast<const PythonScript&>(*plugin::PluginLibrary::calling()->hosted());
}
const ScriptHandle& handle_of(void* h) { return *static_cast<ScriptHandle*>(h); }

// Calls `f` with a tuple built by Py_BuildValue(format, ...); 0, or -1 with the error recorded.
template <typename... Args>
int call_void(const char* what, PyObject* f, const char* format, Args... args) {
    Ref r(PyObject_CallFunction(f, format, args...));
    return r ? 0 : fail_with_exception(what);
}

// A handle call that answers a number: the callable's result as an int64, or -1 with the error.
std::int64_t call_number(const char* what, Fn fn, void* h) {
    const auto& sh = handle_of(h);
    Gil gil;
    Ref r(PyObject_CallOneArg(sh.script->fn(fn), sh.object));
    if (!r) return fail_with_exception(what);
    const long long n = PyLong_AsLongLong(r.get());
    if (n == -1 && PyErr_Occurred()) return fail_with_exception(what);
    return n;
}

int can(Fn fn, void* h) {
    const auto& sh = handle_of(h);
    Gil gil;
    Ref r(PyObject_CallOneArg(sh.script->fn(fn), sh.object));
    const int truth = r ? PyObject_IsTrue(r.get()) : -1;
    return truth < 0 ? fail_with_exception("can_*") : truth;
}

int py_load() {
    Gil gil;
    return call_void("load", calling_script().fn(Fn::load), "()");
}

void py_unload() {
    Gil gil;
    if (call_void("unload", calling_script().fn(Fn::unload), "()") < 0)
        spdlog::warn("python '{}': unload: {}", calling_script().name(), plugin::take_error(0).message);
}

int py_config(const char* key, const char* value) {
    Gil gil;
    return call_void("config", calling_script().fn(Fn::config), "(ss)", key, value);
}

int py_config_complete() {
    Gil gil;
    return call_void("config_complete", calling_script().fn(Fn::config_complete), "()");
}

void* py_open(int readonly) {
    const PythonScript& script = calling_script();
    Gil gil;
    PyObject* object = PyObject_CallFunction(script.fn(Fn::open), "(O)", readonly ? Py_True : Py_False);
    if (!object) {
        fail_with_exception("open");
        return nullptr;
    }
    return new ScriptHandle{&script, object};  // any object, None too, is a handle
}

void py_close(void* h) {
    const auto* sh = static_cast<ScriptHandle*>(h);
    Gil gil;
    if (PyObject* f = sh->script->fn(Fn::close); f && call_void("close", f, "(O)", sh->object) < 0)
        spdlog::warn("python '{}': close: {}", sh->script->name(), plugin::take_error(0).message);
    Py_DECREF(sh->object);
    delete sh;
}

std::int64_t py_get_size(void* h) { return call_number("get_size", Fn::get_size, h); }

std::uint32_t py_block_size(void* h) {
    const std::int64_t n = call_number("block_size", Fn::block_size, h);
    return n > 0 && n <= UINT32_MAX ? static_cast<std::uint32_t>(n) : 0;  // 0: refused by the backend
}

// pread and pwrite lend the engine's buffer as a memoryview for the call only: it is released after,
// and a script that kept a view of it (a slice, say) fails the call rather than keep the memory.
int call_with_buffer(const char* what, Fn fn, void* h, void* buf, std::uint64_t count, std::uint64_t offset,
                     std::uint32_t flags, int access) {
    const auto& sh = handle_of(h);
    Gil gil;
    Ref view(PyMemoryView_FromMemory(static_cast<char*>(buf), static_cast<Py_ssize_t>(count), access));
    if (!view) return fail_with_exception(what);
    int rc = call_void(what, sh.script->fn(fn), "(OOKI)", sh.object, view.get(),
                       static_cast<unsigned long long>(offset), static_cast<unsigned>(flags));
    Ref released(PyObject_CallMethod(view.get(), "release", nullptr));
    if (!released && rc == 0) rc = fail_with_exception(what);
    PyErr_Clear();
    return rc;
}

int py_pread(void* h, void* buf, std::uint64_t count, std::uint64_t offset, std::uint32_t flags) {
    return call_with_buffer("pread", Fn::pread, h, buf, count, offset, flags, PyBUF_WRITE);
}

int py_pwrite(void* h, const void* buf, std::uint64_t count, std::uint64_t offset, std::uint32_t flags) {
    return call_with_buffer("pwrite", Fn::pwrite, h, const_cast<void*>(buf), count, offset, flags, PyBUF_READ);
}

int py_flush(void* h, std::uint32_t flags) {
    const auto& sh = handle_of(h);
    Gil gil;
    return call_void("flush", sh.script->fn(Fn::flush), "(OI)", sh.object, static_cast<unsigned>(flags));
}

int ranged(const char* what, Fn fn, void* h, std::uint64_t count, std::uint64_t offset, std::uint32_t flags) {
    const auto& sh = handle_of(h);
    Gil gil;
    return call_void(what, sh.script->fn(fn), "(OKKI)", sh.object, static_cast<unsigned long long>(count),
                     static_cast<unsigned long long>(offset), static_cast<unsigned>(flags));
}

int py_trim(void* h, std::uint64_t count, std::uint64_t offset, std::uint32_t flags) {
    return ranged("trim", Fn::trim, h, count, offset, flags);
}

int py_zero(void* h, std::uint64_t count, std::uint64_t offset, std::uint32_t flags) {
    return ranged("zero", Fn::zero, h, count, offset, flags);
}

// extents(h, count, offset) returns an iterable of (offset, length, type) in order from `offset`.
int py_extents(void* h, std::uint64_t count, std::uint64_t offset, vstor_extents* extents) {
    const auto& sh = handle_of(h);
    Gil gil;
    Ref r(PyObject_CallFunction(sh.script->fn(Fn::extents), "(OKK)", sh.object,
                                static_cast<unsigned long long>(count), static_cast<unsigned long long>(offset)));
    Ref it(r ? PyObject_GetIter(r.get()) : nullptr);
    if (!it) return fail_with_exception("extents");
    while (Ref item{PyIter_Next(it.get())}) {
        unsigned long long off = 0, length = 0;
        unsigned type = 0;
        if (!PyArg_ParseTuple(item.get(), "KKI;extents must yield (offset, length, type)", &off, &length, &type))
            return fail_with_exception("extents");
        if (plugin::add_extent(extents, off, length, type) < 0) return -1;  // add_extent recorded why
    }
    return PyErr_Occurred() ? fail_with_exception("extents") : 0;
}

int py_can_write(void* h) { return can(Fn::can_write, h); }
int py_can_flush(void* h) { return can(Fn::can_flush, h); }
int py_can_trim(void* h) { return can(Fn::can_trim, h); }
int py_can_zero(void* h) { return can(Fn::can_zero, h); }
int py_can_fua(void* h) { return can(Fn::can_fua, h); }
int py_can_extents(void* h) { return can(Fn::can_extents, h); }

// identity(h) returns a dict with any of vendor, product, serial (str), rotation_rate and
// optimal_transfer_blocks (int); what it leaves out keeps vstor's default.
int identity_from_dict(PyObject* dict, vstor_plugin_identity* id) {
    if (!PyDict_Check(dict)) {
        PyErr_SetString(PyExc_TypeError, "identity must return a dict");
        return -1;
    }
    auto text = [dict](const char* key, char* field, std::size_t size) {
        PyObject* v = PyDict_GetItemString(dict, key);  // borrowed
        const char* s = v ? PyUnicode_AsUTF8(v) : nullptr;
        if (s) std::strncpy(field, s, size - 1);
        return !v || s;
    };
    auto number = [dict](const char* key, auto& field) {
        PyObject* v = PyDict_GetItemString(dict, key);
        if (!v) return true;
        const unsigned long n = PyLong_AsUnsignedLong(v);
        if (PyErr_Occurred()) return false;
        field = static_cast<std::remove_reference_t<decltype(field)>>(n);
        return true;
    };
    const bool ok = text("vendor", id->vendor, sizeof id->vendor) && text("product", id->product, sizeof id->product) &&
                    text("serial", id->serial, sizeof id->serial) && number("rotation_rate", id->rotation_rate) &&
                    number("optimal_transfer_blocks", id->optimal_transfer_blocks);
    return ok ? 0 : -1;
}

int py_identity(void* h, vstor_plugin_identity* id) {
    const auto& sh = handle_of(h);
    Gil gil;
    Ref r(PyObject_CallOneArg(sh.script->fn(Fn::identity), sh.object));
    if (!r || identity_from_dict(r.get(), id) < 0) return fail_with_exception("identity");
    return 0;
}

}  // namespace

void fill_callbacks(vstor_plugin& p, const PythonScript& s) {
    auto has = [&s](Fn f) { return s.fn(f) != nullptr; };
    p.load = has(Fn::load) ? py_load : nullptr;
    p.unload = has(Fn::unload) ? py_unload : nullptr;
    p.config = has(Fn::config) ? py_config : nullptr;
    p.config_complete = has(Fn::config_complete) ? py_config_complete : nullptr;
    p.open = has(Fn::open) ? py_open : nullptr;
    p.close = py_close;  // always: the handle wraps the script's object
    p.get_size = has(Fn::get_size) ? py_get_size : nullptr;
    p.block_size = has(Fn::block_size) ? py_block_size : nullptr;
    p.pread = has(Fn::pread) ? py_pread : nullptr;
    p.pwrite = has(Fn::pwrite) ? py_pwrite : nullptr;
    p.flush = has(Fn::flush) ? py_flush : nullptr;
    p.trim = has(Fn::trim) ? py_trim : nullptr;
    p.zero = has(Fn::zero) ? py_zero : nullptr;
    p.extents = has(Fn::extents) ? py_extents : nullptr;
    p.can_write = has(Fn::can_write) ? py_can_write : nullptr;
    p.can_flush = has(Fn::can_flush) ? py_can_flush : nullptr;
    p.can_trim = has(Fn::can_trim) ? py_can_trim : nullptr;
    p.can_zero = has(Fn::can_zero) ? py_can_zero : nullptr;
    p.can_fua = has(Fn::can_fua) ? py_can_fua : nullptr;
    p.can_extents = has(Fn::can_extents) ? py_can_extents : nullptr;
    p.identity = has(Fn::identity) ? py_identity : nullptr;
}

}  // namespace vstor::backends::python
