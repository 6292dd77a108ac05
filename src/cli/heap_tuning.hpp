// Process-wide malloc settings for a server that allocates a buffer per command (vstor serve).
#pragma once

namespace vstor::cli {

// Keeps command buffers (up to 32 MiB) in malloc's arenas once freed instead of handing them
// back to the kernel. With glibc's defaults a large block is mmap'ed and unmapped per command
// until the dynamic threshold rises; after that, a thread's heap whose free top outgrows twice
// that threshold is shrunk with madvise(MADV_DONTNEED), and the next command's buffer faults
// its pages in again (256 per MiB, ~10 µs each in this VM). Whether a loop's buffers end up on
// top depends on what ran before: 1 MiB file-LUN reads fell from 3.4 GB/s to 0.3 GB/s, at the
// same CPU, after a burst of writes (docs/performance.md, "Command buffers kept by malloc").
// Only for the vstor executable: a library does not change its host's allocator (docs/sdk.md).
// No effect without glibc.
void keep_freed_command_buffers();

}  // namespace vstor::cli
