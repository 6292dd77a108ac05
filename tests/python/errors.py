# A 1 MiB disk whose 64 KiB regions fail with one exception each, for the Python host's error tests
# (tests/unit/backends/test_python_backend.cpp, tests/interop/python.sh): the exception's errno (an
# `errno` attribute: OSError's, or a class's own) becomes the sense, anything else EIO, and the
# message reaches vstor's log. Region 0 works and reads zeroes.
import errno

REGION = 64 << 10


class Exhausted(Exception):
    errno = errno.ENOMEM  # no OSError, but an errno attribute: it is used


def open(readonly):
    return bytearray(1 << 20)


def get_size(disk):
    return len(disk)


def fail(offset, what):
    region = offset // REGION
    if region == 1:
        raise RuntimeError(f"injected failure on {what} at offset {offset}")  # no errno: EIO
    if region == 2:
        raise OSError(errno.ENOSPC, f"injected ENOSPC on {what} at offset {offset}")
    if region == 3:
        raise OSError(errno.EROFS, f"injected EROFS on {what} at offset {offset}")
    if region == 4:
        raise OSError(errno.EINVAL, f"injected EINVAL on {what} at offset {offset}")
    if region == 5:
        raise Exhausted(f"injected ENOMEM on {what} at offset {offset}")
    if region == 6:
        return 1 // 0  # a plain bug: ZeroDivisionError, EIO


def pread(disk, buf, offset, flags):
    fail(offset, "read")
    buf[:] = disk[offset:offset + len(buf)]


def pwrite(disk, buf, offset, flags):
    fail(offset, "write")
    disk[offset:offset + len(buf)] = buf
