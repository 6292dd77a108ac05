// The process's one embedded CPython interpreter (Debian's libpython3, `pkg-config python3-embed`):
// started by the first Python LUN and kept until exit (CPython cannot be restarted reliably), with
// the GIL released whenever vstor is not running Python. Includes <Python.h> (first, as it asks).
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>

namespace vstor::backends::python {

// Starts the interpreter once (no signal handlers: vstor keeps SIGINT/SIGTERM), with the built-in
// module `vstor` (the plugin ABI's constants). false with `error` when it cannot start.
bool start_interpreter(std::string& error);

// Holds the GIL on this thread for its lifetime (any thread; nests).
class Gil {
public:
    Gil() : state_(PyGILState_Ensure()) {}
    ~Gil() { PyGILState_Release(state_); }
    Gil(const Gil&) = delete;
    Gil& operator=(const Gil&) = delete;

private:
    PyGILState_STATE state_;
};

// A strong reference, released (under the GIL the caller holds) when it goes out of scope.
class Ref {
public:
    Ref() = default;
    explicit Ref(PyObject* o) : o_(o) {}  // takes ownership of a new reference (nullptr allowed)
    ~Ref() { Py_XDECREF(o_); }
    Ref(Ref&& r) noexcept : o_(r.o_) { r.o_ = nullptr; }
    Ref& operator=(Ref&& r) noexcept {
        std::swap(o_, r.o_);
        return *this;
    }
    PyObject* get() const { return o_; }
    explicit operator bool() const { return o_ != nullptr; }

private:
    PyObject* o_ = nullptr;
};

// The pending Python exception, cleared: its errno (an `errno` attribute that is a positive int,
// as OSError has, else EIO) and a message naming the exception, its text and where it was raised.
struct Exception {
    int errnum = 0;
    std::string message;
};
Exception take_exception();

// Records the pending exception as the failing callback's error (plugin_errors: the errno becomes
// sense, the message reaches the log) and returns -1, the C ABI's failure.
int fail_with_exception(const char* callback);

}  // namespace vstor::backends::python
