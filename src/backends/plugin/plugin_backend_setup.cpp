// PluginBackend::open: the per-LUN configure sequence and the answers cached from the plugin.
#include <cerrno>
#include <thread>

#include "backends/plugin/plugin_backend.hpp"
#include "backends/plugin/plugin_errors.hpp"

namespace vstor::backends::plugin {

std::shared_ptr<PluginBackend> PluginBackend::open(const PluginOptions& o, std::string& error) {
    auto lib = PluginLibrary::get(o.path, error);
    if (!lib) return nullptr;
    return open(std::move(lib), o, error);
}

std::shared_ptr<PluginBackend> PluginBackend::open(std::shared_ptr<PluginLibrary> lib, const PluginOptions& o,
                                                   std::string& error) {
    std::shared_ptr<PluginBackend> b(new PluginBackend(std::move(lib)));
    if (!b->setup(o, error)) return nullptr;  // the destructor closes a handle that was opened
    const bool parallel = b->p().thread_model == VSTOR_THREAD_MODEL_PARALLEL;
    b->pool_ = std::make_unique<util::ThreadPool>(parallel ? 4 : 1);
    return b;
}

bool PluginBackend::setup(const PluginOptions& o, std::string& error) {
    const std::string name = p().name;
    std::lock_guard sequence(lib_->setup());
    PluginLibrary::Calling scope(*lib_);
    auto failed = [&](const std::string& what) {
        const int saved = errno;
        error = "plugin '" + name + "': " + what + ": " + take_error(saved).message;
        return false;
    };
    auto lk = serialize();
    for (const auto& [key, value] : o.params) {
        if (!p().config) {
            error = "plugin '" + name + "' takes no keys, but was given '" + key + "'";
            return false;
        }
        clear_error();
        if (p().config(key.c_str(), value.c_str()) == -1) return failed("rejected " + key + "=" + value);
    }
    clear_error();
    if (p().config_complete && p().config_complete() == -1) return failed("configuration incomplete");
    clear_error();
    handle_ = p().open(o.read_only ? 1 : 0);
    if (!handle_) return failed("open failed");
    block_size_ = o.block_size;
    caps_.read_only = o.read_only;
    return query(error);
}

// Called with the setup and thread-model locks held.
bool PluginBackend::query(std::string& error) {
    const std::string name = p().name;
    clear_error();
    const std::int64_t size = p().get_size(handle_);
    if (size < 0) {
        const int saved = errno;
        error = "plugin '" + name + "': get_size failed: " + take_error(saved).message;
        return false;
    }
    if (p().block_size) block_size_ = p().block_size(handle_);
    if (block_size_ != 512 && block_size_ != 4096) {
        error = "plugin '" + name + "': block size must be 512 or 4096, not " + std::to_string(block_size_);
        return false;
    }
    if (size == 0 || size % block_size_) {
        error = "plugin '" + name + "': size " + std::to_string(size) + " is not a non-zero multiple of the block size " +
                std::to_string(block_size_);
        return false;
    }
    blocks_ = static_cast<std::uint64_t>(size) / block_size_;
    // can_X: the callback's answer, else whether the operation's callback exists.
    auto can = [&](int (*probe)(void*), bool fallback) { return probe ? probe(handle_) == 1 : fallback; };
    caps_.read_only = caps_.read_only || !p().pwrite || !can(p().can_write, true);
    caps_.write_cache = p().flush && can(p().can_flush, true);
    caps_.thin = p().trim && can(p().can_trim, true);
    caps_.allocation_status = p().extents && can(p().can_extents, true);
    can_zero_ = p().zero && can(p().can_zero, true);
    can_fua_ = can(p().can_fua, false);
    if (p().identity) {
        vstor_plugin_identity id{};
        id.struct_size = sizeof id;
        clear_error();
        if (p().identity(handle_, &id) == 0) {
            id.vendor[sizeof id.vendor - 1] = id.product[sizeof id.product - 1] = id.serial[sizeof id.serial - 1] = 0;
            identity_.vendor = id.vendor;
            identity_.product = id.product;
            identity_.serial = id.serial;
            if (id.rotation_rate) identity_.rotation_rate = id.rotation_rate;
            if (id.optimal_transfer_blocks) identity_.optimal_transfer_blocks = id.optimal_transfer_blocks;
        }
    }
    return true;
}

namespace {
// After the pool has drained nothing else calls the handle; SERIALIZE_ALL still keeps close from
// running beside another LUN's callback.
void close_handle(PluginLibrary& lib, void* handle) {
    if (!handle || !lib.plugin().close) return;
    std::unique_lock<std::mutex> lk;
    if (lib.plugin().thread_model == VSTOR_THREAD_MODEL_SERIALIZE_ALL) lk = std::unique_lock(lib.serialize_all());
    lib.plugin().close(handle);
}
}  // namespace

PluginBackend::~PluginBackend() {
    if (pool_ && pool_->runs_on_this_thread()) {
        // The last reference went away in the completion of one of this LUN's own callbacks (the
        // command held the LUN): a worker cannot join itself, so another thread drains the pool
        // and closes the handle. Nothing is queued: queued work would hold a reference.
        std::thread([pool = std::move(pool_), lib = lib_, handle = handle_]() mutable {
            pool.reset();
            close_handle(*lib, handle);
        }).detach();
        return;
    }
    pool_.reset();  // runs what is queued, then joins: no callback runs after this
    close_handle(*lib_, handle_);
}

}  // namespace vstor::backends::plugin
