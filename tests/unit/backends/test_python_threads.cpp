// The thread model a Python script declares is enforced like a C plugin's, the GIL
// notwithstanding, and its callbacks run on vstor's workers, never on the submitting thread. The
// probe script (tests/python/probe.py.in, one copy per model) counts its calls in flight; the test
// reads its counters from the module in the embedded interpreter.
#include <unistd.h>

#include <thread>

#include "backends/python/python_interpreter.hpp"
#include "spec_backend.hpp"

namespace vstor::test {
namespace {

const char* const kModels[] = {"serialize_all", "serialize_requests", "parallel"};

struct PythonSeen {
    long all = 0, one_handle = 0, calls = 0;
    bool on_submitter = false;
};

class PythonThreadsTest : public SpecBackendTest, public ::testing::WithParamInterface<int> {
protected:
    void SetUp() override {
        EngineTest::SetUp();
        const std::string path = std::string(VSTOR_TEST_PYTHON_DIR) + "/probe_" + kModels[GetParam()] + ".py";
        for (std::uint16_t lun : {1, 2}) add_spec(lun, "python", path, {}, false);
        clear_ua(1);
        clear_ua(2);
        call("reset");
    }
    // The probe's module: vstor registers a script as vstor_script_<stem>.
    PyObject* module() const {
        const std::string name = std::string("vstor_script_probe_") + kModels[GetParam()];
        return PyDict_GetItemString(PyImport_GetModuleDict(), name.c_str());  // borrowed
    }
    void call(const char* fn) {
        backends::python::Gil gil;
        backends::python::Ref r(PyObject_CallMethod(module(), fn, nullptr));
        ASSERT_TRUE(r);
    }
    PythonSeen seen() const {
        backends::python::Gil gil;
        auto number = [this](const char* attr) {
            backends::python::Ref v(PyObject_GetAttrString(module(), attr));
            return v ? PyLong_AsLong(v.get()) : -1;
        };
        PythonSeen s{number("all_max"), number("handle_max"), number("calls")};
        backends::python::Ref ids(PyObject_GetAttrString(module(), "thread_ids"));
        backends::python::Ref me(PyLong_FromLong(::gettid()));
        s.on_submitter = ids && PySet_Contains(ids.get(), me.get()) == 1;
        return s;
    }
};

TEST_P(PythonThreadsTest, CallbacksRunOffTheSubmittingThread) {
    auto r = send({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 1, 512);
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.data, std::vector<std::uint8_t>(512, 0x5a));
    const PythonSeen s = seen();
    EXPECT_EQ(s.calls, 1);
    EXPECT_FALSE(s.on_submitter);
    // No identity function: the product is the script's `name` by kind.
    auto inq = send({0x12, 0, 0, 0, 96, 0}, 1, 96);
    EXPECT_EQ(std::string(inq.data.begin() + 16, inq.data.begin() + 32), "PROBE-DISK      ");
}

TEST_P(PythonThreadsTest, ThreadModelIsEnforced) {
    read_at_once();
    const PythonSeen s = seen();
    EXPECT_EQ(s.calls, 12);
    switch (GetParam()) {
        case 0: EXPECT_EQ(s.all, 1); break;  // serialize_all: one call at a time across both LUNs
        case 1:
            EXPECT_EQ(s.one_handle, 1);  // serialize_requests: one at a time per LUN...
            EXPECT_EQ(s.all, 2);         // ...but the two LUNs at once
            break;
        default: EXPECT_GT(s.one_handle, 1); break;  // parallel: several on one LUN (sleep drops the GIL)
    }
}

INSTANTIATE_TEST_SUITE_P(Models, PythonThreadsTest, ::testing::Values(0, 1, 2), thread_model_name);

}  // namespace
}  // namespace vstor::test
