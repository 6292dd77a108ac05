// The emulator's IOCTL path over TCP (the other end of src/bridge/tcp_channel): lets a service
// process — the Windows build under Wine — talk to the emulated vstor.sys. All connections belong to
// one "process": when any of them breaks, the process is taken as dead and its IRPs are cancelled,
// as the I/O manager does when a process exits.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "storport_sim.hpp"

namespace vstor::storport_sim {

class IoctlServer {
public:
    IoctlServer(Emulator& emu, int process);
    ~IoctlServer();
    std::uint16_t port() const { return port_; }
    bool process_gone() const { return gone_.load(); }

private:
    void accept_loop();
    void serve(int fd);

    Emulator& emu_;
    int process_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stopping_{false}, gone_{false};
    std::mutex mu_;  // guards conns_ and fds_
    std::vector<std::thread> conns_;
    std::vector<int> fds_;
    std::thread acceptor_;
};

}  // namespace vstor::storport_sim
