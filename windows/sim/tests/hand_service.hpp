// A hand-written service for the engine-free storport tests (which also run in the 32-bit
// emulator against the x86 image): each call is one DeviceIoControl on the emulated adapter.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "miniport.h"
#include "storport_sim.hpp"

namespace vstor::storport_sim::test {

// A hand-written service: each call is one DeviceIoControl from process `pid`, on its own buffer.
struct HandService {
    Emulator& emu;
    int pid;
    std::uint32_t session = 0;

    IoctlResult call(std::vector<std::uint8_t>& buf, std::uint32_t in_len) {
        return emu.device_ioctl(pid, VSTOR_BRIDGE_IOCTL, buf.data(), in_len, static_cast<ULONG>(buf.size()));
    }
    std::vector<std::uint8_t> with_header(std::uint16_t op, std::uint32_t flags = 0) {
        std::vector<std::uint8_t> buf(VSTOR_TRANSACT_MIN_BUFFER);
        put_header(buf, op, flags);
        return buf;
    }
    void put_header(std::vector<std::uint8_t>& buf, std::uint16_t op, std::uint32_t flags = 0) const {
        vstor_bridge_header h{VSTOR_BRIDGE_MAGIC, VSTOR_BRIDGE_VERSION, op, session, flags};
        std::memcpy(buf.data(), &h, sizeof(h));
    }
    // Each on a buffer of its own, or on `buf` (VSTOR_TRANSACT_MIN_BUFFER bytes) when given.
    NTSTATUS connect() {
        std::vector<std::uint8_t> buf(VSTOR_TRANSACT_MIN_BUFFER);
        return connect(buf);
    }
    NTSTATUS connect(std::vector<std::uint8_t>& buf) {
        put_header(buf, VSTOR_OP_CONNECT);
        vstor_bridge_connect c{};
        std::memcpy(&c, buf.data(), sizeof(c.hdr));
        c.buffer_size = VSTOR_TRANSACT_MIN_BUFFER;
        std::memcpy(buf.data(), &c, sizeof(c));
        const auto r = call(buf, sizeof(c));
        vstor_bridge_connect_reply reply;
        std::memcpy(&reply, buf.data(), sizeof(reply));
        if (r.status == STATUS_SUCCESS) session = reply.session;
        return r.status;
    }
    NTSTATUS announce_lun0() {
        std::vector<std::uint8_t> buf(VSTOR_TRANSACT_MIN_BUFFER);
        return announce_lun0(buf);
    }
    NTSTATUS announce_lun0(std::vector<std::uint8_t>& buf) { return announce(buf, 0, 0, true); }
    // VSTOR_OP_LUN: LUN `lun` of target `target` added (present) or withdrawn.
    NTSTATUS announce(std::vector<std::uint8_t>& buf, std::uint8_t target, std::uint8_t lun, bool present) {
        put_header(buf, VSTOR_OP_LUN);
        vstor_bridge_lun l{};
        std::memcpy(&l, buf.data(), sizeof(l.hdr));
        l.target_id = target;
        l.lun = lun;
        l.present = present ? 1 : 0;
        std::memcpy(buf.data(), &l, sizeof(l));
        return call(buf, sizeof(l)).status;
    }
};

}  // namespace vstor::storport_sim::test
