#include "cli/heap_tuning.hpp"

#include <cstdlib>  // defines __GLIBC__ on glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace vstor::cli {

void keep_freed_command_buffers() {
#if defined(__GLIBC__)
    // Setting either value also turns off glibc's dynamic adjustment of both.
    // Blocks up to 32 MiB (glibc's largest default threshold, half an arena's heap) come from the
    // arenas; larger ones (a 64 MiB write) are still mapped and unmapped on their own.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    // A heap gives back its free top only beyond 64 MiB: a thread's arena (a connection loop's)
    // grows in heaps of at most 64 MiB, so those are never shrunk piecemeal with
    // madvise(MADV_DONTNEED), which is what made the pages fault in again; the main heap keeps
    // up to 64 MiB.
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}

}  // namespace vstor::cli
