// The PE loader (see pe_image.hpp). Field offsets are those of the Microsoft PE/COFF
// specification; every offset read from the file is bounds-checked before use.
#include "pe_image.hpp"

#include <cxxabi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

namespace vstor::storport_sim {

namespace {

constexpr bool k64 = sizeof(void*) == 8;
constexpr std::uint16_t kMachine = k64 ? 0x8664 : 0x014C;  // IMAGE_FILE_MACHINE_AMD64 / I386
constexpr std::uint16_t kMagic = k64 ? 0x20B : 0x10B;      // PE32+ / PE32
constexpr std::uint16_t kRelocsStripped = 0x0001;          // IMAGE_FILE_RELOCS_STRIPPED
constexpr std::uint32_t kScnExecute = 0x20000000, kScnRead = 0x40000000, kScnWrite = 0x80000000;
constexpr unsigned kDirImport = 1, kDirBaseReloc = 5;
constexpr unsigned kRelAbsolute = 0, kRelHighLow = 3, kRelDir64 = 10;

template <class T>
bool get(std::span<const std::uint8_t> b, std::size_t off, T* out) {
    if (off > b.size() || b.size() - off < sizeof(T)) return false;
    std::memcpy(out, b.data() + off, sizeof(T));
    return true;
}

std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::vector<std::uint8_t> read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return {};
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

struct Headers {
    std::uint32_t pe = 0;             // offset of "PE\0\0"
    std::uint16_t machine = 0, nsections = 0, opt_size = 0, characteristics = 0;
    std::uint32_t symtab = 0, nsymbols = 0;
    std::uint32_t opt = 0;            // offset of the optional header
    std::uint32_t sections = 0;       // offset of the section table
};

bool parse_headers(std::span<const std::uint8_t> f, Headers* h, std::string* why) {
    std::uint16_t mz = 0;
    if (!get(f, 0, &mz) || mz != 0x5A4D || !get(f, 0x3C, &h->pe)) return *why = "not an MZ image", false;
    std::uint32_t sig = 0;
    if (!get(f, h->pe, &sig) || sig != 0x00004550) return *why = "no PE signature", false;
    const std::size_t coff = h->pe + 4;
    if (!get(f, coff, &h->machine) || !get(f, coff + 2, &h->nsections) || !get(f, coff + 8, &h->symtab) ||
        !get(f, coff + 12, &h->nsymbols) || !get(f, coff + 16, &h->opt_size) || !get(f, coff + 18, &h->characteristics))
        return *why = "truncated COFF header", false;
    h->opt = static_cast<std::uint32_t>(coff + 20);
    h->sections = h->opt + h->opt_size;
    if (static_cast<std::size_t>(h->sections) + std::size_t{h->nsections} * 40 > f.size())
        return *why = "section table beyond the end of the file", false;
    return true;
}

struct Section {
    char name[9] = {};
    std::uint32_t vsize = 0, rva = 0, raw_size = 0, raw_ptr = 0, flags = 0;
};

Section section_at(std::span<const std::uint8_t> f, const Headers& h, unsigned i) {
    Section s;
    const std::size_t o = h.sections + std::size_t{i} * 40;
    std::memcpy(s.name, f.data() + o, 8);
    get(f, o + 8, &s.vsize);
    get(f, o + 12, &s.rva);
    get(f, o + 16, &s.raw_size);
    get(f, o + 20, &s.raw_ptr);
    get(f, o + 36, &s.flags);
    return s;
}

}  // namespace

PeImage::~PeImage() {
    if (base_) ::munmap(base_, size_);
}

bool PeImage::contains(const void* p) const {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    return a >= base() && a < base() + size_;
}

std::unique_ptr<PeImage> PeImage::load(const std::string& path, std::span<const PeExport> exports, std::string* why) {
    const std::vector<std::uint8_t> bytes = read_file(path);
    if (bytes.empty()) return *why = path + ": cannot read", nullptr;
    const std::span<const std::uint8_t> f(bytes);
    Headers h;
    if (!parse_headers(f, &h, why)) return *why = path + ": " + *why, nullptr;
    std::uint16_t magic = 0;
    get(f, h.opt, &magic);
    if (h.machine != kMachine || magic != kMagic)
        return *why = path + ": machine " + hex(h.machine) + ", optional header " + hex(magic) + "; this emulator runs " +
                      (k64 ? "x64 (PE32+)" : "x86 (PE32)") + " images",
               nullptr;

    // Optional header fields (PE32 has BaseOfData before a 4-byte ImageBase; PE32+ an 8-byte one).
    std::uint32_t entry = 0, section_align = 0, size_of_image = 0, size_of_headers = 0, ndirs = 0;
    std::uint64_t image_base = 0;
    get(f, h.opt + 16, &entry);
    if (k64) {
        get(f, h.opt + 24, &image_base);
    } else {
        std::uint32_t b32 = 0;
        get(f, h.opt + 28, &b32);
        image_base = b32;
    }
    get(f, h.opt + 32, &section_align);
    get(f, h.opt + 56, &size_of_image);
    get(f, h.opt + 60, &size_of_headers);
    const std::size_t dirs = h.opt + (k64 ? 112 : 96);
    if (!get(f, dirs - 4, &ndirs)) return *why = path + ": truncated optional header", nullptr;
    auto dir = [&](unsigned i, std::uint32_t* rva, std::uint32_t* size) {
        *rva = *size = 0;
        if (i < ndirs && dirs + i * 8 + 8 <= h.sections) {
            get(f, dirs + i * 8, rva);
            get(f, dirs + i * 8 + 4, size);
        }
    };
    const auto page = static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE));
    if (section_align < page || section_align % page != 0)
        return *why = path + ": SectionAlignment " + hex(section_align) + " is below the page size", nullptr;
    if (size_of_image == 0 || size_of_image > (64u << 20) || size_of_headers > size_of_image || size_of_headers > f.size())
        return *why = path + ": implausible SizeOfImage/SizeOfHeaders", nullptr;

    std::unique_ptr<PeImage> img(new PeImage);
    img->size_ = (size_of_image + page - 1) / page * page;
    void* m = ::mmap(nullptr, img->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return *why = path + ": mmap failed", nullptr;
    img->base_ = static_cast<std::uint8_t*>(m);
    img->preferred_base_ = static_cast<std::uintptr_t>(image_base);
    std::uint8_t* const base = img->base_;
    auto in_image = [&](std::uint64_t rva, std::uint64_t len) { return rva <= size_of_image && len <= size_of_image - rva; };

    // Headers and sections at their RVAs.
    std::memcpy(base, f.data(), size_of_headers);
    std::vector<Section> sections;
    for (unsigned i = 0; i < h.nsections; ++i) {
        Section s = section_at(f, h, i);
        const std::uint32_t vsize = s.vsize ? s.vsize : s.raw_size;
        if (s.rva % section_align != 0 || !in_image(s.rva, vsize))
            return *why = path + ": section " + s.name + " lies outside the image", nullptr;
        const std::uint32_t copy = std::min(s.raw_size, vsize);
        if (copy && (s.raw_ptr > f.size() || f.size() - s.raw_ptr < copy))
            return *why = path + ": section " + s.name + " has its data beyond the end of the file", nullptr;
        if (copy) std::memcpy(base + s.rva, f.data() + s.raw_ptr, copy);  // the rest stays zero (mmap)
        s.vsize = vsize;
        sections.push_back(s);
    }
    if (!in_image(entry, 1)) return *why = path + ": entry point outside the image", nullptr;
    img->entry_rva_ = entry;

    // Base relocations: add (actual - preferred) at each listed place.
    const std::uint64_t delta = reinterpret_cast<std::uintptr_t>(base) - image_base;
    std::uint32_t rel_rva = 0, rel_size = 0;
    dir(kDirBaseReloc, &rel_rva, &rel_size);
    if (delta != 0 && (h.characteristics & kRelocsStripped))
        return *why = path + ": relocations stripped, cannot load away from the image base", nullptr;
    if (rel_size) {
        if (!in_image(rel_rva, rel_size)) return *why = path + ": relocation directory outside the image", nullptr;
        std::uint32_t off = 0;
        while (off + 8 <= rel_size) {
            std::uint32_t page_rva = 0, block = 0;
            std::memcpy(&page_rva, base + rel_rva + off, 4);
            std::memcpy(&block, base + rel_rva + off + 4, 4);
            if (block < 8 || block > rel_size - off || block % 2 != 0)
                return *why = path + ": malformed relocation block at " + hex(rel_rva + off), nullptr;
            for (std::uint32_t e = 8; e < block; e += 2) {
                std::uint16_t entry16 = 0;
                std::memcpy(&entry16, base + rel_rva + off + e, 2);
                const unsigned type = entry16 >> 12;
                const std::uint64_t at = std::uint64_t{page_rva} + (entry16 & 0xFFF);
                if (type == kRelAbsolute) continue;  // padding
                if (type == (k64 ? kRelDir64 : kRelHighLow)) {
                    const std::size_t width = k64 ? 8 : 4;
                    if (!in_image(at, width)) return *why = path + ": relocation outside the image", nullptr;
                    if (k64) {
                        std::uint64_t v = 0;
                        std::memcpy(&v, base + at, 8);
                        v += delta;
                        std::memcpy(base + at, &v, 8);
                    } else {
                        std::uint32_t v = 0;
                        std::memcpy(&v, base + at, 4);
                        v += static_cast<std::uint32_t>(delta);
                        std::memcpy(base + at, &v, 4);
                    }
                    continue;
                }
                return *why = path + ": unsupported base relocation type " + std::to_string(type), nullptr;
            }
            off += block;
        }
    }

    // Imports: one descriptor per DLL (20 bytes), terminated by a zeroed one; the lookup table
    // (OriginalFirstThunk) names each symbol, the address table (FirstThunk) receives its address.
    std::uint32_t imp_rva = 0, imp_size = 0;
    dir(kDirImport, &imp_rva, &imp_size);
    auto cstring = [&](std::uint64_t rva) -> std::string {
        if (!in_image(rva, 1)) return {};
        const auto* p = reinterpret_cast<const char*>(base + rva);
        return std::string(p, strnlen(p, size_of_image - rva));
    };
    const std::size_t slot = k64 ? 8 : 4;
    for (std::uint32_t d = imp_rva; imp_size != 0; d += 20) {
        if (!in_image(d, 20)) return *why = path + ": import directory outside the image", nullptr;
        std::uint32_t lookup = 0, name_rva = 0, iat = 0;
        std::memcpy(&lookup, base + d, 4);
        std::memcpy(&name_rva, base + d + 12, 4);
        std::memcpy(&iat, base + d + 16, 4);
        if (lookup == 0 && name_rva == 0 && iat == 0) break;
        const std::string dll = cstring(name_rva);
        if (dll.empty()) return *why = path + ": import descriptor without a DLL name", nullptr;
        if (lookup == 0) lookup = iat;  // no separate lookup table: the address table names the symbols
        for (std::uint64_t i = 0;; ++i) {
            if (!in_image(lookup + i * slot, slot) || !in_image(iat + i * slot, slot))
                return *why = path + ": import table of " + dll + " outside the image", nullptr;
            std::uint64_t thunk = 0;
            std::memcpy(&thunk, base + lookup + i * slot, slot);
            if (thunk == 0) break;
            const std::uint64_t ordinal_flag = k64 ? (1ull << 63) : (1ull << 31);
            if (thunk & ordinal_flag)
                return *why = path + ": imports " + dll + " ordinal " + std::to_string(thunk & 0xFFFF) +
                              " (only imports by name are bound)",
                       nullptr;
            const std::string sym = cstring((thunk & 0x7FFFFFFF) + 2);  // skip the 2-byte hint
            const PeExport* hit = nullptr;
            for (const auto& e : exports)
                if (lower(e.dll) == lower(dll) && sym == e.name) hit = &e;
            if (!hit)
                return *why = path + ": imports " + dll + "!" + sym + ", which the emulator does not provide", nullptr;
            const auto addr = reinterpret_cast<std::uintptr_t>(hit->address);
            std::memcpy(base + iat + i * slot, &addr, slot);
            ++img->bound_;
        }
    }

    // Protections, now that the loader has written what it must.
    if (::mprotect(base, (size_of_headers + page - 1) / page * page, PROT_READ) != 0)
        return *why = path + ": mprotect failed", nullptr;
    for (const auto& s : sections) {
        int prot = PROT_NONE;
        if (s.flags & kScnRead) prot |= PROT_READ;
        if (s.flags & kScnWrite) prot |= PROT_WRITE;
        if (s.flags & kScnExecute) prot |= PROT_EXEC | PROT_READ;
        const std::size_t len = (s.vsize + section_align - 1) / section_align * section_align;
        if (::mprotect(base + s.rva, std::min<std::size_t>(len, img->size_ - s.rva), prot) != 0)
            return *why = path + ": mprotect of " + s.name + " failed", nullptr;
    }
    img->read_symbols(f);
    return img;
}

bool PeImage::load_symbols(const std::string& path) {
    const std::vector<std::uint8_t> bytes = read_file(path);
    return !bytes.empty() && read_symbols(bytes);
}

// The COFF symbol table: 18-byte records (name or string-table offset, value, section number,
// type, storage class, aux count), followed by the string table. Functions: type 0x20.
bool PeImage::read_symbols(std::span<const std::uint8_t> f) {
    Headers h;
    std::string why;
    if (!parse_headers(f, &h, &why) || h.symtab == 0 || h.nsymbols == 0) return false;
    const std::size_t strings = h.symtab + std::size_t{h.nsymbols} * 18;
    if (strings > f.size()) return false;
    std::map<std::uint32_t, std::string> found;
    for (std::uint32_t i = 0; i < h.nsymbols; ++i) {
        const std::size_t o = h.symtab + std::size_t{i} * 18;
        std::uint32_t value = 0;
        std::int16_t section = 0;
        std::uint16_t type = 0;
        std::uint8_t aux = 0;
        get(f, o + 8, &value);
        get(f, o + 12, &section);
        get(f, o + 14, &type);
        get(f, o + 17, &aux);
        if (section >= 1 && section <= h.nsections && (type & 0xF0) == 0x20) {
            std::string name;
            std::uint32_t zero = 0, str = 0;
            get(f, o, &zero);
            if (zero == 0) {
                get(f, o + 4, &str);
                if (strings + str < f.size())
                    name.assign(reinterpret_cast<const char*>(f.data() + strings + str),
                                strnlen(reinterpret_cast<const char*>(f.data() + strings + str), f.size() - strings - str));
            } else {
                name.assign(reinterpret_cast<const char*>(f.data() + o), strnlen(reinterpret_cast<const char*>(f.data() + o), 8));
            }
            const Section s = section_at(f, h, section - 1);
            found[s.rva + value] = name;
        }
        i += aux;
    }
    if (found.empty()) return false;
    symbols_ = std::move(found);
    return true;
}

std::string PeImage::describe(const void* p) const {
    if (!contains(p)) return "address " + hex(reinterpret_cast<std::uintptr_t>(p)) + " outside the image";
    const auto rva = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(p) - base());
    std::string out = "RVA " + hex(rva);
    auto it = symbols_.upper_bound(rva);
    if (it == symbols_.begin()) return out;
    --it;
    std::string name = it->second;
    // x86 C symbols carry a leading underscore; C++ names are Itanium-mangled by GCC.
    const char* mangled = name.c_str();
    if (!k64 && name.rfind("__Z", 0) == 0) ++mangled;
    int status = 0;
    if (char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status)) {
        name = d;
        std::free(d);
    }
    if (rva != it->first) name += "+" + hex(rva - it->first);
    return name + " (" + out + ")";
}

}  // namespace vstor::storport_sim
