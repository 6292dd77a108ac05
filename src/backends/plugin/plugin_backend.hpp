// A Backend served by a plugin shared object (include/vstor/plugin.h): the plugin's blocking
// callbacks run on this backend's own worker threads (never on a network loop), under the lock its
// thread model asks for; a callback's errno becomes the IoStatus and its message goes with it.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "backends/plugin/plugin_library.hpp"
#include "util/rate_limiter.hpp"
#include "util/thread_pool.hpp"
#include "vstor/backend.hpp"

namespace vstor::backends::plugin {

struct PluginOptions {
    std::string path;
    std::vector<std::pair<std::string, std::string>> params;  // passed to config(), in order
    bool read_only = false;
    std::uint32_t block_size = 512;  // when the plugin has no block_size callback
};

class PluginBackend final : public Backend {
public:
    // Loads the library, configures and opens one handle. nullptr with `error` on failure (a key
    // the plugin rejects is named with the plugin's message).
    static std::shared_ptr<PluginBackend> open(const PluginOptions& o, std::string& error);
    // The same over a library already found (a hosted plugin: PluginLibrary::get_hosted).
    static std::shared_ptr<PluginBackend> open(std::shared_ptr<PluginLibrary> lib, const PluginOptions& o,
                                               std::string& error);
    ~PluginBackend() override;

    std::string kind() const override { return lib_->plugin().name; }
    std::uint32_t block_size() const override { return block_size_; }
    std::uint64_t block_count() const override { return blocks_; }
    BackendCaps caps() const override { return caps_; }
    BackendIdentity identity() const override { return identity_; }

    void read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) override;
    void write(std::uint64_t lba, std::span<const std::byte> buf, bool fua, IoCallback done) override;
    void flush(IoCallback done) override;
    void unmap(std::uint64_t lba, std::uint64_t count, IoCallback done) override;
    void write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done) override;
    std::vector<Extent> allocation_status(std::uint64_t lba, std::uint64_t count) override;

private:
    explicit PluginBackend(std::shared_ptr<PluginLibrary> lib) : lib_(std::move(lib)) {}
    bool setup(const PluginOptions& o, std::string& error);  // config..open, then the cached answers
    bool query(std::string& error);                          // size, block size, caps, identity
    // The lock the thread model asks for around one callback (none for PARALLEL).
    std::unique_lock<std::mutex> serialize();
    // Runs `call` (a callback returning 0 or -1) on this thread, under the thread-model lock, and
    // returns its outcome; on -1 the plugin's errno and message.
    template <typename Call>
    std::pair<IoStatus, std::string> invoke(const char* what, Call&& call);
    template <typename Call>
    void post(const char* what, IoCallback done, Call call);
    void finish(const IoCallback& done, IoStatus st, const std::string& message);

    std::shared_ptr<PluginLibrary> lib_;
    const vstor_plugin& p() const { return lib_->plugin(); }
    void* handle_ = nullptr;
    std::mutex handle_mu_;  // SERIALIZE_REQUESTS
    std::uint32_t block_size_ = 512;
    std::uint64_t blocks_ = 0;
    BackendCaps caps_{};
    BackendIdentity identity_{};
    bool can_fua_ = false;
    bool can_zero_ = false;
    util::RateLimiter log_limit_;
    std::unique_ptr<util::ThreadPool> pool_;  // last: drained before the handle closes
};

}  // namespace vstor::backends::plugin
