// State of one SCSI command on a connection: its data buffer and the Data-Out/R2T bookkeeping.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "iscsi/connection.hpp"
#include "util/uninit_buffer.hpp"
#include "util/write_budget.hpp"

namespace vstor::iscsi {

inline constexpr std::uint32_t kMaxCommandBytes = 64u << 20;  // larger transfers are refused
// Reads this large are sent from the LUN's memory when its backend lends it (as NBD's are).
inline constexpr std::uint32_t kLendFrom = 64u << 10;

struct Connection::Cmd {
    struct R2t {
        std::uint32_t offset;
        std::uint32_t length;
        std::uint32_t received = 0;
        std::uint32_t next_datasn = 0;  // DataSN restarts at 0 for each R2T's sequence
    };
    std::uint32_t itt = 0;
    std::uint32_t cmdsn = 0;
    std::uint32_t edtl = 0;
    bool read = false;
    bool write = false;
    Command command;
    util::UninitBytes buffer;  // data-out being collected, or room for data-in (not zeroed)
    std::uint32_t received = 0;        // data-out bytes received so far
    std::uint32_t unsolicited_end = 0; // unsolicited Data-Out may fill [0, unsolicited_end)
    std::uint32_t r2t_next = 0;        // next offset to ask for with an R2T
    std::uint32_t r2tsn = 0;
    std::uint32_t unsolicited_datasn = 0;
    std::uint32_t data_pdus_sent = 0;  // R2Ts and Data-Ins, for ExpDataSN
    std::map<std::uint32_t, R2t> r2ts; // outstanding R2Ts by target transfer tag
    // Writes: the buffer's share of the write budget. Data that may come unasked (immediate,
    // unsolicited) is counted at once; the rest is granted before the first R2T goes out.
    util::WriteHold hold;
    bool granted = false;  // R2Ts may be sent
    bool submitted = false;
    bool dead = false;  // connection gone or task aborted: completion is dropped
    std::optional<Completion> done;  // one that arrived inside submit(), answered as it returns
};

}  // namespace vstor::iscsi
