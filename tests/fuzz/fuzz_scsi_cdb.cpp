// libFuzzer target: arbitrary CDBs with arbitrary parameter lists (MODE SELECT, PERSISTENT RESERVE
// OUT, UNMAP, EXTENDED COPY, ...) and data-in lengths through the whole engine. Every command must
// complete exactly once with a well-formed status; sanitizers catch memory errors.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <future>
#include <memory>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "vstor/adapter.hpp"

namespace {

struct Rig {
    std::unique_ptr<vstor::Adapter> adapter = vstor::Adapter::create();
    std::shared_ptr<vstor::Nexus> nexus;
    Rig() {
        const auto tid = *adapter->add_target("iqn.2026-11.org.vstor:fuzz").value;
        (void)adapter->add_lun(tid, 0, std::make_shared<vstor::backends::MemBackend>(4u << 20, 512));
        vstor::LunOptions removable;
        removable.removable = true;
        (void)adapter->add_lun(tid, 1, std::make_shared<vstor::backends::MemBackend>(1u << 20, 4096), removable);
        nexus = adapter->open_nexus(tid, "iqn.fuzz:init,i,0x1");
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Rig rig;
    if (size < 18) return 0;
    vstor::Command cmd;
    cmd.nexus = rig.nexus;
    cmd.lun = vstor::encode_sam_lun(data[0] & 1);
    const bool write = data[1] & 0x80;
    const std::uint32_t alloc = (static_cast<std::uint32_t>(data[1] & 0x7f) << 8) | 0xff;  // up to 32 KiB of data-in
    std::memcpy(cmd.cdb.data(), data + 2, 16);
    cmd.cdb_len = 16;
    std::vector<std::uint8_t> buf;
    if (write) {
        buf.assign(data + 18, data + size);
        cmd.dir = vstor::DataDirection::write;
    } else {
        buf.resize(alloc);
        cmd.dir = vstor::DataDirection::read;
    }
    cmd.expected_length = static_cast<std::uint32_t>(buf.size());
    cmd.data = std::as_writable_bytes(std::span(buf));
    std::promise<vstor::Completion> done;
    rig.adapter->submit(cmd, [&](const vstor::Completion& c) { done.set_value(c); });
    const auto c = done.get_future().get();
    if (c.data_in_len > buf.size() || c.sense_len > c.sense.size()) __builtin_trap();
    return 0;
}
