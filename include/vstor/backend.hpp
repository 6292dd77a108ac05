// Public interface for backend authors: a Backend stores blocks and never sees a CDB.
// This is Backend contract v1; docs/sdk.md ("Backend contract v1") says the same with the why.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#pragma GCC visibility push(default)  // the public API: exported from libvstor.so

// The version of the contract below. It goes up when a call changes meaning, threading rule or
// signature (a new optional call with a default does not raise it). A Backend records the version
// it was compiled against (see Backend's constructor) and Adapter::add_lun refuses other versions.
#define VSTOR_BACKEND_API_VERSION 1

namespace vstor {

inline constexpr int backend_api_version = VSTOR_BACKEND_API_VERSION;

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
    invalid_field,  // the request is malformed for this backend -> INVALID FIELD IN CDB
    no_resources,   // out of memory / try again -> ABORTED COMMAND, INSUFFICIENT RESOURCES
    transitioning,  // the path is reconnecting (e.g. to its cluster) -> NOT READY, ALUA STATE TRANSITION
};

const char* to_string(IoStatus s) noexcept;

// Declared, not probed (nbdkit's can_* style).
struct BackendCaps {
    bool read_only = false;
    bool thin = false;           // unmap supported; unmapped blocks read back as zeroes
    bool removable = false;      // medium can be ejected
    bool write_cache = false;    // volatile write cache: flush/FUA matter
    bool allocation_status = false;  // allocation_status() is meaningful
    bool compare_and_write = false;  // compare_and_write() is the backend's own atomic operation
    bool write_same = false;         // write_same() replicates the block in the backend
};

// A run of blocks with the same provisioning state (for GET LBA STATUS / NBD block status).
struct Extent {
    std::uint64_t lba;
    std::uint64_t count;
    bool mapped;
};

// What INQUIRY and the VPD pages say about the device (optional). Empty or unset fields fall back
// to LunOptions and then to vstor's defaults; LunOptions fields that are set win over these.
struct BackendIdentity {
    std::string vendor;   // T10 vendor identification, up to 8 ASCII characters
    std::string product;  // product identification, up to 16 ASCII characters
    std::string serial;   // unit serial number (VPD page 80h)
    // Medium rotation rate (VPD page B1h): 1 = non-rotating (solid state), 0401h..FFFEh = rpm.
    std::optional<std::uint16_t> rotation_rate;
    // Optimal transfer length in logical blocks (VPD page B0h), capped at the maximum transfer length.
    std::optional<std::uint32_t> optimal_transfer_blocks;
};

// How a backend call finishes: done(status), or done(status, message) to say why it failed. The
// message (read during the call only) reaches vstor's log, rate-limited per LUN, next to the
// sense the status becomes. Built from any callable taking (IoStatus) or (IoStatus, string_view);
// one taking (IoStatus) alone does not see the message.
class IoCallback {
public:
    IoCallback() = default;
    IoCallback(std::nullptr_t) noexcept {}
    template <typename F>
        requires std::invocable<F&, IoStatus, std::string_view>
    IoCallback(F f) : fn_(std::move(f)) {}
    template <typename F>
        requires(std::invocable<F&, IoStatus> && !std::invocable<F&, IoStatus, std::string_view>)
    IoCallback(F f)
        : fn_([f = std::move(f)](IoStatus s, std::string_view) mutable { f(s); }) {}

    void operator()(IoStatus s, std::string_view message = {}) const { fn_(s, message); }
    explicit operator bool() const noexcept { return static_cast<bool>(fn_); }

private:
    std::function<void(IoStatus, std::string_view)> fn_;
};
// compare_and_write's outcome: ok with no offset (written), ok with the offset of the first
// differing byte in the compared range (nothing written), or an error.
using CompareCallback = std::function<void(IoStatus, std::optional<std::uint64_t> miscompare_offset)>;

// Blocks lent by a backend instead of copied (Backend::read_view): the pieces, in order, cover
// the requested range. They stay readable, and are not reused for other blocks, for as long as
// the owning shared_ptr lives. A concurrent write to the same blocks may show through, as it
// may when two overlapping commands run at once; the engine keeps the read in its task set
// until the view is let go, so a write ordered after the read (ORDERED) does not.
struct DataView {
    std::vector<std::span<const std::byte>> pieces;
};

// Backend contract v1: threads, blocking and re-entry.
//
// - Completion: every call that takes an IoCallback calls it exactly once, inline (before the call
//   returns) or later from any thread. Buffers stay valid until then. A failing call may say why:
//   done(IoStatus::medium_error, "checksum mismatch in block 42") (logged, rate-limited per LUN). LBAs and counts are in the
//   backend's logical blocks and are already range-checked by the engine.
// - Locks: never call `done` while holding a lock that any of this backend's own entry points
//   takes. `done` hands the result to the engine and may run an embedder's completion callback;
//   release your locks first (see examples/map_backend.hpp).
// - Re-entry: vstor never calls into a backend from inside that backend's own `done` (tasks it
//   releases are posted to the engine's workers; the iSCSI and NBD front ends post completions to
//   their loops). Two calls may run at once on different threads: a backend is thread-safe.
// - Threads, per call (a "network loop" is an iSCSI or NBD connection's event-loop thread, or an
//   embedder's thread that calls Adapter::submit):
//   identity: once, on the thread calling Adapter::add_lun.
//   kind, block_size, block_count, caps, read_view: any thread, network loops included; return
//     at once (no I/O, no waiting).
//   read, write, flush: READ/WRITE/SYNCHRONIZE CACHE call them on the network loop, so they must
//     not block: start the work and return, or finish inline only when it is immediate (memory).
//     Slow-path commands (VERIFY, COMPARE AND WRITE, WRITE SAME, SANITIZE, EXTENDED COPY, START
//     STOP UNIT) and Adapter::flush_all call them from engine worker threads and wait.
//   unmap, write_zeroes: engine worker threads only (UNMAP, WRITE SAME, SANITIZE, NBD trim/zeroes).
//     The default write_zeroes writes zero buffers with write(): the first from the calling
//     thread, each later one from a vstor thread, never from inside your write's `done`.
//   allocation_status: engine worker threads only (GET LBA STATUS, NBD block status); may block.
//   compare_and_write, write_same: engine worker threads only (COMPARE AND WRITE, WRITE SAME);
//     the engine waits for them.
//   resize: the thread calling Adapter::resize_lun (`vstor ctl lun resize`: the control thread),
//     never a network loop; may block that caller (the engine holds no lock meanwhile: commands
//     on the LUN go on and see the old capacity until resize returns).
//   the destructor: whoever lets go of the backend last: the thread calling Adapter::remove_lun
//     (after the commands running on it ended), or, when the Adapter is destroyed, a thread of
//     its own per LUN, all at once; it may block, and a shutdown waits for the slowest one.
class Backend {
public:
    // The default argument is evaluated where the derived class is compiled, so it records the
    // contract version of the header that backend was built against. Do not pass it yourself.
    explicit Backend(int api_version = VSTOR_BACKEND_API_VERSION) noexcept : api_version_(api_version) {}
    virtual ~Backend() = default;

    int api_version() const noexcept { return api_version_; }

    virtual std::string kind() const = 0;  // "mem", "file", "null", user-defined
    virtual std::uint32_t block_size() const = 0;
    virtual std::uint64_t block_count() const = 0;
    virtual BackendCaps caps() const = 0;
    // Vendor, product, serial, rotation rate, optimal transfer length. Default: nothing set.
    virtual BackendIdentity identity() const;

    virtual void read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) = 0;
    // fua: the data must be durable before done(ok).
    virtual void write(std::uint64_t lba, std::span<const std::byte> buf, bool fua,
                       IoCallback done) = 0;
    virtual void flush(IoCallback done) = 0;

    // Defaults: write_zeroes writes zero buffers in chunks; unmap reports not_supported.
    virtual void unmap(std::uint64_t lba, std::uint64_t count, IoCallback done);
    virtual void write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done);

    // Optional (caps().compare_and_write): compare `verify` with the blocks from lba and write
    // `data` there only if they are equal, atomically in the backend (for a shared store: against
    // every other client, not just this process). Default and "not here" answer: not_supported,
    // and the engine reads, compares and writes itself under the LUN's own lock.
    virtual void compare_and_write(std::uint64_t lba, std::span<const std::byte> verify,
                                   std::span<const std::byte> data, bool fua, CompareCallback done);
    // Optional (caps().write_same): write the one-block `pattern` to `count` blocks from lba.
    // Default and "not here" answer: not_supported, and the engine writes the pattern itself.
    virtual void write_same(std::uint64_t lba, std::uint64_t count, std::span<const std::byte> pattern, bool fua,
                            IoCallback done);

    // Optional: provisioning map of [lba, lba+count). Default: one mapped extent.
    virtual std::vector<Extent> allocation_status(std::uint64_t lba, std::uint64_t count);

    // Change the size (hot resize). Default: not_supported.
    virtual IoStatus resize(std::uint64_t new_block_count);

    // Optional, for backends whose blocks already sit in memory: lend [lba, lba+count) so a
    // front end can send it without a copy. nullptr (the default) means "use read()"; so may a
    // backend answer whenever lending is not cheap. Must not block.
    virtual std::shared_ptr<const DataView> read_view(std::uint64_t lba, std::uint64_t count);

private:
    int api_version_;
};

}  // namespace vstor

#pragma GCC visibility pop
