// The mem backend's map from a page number to its page, for one shard: an array indexed by the
// page's number within the shard, in blocks of kBlock entries made on first use. It replaced an
// std::unordered_map whose find (a division, then a bucket and a node to load, each a cache miss
// on a large LUN) was an eighth of the target's CPU on 4 KiB random reads (docs/performance.md).
// Not thread-safe: the shard's lock guards it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

namespace vstor::backends {

template <class Page>
class PageTable {
public:
    // `stride`: the shard holds every stride-th page (page % stride is the shard's index).
    explicit PageTable(std::uint64_t stride) : stride_(stride) {}

    Page* find(std::uint64_t page) const {
        const std::uint64_t i = page / stride_;
        if (i / kBlock >= blocks_.size() || !blocks_[i / kBlock]) return nullptr;
        return (*blocks_[i / kBlock])[i % kBlock].get();
    }

    // The page's entry, empty when the page has none yet (the caller fills it).
    std::unique_ptr<Page>& entry(std::uint64_t page) {
        const std::uint64_t i = page / stride_;
        if (i / kBlock >= blocks_.size()) blocks_.resize(i / kBlock + 1);
        auto& block = blocks_[i / kBlock];
        if (!block) block = std::make_unique<Block>();
        return (*block)[i % kBlock];
    }

    void erase(std::uint64_t page) {
        if (find(page)) entry(page).reset();
    }

    template <class Fn>
    void for_each(Fn&& fn) const {
        for (const auto& block : blocks_)
            if (block)
                for (const auto& p : *block)
                    if (p) fn(*p);
    }

private:
    static constexpr std::size_t kBlock = 512;  // a block covers 512 of the shard's pages
    using Block = std::array<std::unique_ptr<Page>, kBlock>;
    std::uint64_t stride_;
    std::vector<std::unique_ptr<Block>> blocks_;
};

}  // namespace vstor::backends
