// The emulator's kernel exports (kernel_exports.hpp) as a Windows image calls them: wrappers with
// the Windows calling convention of this build's architecture, in the table the PE loader binds
// imports against.
//   x64: one convention (__attribute__((ms_abi))), variadic ones read with the Windows va_list.
//   x86: stdcall, fastcall for the HAL's queued spin locks, cdecl for the variadic StorPort calls
//        and the C runtime routines; every wrapper realigns the stack (Windows guarantees 4 bytes,
//        GCC's i386 code assumes 16).
#include "pe_exports.hpp"

#include <cstdarg>
#include <cstring>
#include <vector>

#include "kernel_exports.hpp"

namespace vstor::storport_sim {

namespace {

constexpr const char* dll_name(const char* token) {
    return token[0] == 's' ? "storport.sys" : token[0] == 'h' ? "hal.dll" : "ntoskrnl.exe";
}

#if defined(__x86_64__)

#define VS_PE_WRAP(dll64, dll32, conv, ret, name, params, args) \
    __attribute__((ms_abi)) ret pe_##name params { return ::name args; }
VS_SIM_FIXED_EXPORTS(VS_PE_WRAP)
#undef VS_PE_WRAP
#define VS_PE_DLL(dll64, dll32) #dll64

class MsVarArgs final : public VarArgs {
public:
    explicit MsVarArgs(__builtin_ms_va_list& ap) : ap_(ap) {}
    std::uintptr_t word() override { return reinterpret_cast<std::uintptr_t>(__builtin_va_arg(ap_, void*)); }
    std::uint32_t u32() override { return __builtin_va_arg(ap_, std::uint32_t); }

private:
    __builtin_ms_va_list& ap_;
};

__attribute__((ms_abi)) VOID pe_StorPortNotification(SCSI_NOTIFICATION_TYPE type, PVOID extension, ...) {
    __builtin_ms_va_list ap;
    __builtin_ms_va_start(ap, extension);
    MsVarArgs args(ap);
    storport_notification(type, extension, args);
    __builtin_ms_va_end(ap);
}

__attribute__((ms_abi)) ULONG pe_StorPortExtendedFunction(STORPORT_FUNCTION_CODE code, PVOID extension, ...) {
    __builtin_ms_va_list ap;
    __builtin_ms_va_start(ap, extension);
    MsVarArgs args(ap);
    const ULONG rc = storport_extended_function(code, extension, args);
    __builtin_ms_va_end(ap);
    return rc;
}

__attribute__((ms_abi)) void* pe_memcpy(void* d, const void* s, std::size_t n) {
    note_copy(n, d, s);
    return std::memcpy(d, s, n);
}
__attribute__((ms_abi)) void* pe_memset(void* d, int c, std::size_t n) { return std::memset(d, c, n); }

#elif defined(__i386__)

#define VS_PE_WRAP(dll64, dll32, conv, ret, name, params, args) \
    __attribute__((conv, force_align_arg_pointer)) ret pe_##name params { return ::name args; }
VS_SIM_FIXED_EXPORTS(VS_PE_WRAP)
#undef VS_PE_WRAP
#define VS_PE_DLL(dll64, dll32) #dll32

class CVarArgs final : public VarArgs {
public:
    explicit CVarArgs(va_list& ap) : ap_(ap) {}
    std::uintptr_t word() override { return reinterpret_cast<std::uintptr_t>(va_arg(ap_, void*)); }
    std::uint32_t u32() override { return va_arg(ap_, std::uint32_t); }

private:
    va_list& ap_;
};

__attribute__((cdecl, force_align_arg_pointer)) VOID pe_StorPortNotification(SCSI_NOTIFICATION_TYPE type,
                                                                              PVOID extension, ...) {
    va_list ap;
    va_start(ap, extension);
    CVarArgs args(ap);
    storport_notification(type, extension, args);
    va_end(ap);
}

__attribute__((cdecl, force_align_arg_pointer)) ULONG pe_StorPortExtendedFunction(STORPORT_FUNCTION_CODE code,
                                                                                   PVOID extension, ...) {
    va_list ap;
    va_start(ap, extension);
    CVarArgs args(ap);
    const ULONG rc = storport_extended_function(code, extension, args);
    va_end(ap);
    return rc;
}

__attribute__((cdecl, force_align_arg_pointer)) void* pe_memcpy(void* d, const void* s, std::size_t n) {
    note_copy(n, d, s);
    return std::memcpy(d, s, n);
}
__attribute__((cdecl, force_align_arg_pointer)) void* pe_memset(void* d, int c, std::size_t n) {
    return std::memset(d, c, n);
}

#else
#error "PE images: x86-64 or i386 only"
#endif

std::vector<PeExport> make_table() {
    std::vector<PeExport> t;
#define VS_PE_ENTRY(dll64, dll32, conv, ret, name, params, args) \
    t.push_back({dll_name(VS_PE_DLL(dll64, dll32)), #name, reinterpret_cast<const void*>(&pe_##name)});
    VS_SIM_FIXED_EXPORTS(VS_PE_ENTRY)
#undef VS_PE_ENTRY
    t.push_back({"storport.sys", "StorPortNotification", reinterpret_cast<const void*>(&pe_StorPortNotification)});
    t.push_back({"storport.sys", "StorPortExtendedFunction", reinterpret_cast<const void*>(&pe_StorPortExtendedFunction)});
    t.push_back({"ntoskrnl.exe", "memcpy", reinterpret_cast<const void*>(&pe_memcpy)});
    t.push_back({"ntoskrnl.exe", "memset", reinterpret_cast<const void*>(&pe_memset)});
    return t;
}

}  // namespace

std::span<const PeExport> pe_exports() {
    static const std::vector<PeExport> table = make_table();
    return table;
}

}  // namespace vstor::storport_sim
