// A byte vector whose resize() leaves new bytes uninitialized: command buffers are filled by
// the backend or by Data-Out before anyone reads them, so zeroing 1 MiB per command is waste.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace vstor::util {

template <typename T>
struct default_init_allocator : std::allocator<T> {
    template <typename U>
    struct rebind {
        using other = default_init_allocator<U>;
    };
    using std::allocator<T>::allocator;
    template <typename U>
    void construct(U* p) noexcept {
        ::new (static_cast<void*>(p)) U;  // default-initialize: no zeroing
    }
    template <typename U, typename... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};

using UninitBytes = std::vector<std::uint8_t, default_init_allocator<std::uint8_t>>;

}  // namespace vstor::util
