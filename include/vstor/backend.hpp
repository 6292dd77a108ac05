// Public interface for backend authors: a Backend stores blocks and never sees a CDB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace vstor {

// Outcome of a backend operation; the engine maps each value to SCSI sense in one place.
enum class IoStatus : std::uint8_t {
    ok,
    medium_error,   // unrecovered read / write error -> MEDIUM ERROR
    out_of_range,   // LBA past the end (engine checks first; backends may report it too)
    no_space,       // thin backend cannot allocate -> SPACE ALLOCATION FAILED WRITE PROTECT
    read_only,      // write to a read-only medium -> DATA PROTECT
    not_supported,  // operation not provided by this backend
    not_ready,      // medium absent / backend offline -> NOT READY
    aborted,        // cancelled -> ABORTED COMMAND
};

const char* to_string(IoStatus s) noexcept;

// Declared, not probed (nbdkit's can_* style).
struct BackendCaps {
    bool read_only = false;
    bool thin = false;           // unmap supported; unmapped blocks read back as zeroes
    bool removable = false;      // medium can be ejected
    bool write_cache = false;    // volatile write cache: flush/FUA matter
    bool allocation_status = false;  // allocation_status() is meaningful
};

// A run of blocks with the same provisioning state (for GET LBA STATUS / NBD block status).
struct Extent {
    std::uint64_t lba;
    std::uint64_t count;
    bool mapped;
};

using IoCallback = std::function<void(IoStatus)>;

// Blocks lent by a backend instead of copied (Backend::read_view): the pieces, in order, cover
// the requested range. They stay readable, and are not reused for other blocks, for as long as
// the owning shared_ptr lives. A concurrent write to the same blocks may show through, as it
// may when two overlapping commands run at once.
struct DataView {
    std::vector<std::span<const std::byte>> pieces;
};

// All calls may complete inline (on the caller's thread) or later on any thread. Buffers stay
// valid until the callback runs. LBAs and counts are in the backend's logical blocks and are
// already range-checked by the engine.
class Backend {
public:
    virtual ~Backend() = default;

    virtual std::string kind() const = 0;  // "mem", "file", "null", user-defined
    virtual std::uint32_t block_size() const = 0;
    virtual std::uint64_t block_count() const = 0;
    virtual BackendCaps caps() const = 0;

    virtual void read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) = 0;
    // fua: the data must be durable before done(ok).
    virtual void write(std::uint64_t lba, std::span<const std::byte> buf, bool fua,
                       IoCallback done) = 0;
    virtual void flush(IoCallback done) = 0;

    // Defaults: write_zeroes writes zero buffers in chunks; unmap reports not_supported.
    virtual void unmap(std::uint64_t lba, std::uint64_t count, IoCallback done);
    virtual void write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done);

    // Optional: provisioning map of [lba, lba+count). Default: one mapped extent.
    virtual std::vector<Extent> allocation_status(std::uint64_t lba, std::uint64_t count);

    // Change the size (hot resize). Default: not_supported.
    virtual IoStatus resize(std::uint64_t new_block_count);

    // Optional, for backends whose blocks already sit in memory: lend [lba, lba+count) so a
    // front end can send it without a copy. nullptr (the default) means "use read()"; so may a
    // backend answer whenever lending is not cheap. Must not block.
    virtual std::shared_ptr<const DataView> read_view(std::uint64_t lba, std::uint64_t count);
};

}  // namespace vstor
