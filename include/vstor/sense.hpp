// SCSI sense data (SPC-5 4.4), in one public place: named conditions -> key/ASC/ASCQ, the fixed
// (70h/71h) and descriptor (72h/73h) format encoders, and one decoder that reads either format.
// Whoever reads a Completion's sense (front ends, the control plane, embedders) decodes it here
// instead of reading byte offsets: which format arrives depends on the LUN's D_SENSE bit, which
// any initiator may set with MODE SELECT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#pragma GCC visibility push(default)  // the public API: exported from libvstor.so

namespace vstor::scsi {

namespace sense_key {
inline constexpr std::uint8_t no_sense = 0x0;
inline constexpr std::uint8_t recovered_error = 0x1;
inline constexpr std::uint8_t not_ready = 0x2;
inline constexpr std::uint8_t medium_error = 0x3;
inline constexpr std::uint8_t hardware_error = 0x4;
inline constexpr std::uint8_t illegal_request = 0x5;
inline constexpr std::uint8_t unit_attention = 0x6;
inline constexpr std::uint8_t data_protect = 0x7;
inline constexpr std::uint8_t aborted_command = 0xb;
inline constexpr std::uint8_t miscompare = 0xe;
}  // namespace sense_key

struct Sense {
    std::uint8_t key = 0;
    std::uint8_t asc = 0;
    std::uint8_t ascq = 0;
    bool deferred = false;  // response code 71h/73h: the error belongs to an earlier command
    // Sense-key specific field pointer (SPC-5 4.4.2.4.2): byte/bit of the bad field.
    bool has_field_pointer = false;
    bool in_cdb = true;  // C/D bit: 1 = CDB, 0 = parameter list
    bool bit_valid = false;
    std::uint8_t bit = 0;
    std::uint16_t field_byte = 0;
    // INFORMATION field (e.g. miscompare offset, bad LBA).
    std::optional<std::uint64_t> information;
    // Progress indication (SANITIZE / FORMAT in progress), 0..65535 of 65536.
    std::optional<std::uint16_t> progress;

    bool is(std::uint8_t k, std::uint8_t a, std::uint8_t aq) const { return key == k && asc == a && ascq == aq; }
};

// Named conditions. Each returns the same key/ASC/ASCQ every time it is used.
namespace sense {
Sense invalid_opcode();                                   // 5/20/00
Sense invalid_field_in_cdb(std::uint16_t byte, std::optional<std::uint8_t> bit = std::nullopt);  // 5/24/00
Sense invalid_field_in_param(std::uint16_t byte, std::optional<std::uint8_t> bit = std::nullopt); // 5/26/00
Sense param_list_length_error();                          // 5/1A/00
Sense invalid_field_in_information_unit();                // 5/0E/03
Sense lba_out_of_range();                                 // 5/21/00
Sense invalid_lun();                                      // 5/25/00
Sense write_protected();                                  // 7/27/00
Sense medium_not_present();                               // 2/3A/00
Sense not_ready_sanitize_in_progress(std::uint16_t progress); // 2/04/1B
Sense not_ready_alua_transition();                        // 2/04/0A asymmetric access state transition
Sense not_ready_alua_unavailable();                       // 2/04/0C target port in unavailable state
Sense medium_removal_prevented();                         // 5/53/02
Sense unrecovered_read_error();                           // 3/11/00
Sense write_error();                                      // 3/0C/00
Sense space_allocation_failed();                          // 7/27/07
Sense miscompare_during_verify(std::uint64_t offset);     // E/1D/00 with INFORMATION
Sense aborted_command();                                  // B/00/00
Sense data_phase_error();                                 // B/4B/00
Sense internal_target_failure();                          // 4/44/00
Sense saving_parameters_not_supported();                  // 5/39/00
Sense invalid_release_of_persistent_reservation();        // 5/26/04
Sense too_many_segment_descriptors();                     // 5/26/08
Sense too_many_target_descriptors();                      // 5/26/06
Sense unsupported_segment_descriptor_type();              // 5/26/09
Sense unsupported_target_descriptor_type();               // 5/26/07
Sense sanitize_failed();                                  // 3/31/03
// Unit attentions.
Sense ua_power_on_reset();                                // 6/29/00
Sense ua_lun_reset();                                     // 6/29/03 BUS DEVICE RESET FUNCTION OCCURRED
Sense ua_i_t_nexus_loss();                                // 6/29/07
Sense ua_capacity_changed();                              // 6/2A/09
Sense ua_mode_parameters_changed();                       // 6/2A/01
Sense ua_reservations_preempted();                        // 6/2A/03
Sense ua_reservations_released();                         // 6/2A/04
Sense ua_registrations_preempted();                       // 6/2A/05
Sense ua_asymmetric_access_state_changed();               // 6/2A/06
Sense ua_reported_luns_changed();                         // 6/3F/0E
Sense ua_medium_may_have_changed();                       // 6/28/00
Sense ua_commands_cleared_by_another_initiator();         // 6/2F/00
}  // namespace sense

// Encoders. Return the number of bytes written (fixed: 18, descriptor: 8 + descriptors), at most `cap`.
std::uint8_t encode_fixed(const Sense& s, std::uint8_t* out, std::size_t cap);
std::uint8_t encode_descriptor(const Sense& s, std::uint8_t* out, std::size_t cap);

// Reads fixed or descriptor format sense: key/ASC/ASCQ, INFORMATION, and the sense-key specific
// field as a field pointer (ILLEGAL REQUEST) or a progress indication (NO SENSE, NOT READY).
// Fields that `bytes` is too short to hold read as absent (zero); nullopt if `bytes` is not sense
// data at all (empty, or a response code other than 70h-73h).
std::optional<Sense> decode_sense(std::span<const std::uint8_t> bytes);

}  // namespace vstor::scsi

#pragma GCC visibility pop
