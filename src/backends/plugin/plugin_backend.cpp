// PluginBackend I/O: every callback runs on the backend's pool (or on the engine worker that
// called unmap/write_zeroes/allocation_status, which may block), under the thread-model lock.
#include "backends/plugin/plugin_backend.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>

#include "backends/plugin/plugin_errors.hpp"

struct vstor_extents {
    std::uint64_t next;  // where the next extent must start
    std::uint64_t end;
    std::vector<std::pair<std::uint64_t, bool>> runs;  // (length in bytes, allocated)
};

namespace vstor::backends::plugin {

int add_extent(vstor_extents* e, std::uint64_t offset, std::uint64_t length, std::uint32_t type) {
    if (!e || offset != e->next || length == 0) {
        const std::string why = "extent at " + std::to_string(offset) + " must start at " +
                                std::to_string(e ? e->next : 0) + " and not be empty";
        record_error(EINVAL, why.c_str());
        return -1;
    }
    if (offset >= e->end) return 0;  // past the range asked for: ignored, as nbdkit does
    length = std::min(length, e->end - offset);
    e->runs.emplace_back(length, !(type & VSTOR_EXTENT_HOLE));
    e->next = offset + length;
    return 0;
}

std::unique_lock<std::mutex> PluginBackend::serialize() {
    switch (p().thread_model) {
        case VSTOR_THREAD_MODEL_SERIALIZE_ALL: return std::unique_lock(lib_->serialize_all());
        case VSTOR_THREAD_MODEL_SERIALIZE_REQUESTS: return std::unique_lock(handle_mu_);
        default: return {};
    }
}

template <typename Call>
std::pair<IoStatus, std::string> PluginBackend::invoke(const char* what, Call&& call) {
    int rc;
    int saved;
    {
        auto lk = serialize();
        clear_error();
        rc = call();
        saved = errno;
    }
    if (rc != -1) return {IoStatus::ok, {}};
    auto e = take_error(saved);
    return {io_status_from_errno(e.errnum), std::string(what) + ": " + e.message};
}

// The engine logs an I/O call's message (IoCallback); allocation_status has no `done`, so its
// failure is logged here.
void PluginBackend::finish(const IoCallback& done, IoStatus st, const std::string& message) {
    if (done) return done(st, message);
    if (st != IoStatus::ok) {
        std::uint64_t suppressed = 0;
        if (log_limit_.allow(&suppressed))
            spdlog::warn("plugin '{}': {} ({}){}", p().name, message, to_string(st),
                         suppressed ? fmt::format(" ({} more suppressed)", suppressed) : "");
    }
}

template <typename Call>
void PluginBackend::post(const char* what, IoCallback done, Call call) {
    pool_->post([this, what, done = std::move(done), call = std::move(call)]() mutable {
        auto [st, message] = invoke(what, call);
        finish(done, st, message);
    });
}

void PluginBackend::read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) {
    const std::uint64_t off = lba * block_size_;
    post("pread", std::move(done), [this, buf, off] { return p().pread(handle_, buf.data(), buf.size(), off, 0); });
}

void PluginBackend::write(std::uint64_t lba, std::span<const std::byte> buf, bool fua, IoCallback done) {
    if (caps_.read_only) return done(IoStatus::read_only);
    const std::uint64_t off = lba * block_size_;
    const std::uint32_t flags = fua && can_fua_ ? VSTOR_FLAG_FUA : 0;
    const bool then_flush = fua && !can_fua_ && caps_.write_cache;  // FUA emulated by a flush
    post("pwrite", std::move(done), [this, buf, off, flags, then_flush] {
        const int rc = p().pwrite(handle_, buf.data(), buf.size(), off, flags);
        return rc == 0 && then_flush ? p().flush(handle_, 0) : rc;
    });
}

void PluginBackend::flush(IoCallback done) {
    if (!caps_.write_cache) return done(IoStatus::ok);  // nothing volatile to flush
    post("flush", std::move(done), [this] { return p().flush(handle_, 0); });
}

void PluginBackend::unmap(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    if (!caps_.thin) return done(IoStatus::not_supported);
    if (caps_.read_only) return done(IoStatus::read_only);
    // Engine workers only (contract v1): the callback may block here.
    auto [st, message] = invoke("trim", [&] { return p().trim(handle_, count * block_size_, lba * block_size_, 0); });
    finish(done, st, message);
}

void PluginBackend::write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    if (caps_.read_only) return done(IoStatus::read_only);
    if (!can_zero_) return Backend::write_zeroes(lba, count, std::move(done));
    auto [st, message] = invoke("zero", [&] { return p().zero(handle_, count * block_size_, lba * block_size_, 0); });
    finish(done, st, message);
}

std::vector<Extent> PluginBackend::allocation_status(std::uint64_t lba, std::uint64_t count) {
    if (!caps_.allocation_status) return Backend::allocation_status(lba, count);
    vstor_extents e{lba * block_size_, (lba + count) * block_size_, {}};
    auto [st, message] = invoke("extents", [&] { return p().extents(handle_, count * block_size_, lba * block_size_, &e); });
    if (st != IoStatus::ok) {
        finish(nullptr, st, message);  // logged; the range then counts as allocated
        return Backend::allocation_status(lba, count);
    }
    if (e.next < e.end) e.runs.emplace_back(e.end - e.next, true);  // not described: allocated
    std::vector<Extent> out;
    std::uint64_t at = lba * block_size_;
    for (const auto& [length, mapped] : e.runs) {
        const std::uint64_t first = at / block_size_;
        const std::uint64_t last = (at + length + block_size_ - 1) / block_size_;  // a partial block counts
        at += length;
        if (!out.empty() && out.back().mapped == mapped) {
            out.back().count = last - out.back().lba;
        } else {
            const std::uint64_t start = out.empty() ? first : out.back().lba + out.back().count;
            if (last > start) out.push_back(Extent{start, last - start, mapped});
        }
    }
    return out;
}

}  // namespace vstor::backends::plugin
