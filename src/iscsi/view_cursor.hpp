// A place in the pieces of a LUN's lent memory (vstor::DataView): Data-In PDUs cut a lent read
// into segments that start and end anywhere inside its pieces.
#pragma once

#include <algorithm>
#include <cstddef>

#include "vstor/backend.hpp"

namespace vstor::iscsi {

struct ViewCursor {
    const DataView* view = nullptr;
    std::size_t piece = 0;  // index into view->pieces
    std::size_t off = 0;    // bytes of that piece already behind the cursor

    // Calls f(pointer, length) for each span of the next `n` bytes and moves past them. Stops at
    // the view's end (the caller checked that the view holds the bytes it sends: view_bytes).
    template <class F>
    void take(std::size_t n, F&& f) {
        while (n && piece < view->pieces.size()) {
            const auto& p = view->pieces[piece];
            const std::size_t k = std::min(n, p.size() - off);
            if (k) f(static_cast<const void*>(p.data() + off), k);
            off += k;
            n -= k;
            if (off == p.size()) {
                ++piece;
                off = 0;
            }
        }
    }
};

inline std::size_t view_bytes(const DataView& v) {
    std::size_t n = 0;
    for (const auto& p : v.pieces) n += p.size();
    return n;
}

}  // namespace vstor::iscsi
