// One NBD request as the SCSI commands that carry it out (nbd/scsi_translate.hpp builds each
// CDB): READ, WRITE, FLUSH, CACHE and BLOCK_STATUS are one command; TRIM and WRITE_ZEROES are
// as many UNMAP / WRITE SAME(16) commands as the LUN's Block Limits need, then SYNCHRONIZE
// CACHE when FUA was asked. The plan keeps the request, the command in flight, its position in
// the sequence and the final NBD error; the connection only submits what it says and sends the
// answer it ends with. No I/O and no threads: unit tests drive it with completions of their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nbd/request.hpp"
#include "nbd/scsi_translate.hpp"
#include "vstor/command.hpp"

namespace vstor::nbd {

// What every request on a connection shares: the export and the LUN's limits.
struct PlanContext {
    ExportLimits limits;
    BlockLimits block_limits;           // from the Block Limits VPD probe (defaults until then)
    std::vector<std::byte> zero_block;  // one logical block of zeroes: WRITE SAME's data-out
    std::string peer;                   // for logs
    // Large reads may be sent from memory the LUN lends. Not under TLS: the encryption reads it
    // in user space, where a lent file page truncated under the send is SIGBUS, not EFAULT.
    bool lend = true;
};

// What the connection does next.
enum class Step : std::uint8_t {
    submit,         // submit command(), then call complete() with its completion
    reply_ok,       // success without data
    reply_read,     // success with request().length bytes: buffer(), or the data the LUN lent
    reply_extents,  // a base:allocation BLOCK_STATUS chunk of extents()
    reply_error,    // error() (why(): for the log and a structured error's message)
    probed,         // the Block Limits probe ended: probed_limits()
};

class TransmissionPlan {
public:
    // Makes a pooled plan ready for its next request, `h` (already validated).
    void reset(const RequestHeader& h);

    // Starts the request. A WRITE's payload (request length bytes) is in buffer() by now.
    // `ctx` outlives the request (WRITE SAME commands point at its zero block).
    Step begin(PlanContext& ctx);
    // The request is refused before any command ran (nbd/request.hpp validate()).
    Step refuse(std::uint32_t error, const char* why);
    // INQUIRY for the Block Limits VPD page, which the connection asks before serving.
    Step begin_probe(PlanContext& ctx);
    // The command submitted last completed.
    Step complete(const Completion& c);

    const RequestHeader& request() const { return h_; }
    Command& command() { return cmd_; }
    // Payload in, data-in out, UNMAP and GET LBA STATUS parameter data.
    std::vector<std::byte>& buffer() { return buf_; }
    std::uint32_t error() const { return error_; }
    const char* why() const { return why_; }
    std::span<const std::pair<std::uint32_t, std::uint32_t>> extents() const { return extents_; }
    // The LUN's limits if the probe succeeded; nullopt keeps the defaults.
    const std::optional<BlockLimits>& probed_limits() const { return probed_; }

private:
    Step next_step();  // TRIM / WRITE_ZEROES chunks, then a final flush for FUA
    Step fail(std::uint32_t error, const char* why);
    Step failed_command(const Completion& c, std::uint32_t error);
    Step extents_from(const Completion& c);

    PlanContext* ctx_ = nullptr;
    RequestHeader h_;
    Command cmd_;
    std::vector<std::byte> buf_;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> extents_;
    std::optional<BlockLimits> probed_;
    std::uint64_t next_lba_ = 0, remaining_ = 0, step_blocks_ = 0;
    std::uint32_t error_ = 0;
    const char* why_ = "";
    int retries_ = 0;
    bool probe_ = false;
    bool final_flush_ = false;  // TRIM/WRITE_ZEROES with FUA: SYNCHRONIZE CACHE at the end
    bool flushing_ = false;
};

}  // namespace vstor::nbd
