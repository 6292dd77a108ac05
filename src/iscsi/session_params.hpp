// Negotiated session and connection parameters (RFC 7143 13) with their defaults.
#pragma once

#include <cstdint>

namespace vstor::iscsi {

struct SessionParams {
    bool header_digest = false;
    bool data_digest = false;
    std::uint32_t max_connections = 1;
    bool initial_r2t = true;
    bool immediate_data = true;
    std::uint32_t max_recv_data_segment_length_target = 262144;  // what the target accepts
    std::uint32_t max_recv_data_segment_length_initiator = 8192; // what the target may send
    std::uint32_t max_burst_length = 262144;
    std::uint32_t first_burst_length = 65536;
    std::uint32_t default_time2wait = 2;
    std::uint32_t default_time2retain = 20;
    std::uint32_t max_outstanding_r2t = 1;
    bool data_pdu_in_order = true;
    bool data_sequence_in_order = true;
    std::uint32_t error_recovery_level = 0;
};

// What this target offers when it gets to choose.
struct TargetLimits {
    static constexpr std::uint32_t max_connections = 8;
    static constexpr std::uint32_t max_recv_data_segment_length = 262144;
    static constexpr std::uint32_t max_burst_length = 16u << 20;
    // Unsolicited data (immediate, or Data-Out before an R2T with InitialR2T=No) reaches the
    // target before it can say no: it is what the write budget cannot hold back, so it is kept
    // at open-iscsi's default (LIO offers 64 KiB). 128 commands x 256 KiB = 32 MiB per session.
    static constexpr std::uint32_t first_burst_length = 256u << 10;
    static constexpr std::uint32_t max_outstanding_r2t = 16;
    static constexpr std::uint32_t cmd_window = 128;  // CmdSN window: queue depth per session
};

}  // namespace vstor::iscsi
