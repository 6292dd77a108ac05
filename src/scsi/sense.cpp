// The named sense conditions and the IoStatus mapping.
#include "scsi/sense.hpp"

namespace vstor::scsi {
namespace sense {
namespace {
Sense make(std::uint8_t key, std::uint8_t asc, std::uint8_t ascq) {
    Sense s;
    s.key = key;
    s.asc = asc;
    s.ascq = ascq;
    return s;
}
Sense with_pointer(Sense s, bool in_cdb, std::uint16_t byte, std::optional<std::uint8_t> bit) {
    s.has_field_pointer = true;
    s.in_cdb = in_cdb;
    s.field_byte = byte;
    s.bit_valid = bit.has_value();
    s.bit = bit.value_or(0);
    return s;
}
}  // namespace

using namespace sense_key;
Sense invalid_opcode() { return make(illegal_request, 0x20, 0x00); }
Sense invalid_field_in_cdb(std::uint16_t byte, std::optional<std::uint8_t> bit) {
    return with_pointer(make(illegal_request, 0x24, 0x00), true, byte, bit);
}
Sense invalid_field_in_param(std::uint16_t byte, std::optional<std::uint8_t> bit) {
    return with_pointer(make(illegal_request, 0x26, 0x00), false, byte, bit);
}
Sense param_list_length_error() { return make(illegal_request, 0x1a, 0x00); }
Sense invalid_field_in_information_unit() { return make(illegal_request, 0x0e, 0x03); }
Sense lba_out_of_range() { return make(illegal_request, 0x21, 0x00); }
Sense invalid_lun() { return make(illegal_request, 0x25, 0x00); }
Sense write_protected() { return make(data_protect, 0x27, 0x00); }
Sense medium_not_present() { return make(not_ready, 0x3a, 0x00); }
Sense not_ready_sanitize_in_progress(std::uint16_t progress) {
    Sense s = make(not_ready, 0x04, 0x1b);
    s.progress = progress;
    return s;
}
Sense not_ready_alua_transition() { return make(not_ready, 0x04, 0x0a); }
Sense not_ready_alua_unavailable() { return make(not_ready, 0x04, 0x0c); }
Sense medium_removal_prevented() { return make(illegal_request, 0x53, 0x02); }
Sense unrecovered_read_error() { return make(medium_error, 0x11, 0x00); }
Sense write_error() { return make(medium_error, 0x0c, 0x00); }
Sense space_allocation_failed() { return make(data_protect, 0x27, 0x07); }
Sense miscompare_during_verify(std::uint64_t offset) {
    Sense s = make(miscompare, 0x1d, 0x00);
    s.information = offset;
    return s;
}
Sense aborted_command() { return make(sense_key::aborted_command, 0x00, 0x00); }
Sense data_phase_error() { return make(sense_key::aborted_command, 0x4b, 0x00); }
Sense internal_target_failure() { return make(hardware_error, 0x44, 0x00); }
Sense saving_parameters_not_supported() { return make(illegal_request, 0x39, 0x00); }
Sense invalid_release_of_persistent_reservation() { return make(illegal_request, 0x26, 0x04); }
Sense too_many_segment_descriptors() { return make(illegal_request, 0x26, 0x08); }
Sense too_many_target_descriptors() { return make(illegal_request, 0x26, 0x06); }
Sense unsupported_segment_descriptor_type() { return make(illegal_request, 0x26, 0x09); }
Sense unsupported_target_descriptor_type() { return make(illegal_request, 0x26, 0x07); }
Sense sanitize_failed() { return make(sense_key::medium_error, 0x31, 0x03); }
Sense ua_power_on_reset() { return make(unit_attention, 0x29, 0x00); }
Sense ua_lun_reset() { return make(unit_attention, 0x29, 0x03); }
Sense ua_i_t_nexus_loss() { return make(unit_attention, 0x29, 0x07); }
Sense ua_capacity_changed() { return make(unit_attention, 0x2a, 0x09); }
Sense ua_mode_parameters_changed() { return make(unit_attention, 0x2a, 0x01); }
Sense ua_reservations_preempted() { return make(unit_attention, 0x2a, 0x03); }
Sense ua_reservations_released() { return make(unit_attention, 0x2a, 0x04); }
Sense ua_registrations_preempted() { return make(unit_attention, 0x2a, 0x05); }
// SPC-5 5.16.2.7: on every I_T nexus of the LU when an implicit transition changes a port group's state.
Sense ua_asymmetric_access_state_changed() { return make(unit_attention, 0x2a, 0x06); }
Sense ua_reported_luns_changed() { return make(unit_attention, 0x3f, 0x0e); }
Sense ua_medium_may_have_changed() { return make(unit_attention, 0x28, 0x00); }
Sense ua_commands_cleared_by_another_initiator() { return make(unit_attention, 0x2f, 0x00); }

Sense from_io_status(IoStatus s, bool is_write) {
    switch (s) {
        case IoStatus::ok: return make(no_sense, 0, 0);
        case IoStatus::medium_error: return is_write ? write_error() : unrecovered_read_error();
        case IoStatus::out_of_range: return lba_out_of_range();
        case IoStatus::no_space: return space_allocation_failed();
        case IoStatus::read_only: return write_protected();
        case IoStatus::not_supported: return invalid_opcode();
        case IoStatus::not_ready: return medium_not_present();
        case IoStatus::aborted: return aborted_command();
        case IoStatus::invalid_field: return make(illegal_request, 0x24, 0x00);
        case IoStatus::no_resources: return make(sense_key::aborted_command, 0x55, 0x03);  // retryable
        case IoStatus::transitioning: return not_ready_alua_transition();  // retryable, 04h/0Ah
    }
    return internal_target_failure();
}
}  // namespace sense

}  // namespace vstor::scsi
