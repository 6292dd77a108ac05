// Default implementations of the optional Backend operations.
#include <algorithm>
#include <memory>
#include <vector>

#include "util/thread_pool.hpp"
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
        case IoStatus::invalid_field: return "invalid field";
        case IoStatus::no_resources: return "insufficient resources";
        case IoStatus::transitioning: return "transitioning";
    }
    return "unknown";
}

BackendIdentity Backend::identity() const { return {}; }

void Backend::unmap(std::uint64_t, std::uint64_t, IoCallback done) { done(IoStatus::not_supported); }

namespace {
// Where the default write_zeroes starts each chunk after the first. Not inside the previous
// chunk's `done`: that runs on the backend's own completion thread, and contract v1 promises a
// backend that vstor never calls into it from there. Not by waiting either: the caller may be
// one of the backend's own threads (FileBackend falls back to this from its pool).
util::ThreadPool& zero_writer_pool() {
    static util::ThreadPool pool(1);
    return pool;
}

// Writes zero chunks one after another; each completion posts the next.
struct ZeroWriter : std::enable_shared_from_this<ZeroWriter> {
    Backend* backend;
    std::uint64_t lba, remaining;
    std::vector<std::byte> zeroes;
    IoCallback done;
    void next() {
        if (remaining == 0) return done(IoStatus::ok);
        const std::uint64_t bs = backend->block_size();
        const std::uint64_t n = std::min<std::uint64_t>(remaining, zeroes.size() / bs);
        auto self = shared_from_this();
        backend->write(lba, std::span<const std::byte>(zeroes.data(), n * bs), false,
                       [self, n](IoStatus s, std::string_view why) {
                           if (s != IoStatus::ok) return self->done(s, why);
                           self->lba += n;
                           self->remaining -= n;
                           if (self->remaining == 0) return self->done(IoStatus::ok);
                           zero_writer_pool().post([self] { self->next(); });
                       });
    }
};
}  // namespace

void Backend::write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    auto w = std::make_shared<ZeroWriter>();
    w->backend = this;
    w->lba = lba;
    w->remaining = count;
    w->zeroes.resize(std::max<std::size_t>(block_size(), 1u << 20));
    w->done = std::move(done);
    w->next();
}

std::vector<Extent> Backend::allocation_status(std::uint64_t lba, std::uint64_t count) {
    return {Extent{lba, count, true}};
}

IoStatus Backend::resize(std::uint64_t) { return IoStatus::not_supported; }

void Backend::compare_and_write(std::uint64_t, std::span<const std::byte>, std::span<const std::byte>, bool,
                                CompareCallback done) {
    done(IoStatus::not_supported, std::nullopt);
}

void Backend::write_same(std::uint64_t, std::uint64_t, std::span<const std::byte>, bool, IoCallback done) {
    done(IoStatus::not_supported);
}

std::shared_ptr<const DataView> Backend::read_view(std::uint64_t, std::uint64_t) { return nullptr; }

}  // namespace vstor
