// vstor-bridge-probe.exe: the first thing to run on a Windows test machine after installing
// vstor.sys and creating the root\vstor devnode. Opens the adapter through its device interface,
// CONNECTs, prints what the driver reports, and DISCONNECTs. Needs no engine.
#include <cstdio>
#include <cstring>
#include <string>

#include "bridge/win32_channel.hpp"
#include "vstor/bridge_protocol.h"

int main() {
    std::string error;
    auto channel = vstor::bridge::Win32Channel::open(error);
    if (!channel) {
        std::fprintf(stderr, "vstor-bridge-probe: %s\n", error.c_str());
        return 2;
    }
    std::fwprintf(stdout, L"adapter: %ls\n", channel->path().c_str());
    unsigned char buf[sizeof(vstor_bridge_connect_reply)] = {};
    vstor_bridge_connect c{};
    c.hdr.magic = VSTOR_BRIDGE_MAGIC;
    c.hdr.version = VSTOR_BRIDGE_VERSION;
    c.hdr.op = VSTOR_OP_CONNECT;
    c.buffer_size = VSTOR_TRANSACT_MIN_BUFFER;
    std::memcpy(buf, &c, sizeof(c));
    auto r = channel->ioctl(buf, sizeof(c), sizeof(buf));
    if (r.status < 0 || r.information < sizeof(vstor_bridge_connect_reply)) {
        std::fprintf(stderr, "vstor-bridge-probe: CONNECT failed, NTSTATUS 0x%08x\n", static_cast<unsigned>(r.status));
        return 1;
    }
    vstor_bridge_connect_reply reply;
    std::memcpy(&reply, buf, sizeof(reply));
    std::printf("protocol %u, session %u, max transfer %u, slots %u, buffer %u, targets %u, luns %u\n",
                reply.hdr.version, reply.session, reply.max_transfer, reply.max_outstanding, reply.min_buffer_size,
                reply.max_targets, reply.max_luns);
    vstor_bridge_header bye{VSTOR_BRIDGE_MAGIC, VSTOR_BRIDGE_VERSION, VSTOR_OP_DISCONNECT, reply.session, 0};
    std::memcpy(buf, &bye, sizeof(bye));
    r = channel->ioctl(buf, sizeof(bye), sizeof(bye));
    std::printf("disconnect: NTSTATUS 0x%08x\n", static_cast<unsigned>(r.status));
    return r.status < 0 ? 1 : 0;
}
