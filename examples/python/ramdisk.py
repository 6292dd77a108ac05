# A RAM disk written in Python, served by vstor's Python plugin host (docs/sdk.md, "Python plugins"):
#   vstor serve --target iqn.2026-12.org.example:ram --lun python:examples/python/ramdisk.py,size=64M
# The bytes live in a bytearray; the 4 KiB pages never written (or trimmed whole) are reported as
# holes by extents(), which NBD block status and GET LBA STATUS show.
thread_model = "serialize_requests"  # one call at a time per LUN: each LUN has its own disk

PAGE = 4096
_next = {}  # this LUN's keys: config() runs right before its open()


def config(key, value):
    if key not in ("size", "serial"):
        raise ValueError(f"unknown key {key!r} (size, serial)")
    _next[key] = value


class Disk:
    def __init__(self, size, serial):
        self.data = bytearray(size)
        self.written = set()  # pages holding data
        self.serial = serial


def open(readonly):
    size = _next.pop("size", "64M")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    size = int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)
    return Disk(size, _next.pop("serial", "py-ramdisk"))


def get_size(disk):
    return len(disk.data)


def identity(disk):
    return {"vendor": "VSTORPY", "product": "RAMDISK", "serial": disk.serial, "rotation_rate": 1}


def pread(disk, buf, offset, flags):
    buf[:] = disk.data[offset:offset + len(buf)]


def pwrite(disk, buf, offset, flags):
    disk.data[offset:offset + len(buf)] = buf
    disk.written.update(range(offset // PAGE, (offset + len(buf) - 1) // PAGE + 1))


def trim(disk, count, offset, flags):
    disk.data[offset:offset + count] = bytes(count)
    disk.written.difference_update(range(-(-offset // PAGE), (offset + count) // PAGE))  # whole pages


def extents(disk, count, offset):
    page = offset // PAGE
    while page * PAGE < offset + count:
        start, hole = page, page not in disk.written
        while (page + 1) * PAGE < offset + count and ((page + 1) not in disk.written) == hole:
            page += 1
        page += 1
        yield max(start * PAGE, offset), page * PAGE - max(start * PAGE, offset), 3 if hole else 0
