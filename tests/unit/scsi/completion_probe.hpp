// Does a command complete while the engine holds a lock? Send it and, from inside its completion
// callback, send a probe command that needs the same lock from another thread: the probe stalls
// for as long as the completing thread holds that lock (issue 17 §3: never complete under one).
#pragma once

#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>

#include "engine_fixture.hpp"

namespace vstor::test {

struct ProbedCommand {
    std::vector<std::uint8_t> cdb;
    std::vector<std::uint8_t> out;  // data-out (empty: none)
    std::uint32_t alloc = 0;        // data-in room
};

struct ProbeResult {
    std::uint8_t status = 0xff;
    bool probe_ran = false;        // the probe completed within 2 s, inside the callback
    std::thread::id completed_on;  // the thread that completed the command
};

class CompletionProbeTest : public EngineTest {
protected:
    ProbeResult send_and_probe(const ProbedCommand& c, const ProbedCommand& probe, std::uint16_t lun = 0) {
        using namespace std::chrono_literals;
        Command cmd;
        cmd.nexus = nexus;
        cmd.lun = encode_sam_lun(lun);
        std::memcpy(cmd.cdb.data(), c.cdb.data(), c.cdb.size());
        cmd.cdb_len = static_cast<std::uint8_t>(c.cdb.size());
        cmd.dir = !c.out.empty() ? DataDirection::write : c.alloc ? DataDirection::read : DataDirection::none;
        std::vector<std::uint8_t> buf = c.out.empty() ? std::vector<std::uint8_t>(c.alloc) : c.out;
        cmd.expected_length = static_cast<std::uint32_t>(buf.size());
        cmd.data = std::as_writable_bytes(std::span(buf));
        ProbeResult r;
        std::promise<void> completed;
        std::future<Reply> probing;
        adapter->submit(cmd, [&](const Completion& comp) {
            r.completed_on = std::this_thread::get_id();
            r.status = comp.status;
            probing = std::async(std::launch::async,
                                 [&] { return send_cdb(probe.cdb, lun, probe.alloc, probe.out); });
            r.probe_ran = probing.wait_for(2s) == std::future_status::ready;
            completed.set_value();
        });
        if (completed.get_future().wait_for(10s) != std::future_status::ready) {
            ADD_FAILURE() << "command did not complete";
            std::abort();  // its callback refers to this frame
        }
        probing.wait();
        return r;
    }
};

}  // namespace vstor::test
