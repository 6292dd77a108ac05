// A loader for the cross-built vstor.sys: maps a PE image into this process as the Windows
// loader maps a driver, so the emulator can run the file that ships rather than its sources.
//
// What it does (Microsoft PE/COFF specification): checks the DOS and PE headers, the machine and
// the optional header kind against this process (x64 images in the 64-bit emulator, x86 images in
// the 32-bit one); maps SizeOfImage bytes, copies the headers and each section to its RVA (the
// rest of the section zero-filled); applies the base relocations for the address it got
// (DIR64 / HIGHLOW); binds every import by DLL name (case-insensitive, as Windows compares) and
// symbol name to the table it is given, and refuses the image, naming the import, when anything
// is missing or imported by ordinal; then gives each section the protection its characteristics ask
// for (headers read-only). It reads the COFF symbol table, when the file has one, to name the
// driver's functions in reports.
// Not done (not used by a kernel driver built here): TLS callbacks, delay-load imports, forwarders,
// load configuration (/GS cookie), exception-table registration.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

namespace vstor::storport_sim {

// A routine the emulator offers to images: what a kernel module exports.
struct PeExport {
    const char* dll;   // "storport.sys", "ntoskrnl.exe", "hal.dll"
    const char* name;  // undecorated, as in the import's hint/name entry
    const void* address;
};

class PeImage {
public:
    // Maps the image at `path`, binding its imports to `exports`. On failure returns nullptr and
    // says why in *why (one line; a missing import is named as "DLL!name").
    static std::unique_ptr<PeImage> load(const std::string& path, std::span<const PeExport> exports, std::string* why);
    ~PeImage();
    PeImage(const PeImage&) = delete;
    PeImage& operator=(const PeImage&) = delete;

    void* entry_point() const { return base_ + entry_rva_; }
    std::uintptr_t base() const { return reinterpret_cast<std::uintptr_t>(base_); }
    std::uintptr_t preferred_base() const { return preferred_base_; }
    std::size_t size() const { return size_; }
    bool contains(const void* p) const;
    // "name+0xoff (RVA 0x...)" for an address inside the image, the name from the COFF symbol
    // table (demangled) when there is one, else just the RVA.
    std::string describe(const void* p) const;
    // Reads the COFF symbols from `path` (the same link before the symbols were stripped), for images
    // that carry none. Returns false when the file has no symbol table or other sections.
    bool load_symbols(const std::string& path);
    std::size_t symbol_count() const { return symbols_.size(); }
    std::size_t bound_imports() const { return bound_; }

private:
    PeImage() = default;
    bool read_symbols(std::span<const std::uint8_t> file);

    std::uint8_t* base_ = nullptr;
    std::size_t size_ = 0;
    std::uint32_t entry_rva_ = 0;
    std::uintptr_t preferred_base_ = 0;
    std::size_t bound_ = 0;
    std::map<std::uint32_t, std::string> symbols_;  // function RVA -> name
};

}  // namespace vstor::storport_sim
