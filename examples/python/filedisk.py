# A file-backed disk written in Python, served by vstor's Python plugin host (docs/sdk.md):
#   vstor serve --target iqn.2026-12.org.example:file --lun python:examples/python/filedisk.py,file=/srv/disk.img
# Thread model "parallel": os.pread and os.pwrite release the GIL, so the LUN's four workers keep
# several requests in the kernel at once; nothing here is shared between calls but the descriptor.
import errno
import os

thread_model = "parallel"
_next = {}  # this LUN's keys: config() runs right before its open()


def config(key, value):
    if key != "file":
        raise ValueError(f"unknown key {key!r} (file)")
    _next[key] = value


def config_complete():
    if "file" not in _next:
        raise ValueError("file= is required")


def open(readonly):
    return os.open(_next.pop("file"), os.O_RDONLY if readonly else os.O_RDWR)  # OSError: its errno


def close(fd):
    os.close(fd)


def get_size(fd):
    return os.fstat(fd).st_size


def pread(fd, buf, offset, flags):
    if os.preadv(fd, [buf], offset) != len(buf):
        raise OSError(errno.EIO, "short read")  # a medium error to the initiator


def pwrite(fd, buf, offset, flags):
    if os.pwrite(fd, buf, offset) != len(buf):
        raise OSError(errno.EIO, "short write")


def flush(fd, flags):
    os.fdatasync(fd)
