#include "backends/mem/mem_backend.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace vstor::backends {

namespace {
// Written data goes to LUN memory that is rarely in the cache (a write touches it once, and a
// large LUN is larger than the cache), where an ordinary copy first reads in every line it is
// about to overwrite: streaming stores skip that read (docs/performance.md).
void store_chunk_data(std::byte* dst, const std::byte* src, std::size_t n) {
#if defined(__SSE2__)
    if ((reinterpret_cast<std::uintptr_t>(dst) & 15) == 0 && n % 64 == 0) {
        for (std::size_t i = 0; i < n; i += 64) {
            const auto* s = reinterpret_cast<const __m128i*>(src + i);
            auto* d = reinterpret_cast<__m128i*>(dst + i);
            const __m128i a = _mm_loadu_si128(s), b = _mm_loadu_si128(s + 1);
            const __m128i c = _mm_loadu_si128(s + 2), e = _mm_loadu_si128(s + 3);
            _mm_stream_si128(d, a);
            _mm_stream_si128(d + 1, b);
            _mm_stream_si128(d + 2, c);
            _mm_stream_si128(d + 3, e);
        }
        _mm_sfence();  // ordered before the shard's unlock, like any other store
        return;
    }
#endif
    std::memcpy(dst, src, n);
}
}  // namespace

MemBackend::MemBackend(std::uint64_t size_bytes, std::uint32_t block_size, bool read_only)
    : block_size_(block_size),
      chunk_bytes_(std::max<std::size_t>(kMinChunkBytes, block_size)),
      read_only_(read_only),
      blocks_(size_bytes / block_size) {
    for (auto& sh : shards_) sh.arena.emplace(chunk_bytes_);
}

BackendCaps MemBackend::caps() const {
    BackendCaps c;
    c.read_only = read_only_;
    c.thin = true;
    c.allocation_status = true;
    return c;
}

void MemBackend::read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) {
    for_each_stored(lba * block_size_, buf.size(), [&](const std::byte* c, const Piece& p) {
        if (c)
            std::memcpy(buf.data() + p.pos, c + p.in, p.n);
        else
            std::memset(buf.data() + p.pos, 0, p.n);
    });
    done(IoStatus::ok);
}

void MemBackend::write(std::uint64_t lba, std::span<const std::byte> buf, bool, IoCallback done) {
    if (read_only_) return done(IoStatus::read_only);
    const bool ok = for_each_page(lba * block_size_, buf.size(), [&](Shard& sh, std::uint64_t page,
                                                                     std::span<const Piece> pieces) {
        auto& pg = sh.pages.entry(page);
        if (!pg) pg = std::make_unique<Page>();
        for (const Piece& p : pieces) {
            std::byte*& c = pg->slot[p.slot];
            if (!c) {
                c = sh.arena->alloc();  // zero-filled
                if (!c) {
                    if (pg->used == 0) sh.pages.erase(page);
                    return false;
                }
                ++pg->used;
            }
            store_chunk_data(c + p.in, buf.data() + p.pos, p.n);
        }
        return true;
    });
    done(ok ? IoStatus::ok : IoStatus::no_space);
}

void MemBackend::zero_range(std::uint64_t off, std::uint64_t len) {
    static_assert(kShards <= 64);
    std::uint64_t released = 0;  // shards that released a chunk
    bool parked = false;
    for_each_page(off, len, [&](Shard& sh, std::uint64_t page, std::span<const Piece> pieces) {
        Page* found = sh.pages.find(page);
        if (!found) return true;
        Page& pg = *found;
        for (const Piece& p : pieces) {
            std::byte*& c = pg.slot[p.slot];
            if (!c) continue;
            if (p.n == chunk_bytes_) {
                if (release_chunk(sh, c))
                    released |= std::uint64_t{1} << (page % kShards);
                else
                    parked = true;
                c = nullptr;
                --pg.used;
            } else {
                std::memset(c + p.in, 0, p.n);
            }
        }
        if (pg.used == 0) sh.pages.erase(page);
        return true;
    });
    // The memory goes back once per call, in runs of neighbouring slots.
    for (std::size_t i = 0; i < kShards; ++i) {
        if (!(released >> i & 1)) continue;
        std::lock_guard lk(shards_[i].mu);
        shards_[i].arena->trim();
    }
    // The last view may have ended between our look at pins_ and the parking, and seen nothing
    // parked yet: look again now that the chunks are on the list.
    if (parked) reclaim_parked();
}

void MemBackend::unmap(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    if (read_only_) return done(IoStatus::read_only);
    zero_range(lba * block_size_, count * block_size_);
    done(IoStatus::ok);
}

void MemBackend::write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    unmap(lba, count, std::move(done));  // unmapped blocks read as zeroes
}

std::vector<Extent> MemBackend::allocation_status(std::uint64_t lba, std::uint64_t count) {
    std::vector<Extent> out;
    const auto add = [&](std::uint64_t first, std::uint64_t n, bool mapped) {
        if (!out.empty() && out.back().mapped == mapped)
            out.back().count += n;
        else
            out.push_back(Extent{first, n, mapped});
    };
    std::uint64_t cur = lba;
    for_each_stored(lba * block_size_, count * block_size_, [&](const std::byte* c, const Piece& p) {
        const std::uint64_t n = p.n / block_size_;
        add(cur, n, c != nullptr);
        cur += n;
    });
    return out;
}

IoStatus MemBackend::resize(std::uint64_t new_block_count) {
    const std::uint64_t old = blocks_.load();
    if (new_block_count < old) zero_range(new_block_count * block_size_, (old - new_block_count) * block_size_);
    blocks_.store(new_block_count, std::memory_order_release);
    return IoStatus::ok;
}

// ---- Lending ------------------------------------------------------------------------------

namespace {
// Unwritten chunks are lent from here: no memory per view, and neighbours merge into one piece.
constexpr std::size_t kZeroArea = 64u << 10;
alignas(4096) const std::byte kZeros[kZeroArea]{};

void append_data(std::vector<std::span<const std::byte>>& out, const std::byte* p, std::size_t n) {
    if (!out.empty() && out.back().data() != kZeros && out.back().data() + out.back().size() == p)
        out.back() = {out.back().data(), out.back().size() + n};
    else
        out.emplace_back(p, n);
}

void append_zeros(std::vector<std::span<const std::byte>>& out, std::size_t n) {
    while (n) {
        if (!out.empty() && out.back().data() == kZeros && out.back().size() < kZeroArea) {
            const std::size_t take = std::min(n, kZeroArea - out.back().size());
            out.back() = {kZeros, out.back().size() + take};
            n -= take;
        } else {
            const std::size_t take = std::min(n, kZeroArea);
            out.emplace_back(kZeros, take);
            n -= take;
        }
    }
}
}  // namespace

struct MemBackend::LentView : DataView {
    explicit LentView(std::shared_ptr<MemBackend> b) : owner(std::move(b)) {}
    ~LentView() { owner->unpin(); }
    LentView(const LentView&) = delete;
    LentView& operator=(const LentView&) = delete;
    std::shared_ptr<MemBackend> owner;
};

std::shared_ptr<const DataView> MemBackend::read_view(std::uint64_t lba, std::uint64_t count) {
    // Too much memory waits for views to drain: copy instead until they have.
    if (parked_bytes_.load(std::memory_order_relaxed) > kMaxParkedBytes) return nullptr;
    auto self = weak_from_this().lock();
    if (!self) return nullptr;
    pins_.fetch_add(kOneView);  // before any chunk is looked at (see pins_)
    auto view = std::make_shared<LentView>(std::move(self));
    const std::uint64_t len = count * block_size_;
    view->pieces.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(len / chunk_bytes_ + 2, 1024)));
    for_each_stored(lba * block_size_, len, [&](const std::byte* c, const Piece& p) {
        if (c)
            append_data(view->pieces, c + p.in, p.n);
        else
            append_zeros(view->pieces, p.n);
    });
    return view;
}

bool MemBackend::release_chunk(Shard& sh, std::byte* chunk) {
    const std::uint64_t pins = pins_.load();
    if (no_views(pins)) {
        sh.arena->release(chunk);
        return true;
    }
    sh.parked.emplace_back(chunk, static_cast<std::uint32_t>(pins >> 32));
    parked_bytes_.fetch_add(chunk_bytes_);
    return false;
}

void MemBackend::unpin() {
    std::uint64_t now = pins_.fetch_sub(kOneView) - kOneView;
    if (!no_views(now)) return;
    // The last view of this generation is gone: start the next one (unless a new view came in
    // meanwhile; its own end will), and free what was parked under the old one.
    if (!pins_.compare_exchange_strong(now, now + (std::uint64_t{1} << 32))) return;
    if (parked_bytes_.load() != 0) reclaim_parked();
}

void MemBackend::reclaim_parked() {
    // gen may be stale by the time a shard is visited: views of later generations may have come
    // and parked chunks since. Only a chunk parked before gen began is in no live view.
    const auto gen = static_cast<std::uint32_t>(pins_.load() >> 32);
    for (auto& sh : shards_) {
        std::lock_guard lk(sh.mu);
        if (sh.parked.empty()) continue;
        std::size_t freed = 0;
        std::erase_if(sh.parked, [&](const std::pair<std::byte*, std::uint32_t>& e) {
            // Generations wrap: compare by distance.
            if (static_cast<std::int32_t>(e.second - gen) >= 0) return false;
            sh.arena->release(e.first);
            ++freed;
            return true;
        });
        if (freed) {
            parked_bytes_.fetch_sub(freed * chunk_bytes_);
            sh.arena->trim();
        }
    }
}

std::size_t MemBackend::allocated_bytes() const {
    std::size_t n = 0;
    for (const auto& sh : shards_) {
        std::lock_guard lk(sh.mu);
        sh.pages.for_each([&](const Page& page) { n += page.used * chunk_bytes_; });
    }
    return n;
}

}  // namespace vstor::backends
