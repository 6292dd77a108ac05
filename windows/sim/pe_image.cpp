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

// The optional header's fields the loader uses (PE32 has BaseOfData before a 4-byte ImageBase;
// PE32+ an 8-byte one), checked against this process and the page size.
struct Layout {
    std::uint32_t entry = 0, section_align = 0, size_of_image = 0, size_of_headers = 0, ndirs = 0;
    std::uint64_t image_base = 0;
    std::size_t dirs = 0;  // offset of the data directories
    std::uint32_t page = 0;
};

bool parse_optional_header(std::span<const std::uint8_t> f, const Headers& h, Layout* l, std::string* why) {
    std::uint16_t magic = 0;
    get(f, h.opt, &magic);
    if (h.machine != kMachine || magic != kMagic)
        return *why = "machine " + hex(h.machine) + ", optional header " + hex(magic) + "; this emulator runs " +
                      (k64 ? "x64 (PE32+)" : "x86 (PE32)") + " images",
               false;
    get(f, h.opt + 16, &l->entry);
    if (k64) {
        get(f, h.opt + 24, &l->image_base);
    } else {
        std::uint32_t b32 = 0;
        get(f, h.opt + 28, &b32);
        l->image_base = b32;
    }
    get(f, h.opt + 32, &l->section_align);
    get(f, h.opt + 56, &l->size_of_image);
    get(f, h.opt + 60, &l->size_of_headers);
    l->dirs = h.opt + (k64 ? 112 : 96);
    if (!get(f, l->dirs - 4, &l->ndirs)) return *why = "truncated optional header", false;
    l->page = static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE));
    if (l->section_align < l->page || l->section_align % l->page != 0)
        return *why = "SectionAlignment " + hex(l->section_align) + " is below the page size", false;
    if (l->size_of_image == 0 || l->size_of_image > (64u << 20) || l->size_of_headers > l->size_of_image ||
        l->size_of_headers > f.size())
        return *why = "implausible SizeOfImage/SizeOfHeaders", false;
    return true;
}

// Data directory i's RVA and size; zero when the image has fewer directories.
void directory(std::span<const std::uint8_t> f, const Headers& h, const Layout& l, unsigned i, std::uint32_t* rva,
               std::uint32_t* size) {
    *rva = *size = 0;
    if (i < l.ndirs && l.dirs + i * 8 + 8 <= h.sections) {
        get(f, l.dirs + i * 8, rva);
        get(f, l.dirs + i * 8 + 4, size);
    }
}

// The image's memory while it is being loaded: each step below writes into it, bounds-checked.
struct Mapped {
    std::uint8_t* base;
    std::uint32_t size_of_image;
    bool in_image(std::uint64_t rva, std::uint64_t len) const {
        return rva <= size_of_image && len <= size_of_image - rva;
    }
    std::string cstring(std::uint64_t rva) const {
        if (!in_image(rva, 1)) return {};
        const auto* p = reinterpret_cast<const char*>(base + rva);
        return std::string(p, strnlen(p, size_of_image - rva));
    }
};

// Headers and sections at their RVAs (the rest of each section stays zero, as mmap gave it).
bool map_sections(std::span<const std::uint8_t> f, const Headers& h, const Layout& l, const Mapped& m,
                  std::vector<Section>* sections, std::string* why) {
    std::memcpy(m.base, f.data(), l.size_of_headers);
    for (unsigned i = 0; i < h.nsections; ++i) {
        Section s = section_at(f, h, i);
        const std::uint32_t vsize = s.vsize ? s.vsize : s.raw_size;
        if (s.rva % l.section_align != 0 || !m.in_image(s.rva, vsize))
            return *why = std::string("section ") + s.name + " lies outside the image", false;
        const std::uint32_t copy = std::min(s.raw_size, vsize);
        if (copy && (s.raw_ptr > f.size() || f.size() - s.raw_ptr < copy))
            return *why = std::string("section ") + s.name + " has its data beyond the end of the file", false;
        if (copy) std::memcpy(m.base + s.rva, f.data() + s.raw_ptr, copy);
        s.vsize = vsize;
        sections->push_back(s);
    }
    if (!m.in_image(l.entry, 1)) return *why = "entry point outside the image", false;
    return true;
}

// Adds `delta` to the pointer-sized value at `at` (a DIR64 or HIGHLOW relocation).
void relocate_slot(std::uint8_t* at, std::uint64_t delta) {
    if (k64) {
        std::uint64_t v = 0;
        std::memcpy(&v, at, 8);
        v += delta;
        std::memcpy(at, &v, 8);
    } else {
        std::uint32_t v = 0;
        std::memcpy(&v, at, 4);
        v += static_cast<std::uint32_t>(delta);
        std::memcpy(at, &v, 4);
    }
}

// Base relocations: add (actual - preferred) at each listed place.
bool relocate(std::span<const std::uint8_t> f, const Headers& h, const Layout& l, const Mapped& m, std::string* why) {
    const std::uint64_t delta = reinterpret_cast<std::uintptr_t>(m.base) - l.image_base;
    std::uint32_t rel_rva = 0, rel_size = 0;
    directory(f, h, l, kDirBaseReloc, &rel_rva, &rel_size);
    if (delta != 0 && (h.characteristics & kRelocsStripped))
        return *why = "relocations stripped, cannot load away from the image base", false;
    if (!rel_size) return true;
    if (!m.in_image(rel_rva, rel_size)) return *why = "relocation directory outside the image", false;
    for (std::uint32_t off = 0; off + 8 <= rel_size;) {
        std::uint32_t page_rva = 0, block = 0;
        std::memcpy(&page_rva, m.base + rel_rva + off, 4);
        std::memcpy(&block, m.base + rel_rva + off + 4, 4);
        if (block < 8 || block > rel_size - off || block % 2 != 0)
            return *why = "malformed relocation block at " + hex(rel_rva + off), false;
        for (std::uint32_t e = 8; e < block; e += 2) {
            std::uint16_t entry16 = 0;
            std::memcpy(&entry16, m.base + rel_rva + off + e, 2);
            const unsigned type = entry16 >> 12;
            const std::uint64_t at = std::uint64_t{page_rva} + (entry16 & 0xFFF);
            if (type == kRelAbsolute) continue;  // padding
            if (type != (k64 ? kRelDir64 : kRelHighLow))
                return *why = "unsupported base relocation type " + std::to_string(type), false;
            if (!m.in_image(at, k64 ? 8 : 4)) return *why = "relocation outside the image", false;
            relocate_slot(m.base + at, delta);
        }
        off += block;
    }
    return true;
}

// One DLL's imports: the lookup table names each symbol, the address table receives its address.
bool bind_dll(const Mapped& m, const std::string& dll, std::uint32_t lookup, std::uint32_t iat,
              std::span<const PeExport> exports, std::size_t* bound, std::string* why) {
    const std::size_t slot = k64 ? 8 : 4;
    for (std::uint64_t i = 0;; ++i) {
        if (!m.in_image(lookup + i * slot, slot) || !m.in_image(iat + i * slot, slot))
            return *why = "import table of " + dll + " outside the image", false;
        std::uint64_t thunk = 0;
        std::memcpy(&thunk, m.base + lookup + i * slot, slot);
        if (thunk == 0) return true;
        const std::uint64_t ordinal_flag = k64 ? (1ull << 63) : (1ull << 31);
        if (thunk & ordinal_flag)
            return *why = "imports " + dll + " ordinal " + std::to_string(thunk & 0xFFFF) +
                          " (only imports by name are bound)",
                   false;
        const std::string sym = m.cstring((thunk & 0x7FFFFFFF) + 2);  // skip the 2-byte hint
        const PeExport* hit = nullptr;
        for (const auto& e : exports)
            if (lower(e.dll) == lower(dll) && sym == e.name) hit = &e;
        if (!hit) return *why = "imports " + dll + "!" + sym + ", which the emulator does not provide", false;
        const auto addr = reinterpret_cast<std::uintptr_t>(hit->address);
        std::memcpy(m.base + iat + i * slot, &addr, slot);
        ++*bound;
    }
}

// Imports: one descriptor per DLL (20 bytes), terminated by a zeroed one; the lookup table
// (OriginalFirstThunk) names each symbol, the address table (FirstThunk) receives its address.
bool bind_imports(std::span<const std::uint8_t> f, const Headers& h, const Layout& l, const Mapped& m,
                  std::span<const PeExport> exports, std::size_t* bound, std::string* why) {
    std::uint32_t imp_rva = 0, imp_size = 0;
    directory(f, h, l, kDirImport, &imp_rva, &imp_size);
    for (std::uint32_t d = imp_rva; imp_size != 0; d += 20) {
        if (!m.in_image(d, 20)) return *why = "import directory outside the image", false;
        std::uint32_t lookup = 0, name_rva = 0, iat = 0;
        std::memcpy(&lookup, m.base + d, 4);
        std::memcpy(&name_rva, m.base + d + 12, 4);
        std::memcpy(&iat, m.base + d + 16, 4);
        if (lookup == 0 && name_rva == 0 && iat == 0) break;
        const std::string dll = m.cstring(name_rva);
        if (dll.empty()) return *why = "import descriptor without a DLL name", false;
        if (lookup == 0) lookup = iat;  // no separate lookup table: the address table names the symbols
        if (!bind_dll(m, dll, lookup, iat, exports, bound, why)) return false;
    }
    return true;
}

// Protections, now that the loader has written what it must (headers read-only).
bool protect(const Layout& l, const Mapped& m, const std::vector<Section>& sections, std::size_t mapped_size,
             std::string* why) {
    if (::mprotect(m.base, (l.size_of_headers + l.page - 1) / l.page * l.page, PROT_READ) != 0)
        return *why = "mprotect failed", false;
    for (const auto& s : sections) {
        int prot = PROT_NONE;
        if (s.flags & kScnRead) prot |= PROT_READ;
        if (s.flags & kScnWrite) prot |= PROT_WRITE;
        if (s.flags & kScnExecute) prot |= PROT_EXEC | PROT_READ;
        const std::size_t len = (s.vsize + l.section_align - 1) / l.section_align * l.section_align;
        if (::mprotect(m.base + s.rva, std::min<std::size_t>(len, mapped_size - s.rva), prot) != 0)
            return *why = std::string("mprotect of ") + s.name + " failed", false;
    }
    return true;
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
    Layout l;
    if (!parse_headers(f, &h, why) || !parse_optional_header(f, h, &l, why)) return *why = path + ": " + *why, nullptr;

    std::unique_ptr<PeImage> img(new PeImage);
    img->size_ = (l.size_of_image + l.page - 1) / l.page * l.page;
    void* m = ::mmap(nullptr, img->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return *why = path + ": mmap failed", nullptr;
    img->base_ = static_cast<std::uint8_t*>(m);
    img->preferred_base_ = static_cast<std::uintptr_t>(l.image_base);
    const Mapped mapped{img->base_, l.size_of_image};
    std::vector<Section> sections;
    if (!map_sections(f, h, l, mapped, &sections, why) || !relocate(f, h, l, mapped, why) ||
        !bind_imports(f, h, l, mapped, exports, &img->bound_, why) ||
        !protect(l, mapped, sections, img->size_, why))
        return *why = path + ": " + *why, nullptr;
    img->entry_rva_ = l.entry;
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
