// Default implementations of the optional Backend operations.
#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "vstor/backend.hpp"

namespace vstor {

const char* to_string(IoStatus s) noexcept {
    switch (s) {
        case IoStatus::ok: return "ok";
        case IoStatus::medium_error: return "medium error";
        case IoStatus::out_of_range: return "out of range";
        case IoStatus::no_space: return "no space";
        case IoStatus::read_only: return "read-only";
        case IoStatus::not_supported: return "not supported";
        case IoStatus::not_ready: return "not ready";
        case IoStatus::aborted: return "aborted";
    }
    return "unknown";
}

BackendIdentity Backend::identity() const { return {}; }

void Backend::unmap(std::uint64_t, std::uint64_t, IoCallback done) { done(IoStatus::not_supported); }

namespace {
// Waits for one write; the engine calls write_zeroes on its worker threads only, so waiting here
// blocks no loop, and each chunk is written from this thread rather than from inside the previous
// chunk's `done` (contract v1: no re-entry from a backend's own completion).
IoStatus write_and_wait(Backend& b, std::uint64_t lba, std::span<const std::byte> buf) {
    std::mutex m;
    std::condition_variable cv;
    std::optional<IoStatus> result;
    b.write(lba, buf, false, [&](IoStatus s) {
        std::lock_guard lk(m);
        result = s;
        cv.notify_one();
    });
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return result.has_value(); });
    return *result;
}
}  // namespace

void Backend::write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    const std::vector<std::byte> zeroes(std::max<std::size_t>(block_size(), 1u << 20));
    const std::uint64_t bs = block_size();
    while (count > 0) {
        const std::uint64_t n = std::min<std::uint64_t>(count, zeroes.size() / bs);
        if (const auto st = write_and_wait(*this, lba, std::span(zeroes.data(), n * bs)); st != IoStatus::ok)
            return done(st);
        lba += n;
        count -= n;
    }
    done(IoStatus::ok);
}

std::vector<Extent> Backend::allocation_status(std::uint64_t lba, std::uint64_t count) {
    return {Extent{lba, count, true}};
}

IoStatus Backend::resize(std::uint64_t) { return IoStatus::not_supported; }

std::shared_ptr<const DataView> Backend::read_view(std::uint64_t, std::uint64_t) { return nullptr; }

}  // namespace vstor
