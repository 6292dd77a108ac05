// Command submission and completion: what a front end hands the adapter and gets back.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#pragma GCC visibility push(default)  // the public API: exported from libvstor.so

namespace vstor {

struct DataView;  // backend.hpp

enum class DataDirection : std::uint8_t { none, read /* data-in */, write /* data-out */ };
enum class TaskAttribute : std::uint8_t { simple, ordered, head_of_queue, aca };

namespace scsi_status {
inline constexpr std::uint8_t good = 0x00;
inline constexpr std::uint8_t check_condition = 0x02;
inline constexpr std::uint8_t condition_met = 0x04;
inline constexpr std::uint8_t busy = 0x08;
inline constexpr std::uint8_t reservation_conflict = 0x18;
inline constexpr std::uint8_t task_set_full = 0x28;
inline constexpr std::uint8_t aca_active = 0x30;
inline constexpr std::uint8_t task_aborted = 0x40;
}  // namespace scsi_status

class Nexus;  // an I_T nexus opened on the adapter (see adapter.hpp)

struct Command {
    std::shared_ptr<Nexus> nexus;        // who sends it (initiator port + target port)
    std::uint64_t lun = 0;               // SAM 8-byte LUN, as on the wire (big-endian order in u64)
    std::array<std::uint8_t, 32> cdb{};  // CDB bytes
    std::uint8_t cdb_len = 0;
    std::uint64_t tag = 0;               // task tag (ITT in iSCSI)
    TaskAttribute attr = TaskAttribute::simple;
    DataDirection dir = DataDirection::none;
    std::uint32_t expected_length = 0;   // initiator's expected transfer length in bytes
    // For writes: the data-out bytes (expected_length of them). For reads: where data-in goes
    // (expected_length bytes of room). Owned by the front end until completion.
    std::span<std::byte> data;
    // The front end can send data-in from memory the backend lends (Completion::data_view) and
    // keeps that memory's owner until it is sent (NBD and iSCSI reads of 64 KiB and more). The
    // data is read when it is sent, after the completion: so the task stays in its LU's task
    // set until the last copy of the view is let go, and a later ORDERED task (a write to the
    // same blocks) starts only then. Let go of it as soon as the data is in the socket, and
    // without waiting for anything: task management no longer waits for such a task (it has
    // completed), but ORDERED tasks behind it do.
    bool accept_data_view = false;
};

struct Completion {
    std::uint8_t status = scsi_status::good;
    std::uint8_t sense_len = 0;
    std::array<std::uint8_t, 252> sense{};
    std::uint32_t data_in_len = 0;  // bytes of data-in written to Command::data
    // SAM residual: >0 underflow (fewer bytes moved than expected), <0 overflow (more needed).
    std::int64_t residual = 0;
    // The task was aborted by a task management function of its own initiator: the front end
    // sends no response for it (SAM-5 7.2). Aborts by another initiator with TAS=1 arrive instead
    // as status TASK ABORTED.
    bool aborted = false;
    // Set only if Command::accept_data_view: the data_in_len bytes of data-in are these pieces,
    // not Command::data. Hold it until they are sent, then let go of every copy: the task
    // leaves its task set when the last one goes (see accept_data_view).
    std::shared_ptr<const DataView> data_view;

    std::span<const std::uint8_t> sense_bytes() const { return {sense.data(), sense_len}; }
};

using CompletionCallback = std::function<void(const Completion&)>;

// Task management functions (SAM-5 7).
enum class TmfFunction : std::uint8_t {
    abort_task,
    abort_task_set,
    clear_task_set,
    clear_aca,
    lun_reset,
    i_t_nexus_reset,
    target_warm_reset,
    target_cold_reset,
    query_task,
};

enum class TmfResponse : std::uint8_t {
    complete,
    succeeded,
    rejected,
    incorrect_lun,
    task_not_exist,
    not_supported,
};

using TmfCallback = std::function<void(TmfResponse)>;

struct TmfRequest {
    std::shared_ptr<Nexus> nexus;
    TmfFunction function = TmfFunction::abort_task;
    std::uint64_t lun = 0;
    std::uint64_t referenced_tag = 0;  // for abort_task / query_task
};

}  // namespace vstor

#pragma GCC visibility pop
