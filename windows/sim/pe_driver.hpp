// A cross-built vstor.sys, loaded from its PE file (pe_image.hpp) with its imports bound to the
// emulator's exports (pe_exports.hpp), as the emulator's DriverCode. Every call into the image goes
// through vs_pe_call (pe_call.hpp): the Windows calling convention, and a check after the return
// that the routine kept it. A routine that does not (such as a cdecl DRIVER_CANCEL on x86, which
// leaves the stack 8 bytes off) is reported as an emulator violation naming the routine and the
// driver function (from the image's COFF symbols), and the stack is put right, so the test fails
// with that message instead of crashing somewhere else.
//
// One PE driver may be in use at a time in a process (the emulator's callbacks are plain function
// pointers; the thunks find the image through a process-wide pointer).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "pe_image.hpp"
#include "storport_sim.hpp"

namespace vstor::storport_sim {

class PeDriver final : public DriverCode {
public:
    // Loads `path`; `symbols` (optional) is a file with the COFF symbols when the image has none.
    // nullptr and *why on failure (e.g. an import the emulator does not provide).
    static std::unique_ptr<PeDriver> load(const std::string& path, const std::string& symbols, std::string* why);
    ~PeDriver() override;

    const char* name() const override { return sizeof(void*) == 8 ? "pe-x64" : "pe-x86"; }
    NTSTATUS driver_entry(PDRIVER_OBJECT driver, PUNICODE_STRING registry_path) override;
    VIRTUAL_HW_INITIALIZATION_DATA callable(const VIRTUAL_HW_INITIALIZATION_DATA& registered) override;
    HW_TIMER* callable_timer(HW_TIMER* registered) override;
    void call_cancel(PDRIVER_CANCEL routine, PDEVICE_OBJECT device, PIRP irp) override;
    NTSTATUS call_dispatch(const char* role, PDRIVER_DISPATCH routine, PDEVICE_OBJECT device, PIRP irp) override;
    PDRIVER_DISPATCH port_dispatch_routine() override;

    const PeImage& image() const { return *image_; }
    unsigned convention_faults() const { return faults_.load(); }

    // Calls `fn` in the image (a routine of the role named, e.g. "HwStartIo") with `args`.
    template <class... A>
    std::uintptr_t call(const char* role, const void* fn, A... args) {
        const std::uintptr_t words[sizeof...(A) < 4 ? 4 : sizeof...(A)] = {word(args)...};
        return call_words(role, fn, words, sizeof...(A));
    }

    // The routines StorPortInitialize registered, as the image has them.
    VIRTUAL_HW_INITIALIZATION_DATA registered{};
    std::atomic<HW_TIMER*> timer{nullptr};

private:
    PeDriver() = default;
    template <class T>
    static std::uintptr_t word(T v) {
        if constexpr (std::is_pointer_v<T>) return reinterpret_cast<std::uintptr_t>(v);
        else return static_cast<std::uintptr_t>(v);
    }
    std::uintptr_t call_words(const char* role, const void* fn, const std::uintptr_t* words, std::size_t n);

    std::unique_ptr<PeImage> image_;
    std::atomic<unsigned> faults_{0};
};

}  // namespace vstor::storport_sim
