// Calls into a loaded PE image with the Windows calling convention, checking after the return
// that the callee kept the convention (pe_call.S).
//
// x86 (stdcall, every routine the kernel calls in a driver: DriverEntry, the Hw* callbacks,
// DRIVER_CANCEL): the callee pops its arguments, so the stack pointer after the return must equal
// the one before the arguments were pushed; a cdecl routine leaves it 4 bytes per argument low. The
// thunk restores it either way, so the mismatch is reported instead of corrupting the caller's frame.
// x64: one convention, but the callee must return with the stack pointer it got and keep RSI/RDI,
// which the Windows x64 convention makes callee-saved (System V does not): both are checked.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {
struct VsPeCallCheck {
    std::intptr_t stack_delta;     // stack pointer after the return minus the one it had to be
    std::uintptr_t regs_clobbered; // nonzero: a register the callee must preserve was changed
};
// `args` has at least max(nargs, 4) entries (the x64 register arguments are always loaded).
std::uintptr_t vs_pe_call(const void* fn, const std::uintptr_t* args, std::size_t nargs, VsPeCallCheck* check);
}
