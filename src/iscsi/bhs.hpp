// Typed views of the 48-byte Basic Header Segment, one per PDU type (RFC 7143 11.2-11.17):
// named getters and setters at the RFC's offsets, big-endian, over bytes owned elsewhere (a
// Pdu's header, a receive buffer). A view is one pointer and every accessor is inline, so
// using a view costs what a hand-written load_be32(&bhs[24]) did.
//
// `View<std::uint8_t>` reads and writes; `View<const std::uint8_t>` only reads (its setters do
// not exist). Pdu::as<View>() and Pdu::start<View>() (pdu.hpp) make them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "util/endian.hpp"

namespace vstor::iscsi {

inline constexpr std::size_t kBhsLength = 48;

namespace op {
// Initiator opcodes.
inline constexpr std::uint8_t nop_out = 0x00;
inline constexpr std::uint8_t scsi_command = 0x01;
inline constexpr std::uint8_t tmf_request = 0x02;
inline constexpr std::uint8_t login_request = 0x03;
inline constexpr std::uint8_t text_request = 0x04;
inline constexpr std::uint8_t data_out = 0x05;
inline constexpr std::uint8_t logout_request = 0x06;
inline constexpr std::uint8_t snack = 0x10;
// Target opcodes.
inline constexpr std::uint8_t nop_in = 0x20;
inline constexpr std::uint8_t scsi_response = 0x21;
inline constexpr std::uint8_t tmf_response = 0x22;
inline constexpr std::uint8_t login_response = 0x23;
inline constexpr std::uint8_t text_response = 0x24;
inline constexpr std::uint8_t data_in = 0x25;
inline constexpr std::uint8_t logout_response = 0x26;
inline constexpr std::uint8_t r2t = 0x31;
inline constexpr std::uint8_t async_message = 0x32;
inline constexpr std::uint8_t reject = 0x3f;
}  // namespace op

// What every BHS has (RFC 7143 11.2.1): opcode and I bit, the F bit, the lengths, the
// LUN-or-opcode-specific field and the Initiator Task Tag.
template <class Byte>
class Bhs {
    static_assert(std::is_same_v<std::remove_const_t<Byte>, std::uint8_t>);

public:
    static constexpr bool kWritable = !std::is_const_v<Byte>;

    explicit Bhs(Byte* bytes) : b_(bytes) {}
    Byte* bytes() const { return b_; }

    std::uint8_t opcode() const { return b_[0] & 0x3f; }
    bool immediate() const { return b_[0] & 0x40; }
    bool final_bit() const { return b_[1] & 0x80; }
    std::size_t total_ahs_length() const { return std::size_t{b_[4]} * 4; }  // in bytes
    std::uint32_t data_segment_length() const { return util::load_be24(b_ + 5); }
    std::uint64_t lun() const { return util::load_be64(b_ + 8); }
    std::uint32_t itt() const { return util::load_be32(b_ + 16); }

    void set_opcode(std::uint8_t code, bool immediate = false) const requires kWritable {
        b_[0] = static_cast<std::uint8_t>((code & 0x3f) | (immediate ? 0x40 : 0));
    }
    void set_final(bool f) const requires kWritable { set_bit(1, 0x80, f); }
    void set_total_ahs_length(std::size_t bytes) const requires kWritable {
        b_[4] = static_cast<std::uint8_t>(bytes / 4);
    }
    void set_data_segment_length(std::uint32_t n) const requires kWritable { util::store_be24(b_ + 5, n); }
    void set_lun(std::uint64_t v) const requires kWritable { util::store_be64(b_ + 8, v); }
    void set_itt(std::uint32_t v) const requires kWritable { util::store_be32(b_ + 16, v); }

protected:
    bool bit(std::size_t off, std::uint8_t mask) const { return b_[off] & mask; }
    std::uint8_t u8(std::size_t off) const { return b_[off]; }
    std::uint16_t u16(std::size_t off) const { return util::load_be16(b_ + off); }
    std::uint32_t u32(std::size_t off) const { return util::load_be32(b_ + off); }
    void set_bit(std::size_t off, std::uint8_t mask, bool on) const requires kWritable {
        b_[off] = static_cast<std::uint8_t>(on ? (b_[off] | mask) : (b_[off] & ~mask));
    }
    void set_u8(std::size_t off, std::uint8_t v) const requires kWritable { b_[off] = v; }
    void set_u16(std::size_t off, std::uint16_t v) const requires kWritable { util::store_be16(b_ + off, v); }
    void set_u32(std::size_t off, std::uint32_t v) const requires kWritable { util::store_be32(b_ + off, v); }

private:
    Byte* b_;
};

// Initiator PDUs that carry CmdSN and ExpStatSN at 24 and 28.
template <class Byte>
class RequestBhs : public Bhs<Byte> {
public:
    explicit RequestBhs(Byte* bytes) : Bhs<Byte>(bytes) {}
    std::uint32_t cmdsn() const { return this->u32(24); }
    std::uint32_t exp_statsn() const { return this->u32(28); }
    void set_cmdsn(std::uint32_t v) const requires Bhs<Byte>::kWritable { this->set_u32(24, v); }
    void set_exp_statsn(std::uint32_t v) const requires Bhs<Byte>::kWritable { this->set_u32(28, v); }
};

// Target PDUs: StatSN, ExpCmdSN and MaxCmdSN at 24, 28 and 32.
template <class Byte>
class ResponseBhs : public Bhs<Byte> {
public:
    explicit ResponseBhs(Byte* bytes) : Bhs<Byte>(bytes) {}
    std::uint32_t statsn() const { return this->u32(24); }
    std::uint32_t exp_cmdsn() const { return this->u32(28); }
    std::uint32_t max_cmdsn() const { return this->u32(32); }
    void set_statsn(std::uint32_t v) const requires Bhs<Byte>::kWritable { this->set_u32(24, v); }
    void set_exp_cmdsn(std::uint32_t v) const requires Bhs<Byte>::kWritable { this->set_u32(28, v); }
    void set_max_cmdsn(std::uint32_t v) const requires Bhs<Byte>::kWritable { this->set_u32(32, v); }
};

#define VSTOR_BHS_VIEW(Name, Base, op_code)                  \
public:                                                      \
    static constexpr std::uint8_t kOpcode = op_code;         \
    explicit Name(Byte* bytes) : Base<Byte>(bytes) {}        \
                                                             \
private:                                                     \
    static constexpr bool W = Bhs<Byte>::kWritable;          \
                                                             \
public:

// NOP-Out (11.18): a ping, or the answer to a NOP-In (Target Transfer Tag echoed).
template <class Byte>
class NopOutBhs : public RequestBhs<Byte> {
    VSTOR_BHS_VIEW(NopOutBhs, RequestBhs, op::nop_out)
    std::uint32_t ttt() const { return this->u32(20); }
    void set_ttt(std::uint32_t v) const requires W { this->set_u32(20, v); }
};

// NOP-In (11.19).
template <class Byte>
class NopInBhs : public ResponseBhs<Byte> {
    VSTOR_BHS_VIEW(NopInBhs, ResponseBhs, op::nop_in)
    std::uint32_t ttt() const { return this->u32(20); }
    void set_ttt(std::uint32_t v) const requires W { this->set_u32(20, v); }
};

// SCSI Command (11.3): flags R/W/ATTR at byte 1, the CDB at 32..47.
template <class Byte>
class ScsiCommandBhs : public RequestBhs<Byte> {
    VSTOR_BHS_VIEW(ScsiCommandBhs, RequestBhs, op::scsi_command)
    static constexpr std::size_t kCdbOffset = 32, kCdbLength = 16;
    bool read() const { return this->bit(1, 0x40); }
    bool write() const { return this->bit(1, 0x20); }
    std::uint8_t task_attribute() const { return this->u8(1) & 0x07; }
    std::uint32_t expected_data_transfer_length() const { return this->u32(20); }
    const std::uint8_t* cdb() const { return this->bytes() + kCdbOffset; }
    void set_read(bool v) const requires W { this->set_bit(1, 0x40, v); }
    void set_write(bool v) const requires W { this->set_bit(1, 0x20, v); }
    void set_task_attribute(std::uint8_t a) const requires W {
        this->set_u8(1, static_cast<std::uint8_t>((this->u8(1) & ~0x07) | (a & 0x07)));
    }
    void set_expected_data_transfer_length(std::uint32_t v) const requires W { this->set_u32(20, v); }
    void set_cdb(const std::uint8_t* cdb, std::size_t n) const requires W {
        std::memset(this->bytes() + kCdbOffset, 0, kCdbLength);
        std::memcpy(this->bytes() + kCdbOffset, cdb, n < kCdbLength ? n : kCdbLength);
    }
};

// SCSI Response (11.4): residual flags at byte 1, response and status at 2 and 3.
template <class Byte>
class ScsiResponseBhs : public ResponseBhs<Byte> {
    VSTOR_BHS_VIEW(ScsiResponseBhs, ResponseBhs, op::scsi_response)
    bool residual_overflow() const { return this->bit(1, 0x04); }   // O
    bool residual_underflow() const { return this->bit(1, 0x02); }  // U
    std::uint8_t response() const { return this->u8(2); }
    std::uint8_t status() const { return this->u8(3); }
    std::uint32_t exp_datasn() const { return this->u32(36); }
    std::uint32_t residual_count() const { return this->u32(44); }
    void set_residual_overflow(bool v) const requires W { this->set_bit(1, 0x04, v); }
    void set_residual_underflow(bool v) const requires W { this->set_bit(1, 0x02, v); }
    void set_response(std::uint8_t v) const requires W { this->set_u8(2, v); }
    void set_status(std::uint8_t v) const requires W { this->set_u8(3, v); }
    void set_exp_datasn(std::uint32_t v) const requires W { this->set_u32(36, v); }
    void set_residual_count(std::uint32_t v) const requires W { this->set_u32(44, v); }
};

// Task Management Function Request (11.5).
template <class Byte>
class TmfRequestBhs : public RequestBhs<Byte> {
    VSTOR_BHS_VIEW(TmfRequestBhs, RequestBhs, op::tmf_request)
    std::uint8_t function() const { return this->u8(1) & 0x7f; }
    std::uint32_t referenced_task_tag() const { return this->u32(20); }
    std::uint32_t ref_cmdsn() const { return this->u32(32); }
    std::uint32_t exp_datasn() const { return this->u32(36); }
    void set_function(std::uint8_t f) const requires W { this->set_u8(1, static_cast<std::uint8_t>(0x80 | (f & 0x7f))); }
    void set_referenced_task_tag(std::uint32_t v) const requires W { this->set_u32(20, v); }
    void set_ref_cmdsn(std::uint32_t v) const requires W { this->set_u32(32, v); }
    void set_exp_datasn(std::uint32_t v) const requires W { this->set_u32(36, v); }
};

// Task Management Function Response (11.6).
template <class Byte>
class TmfResponseBhs : public ResponseBhs<Byte> {
    VSTOR_BHS_VIEW(TmfResponseBhs, ResponseBhs, op::tmf_response)
    std::uint8_t response() const { return this->u8(2); }
    void set_response(std::uint8_t v) const requires W { this->set_u8(2, v); }
};

// Login Request and Response share the stage byte, the ISID and the TSIH (11.12, 11.13).
template <class Byte, template <class> class Base>
class LoginBhs : public Base<Byte> {
public:
    explicit LoginBhs(Byte* bytes) : Base<Byte>(bytes) {}
    static constexpr std::size_t kIsidLength = 6;
    bool transit() const { return this->bit(1, 0x80); }
    bool continue_bit() const { return this->bit(1, 0x40); }
    std::uint8_t csg() const { return (this->u8(1) >> 2) & 3; }
    std::uint8_t nsg() const { return this->u8(1) & 3; }
    std::uint8_t version_max() const { return this->u8(2); }
    const std::uint8_t* isid() const { return this->bytes() + 8; }
    std::uint16_t tsih() const { return this->u16(14); }
    void set_stages(bool transit, bool cont, std::uint8_t csg, std::uint8_t nsg) const
        requires Bhs<Byte>::kWritable {
        this->set_u8(1, static_cast<std::uint8_t>((transit ? 0x80 : 0) | (cont ? 0x40 : 0) | ((csg & 3) << 2) |
                                                  (transit ? (nsg & 3) : 0)));
    }
    void set_version_max(std::uint8_t v) const requires Bhs<Byte>::kWritable { this->set_u8(2, v); }
    void set_isid(const std::uint8_t* isid) const requires Bhs<Byte>::kWritable {
        std::memcpy(this->bytes() + 8, isid, kIsidLength);
    }
    void set_tsih(std::uint16_t v) const requires Bhs<Byte>::kWritable { this->set_u16(14, v); }
};

template <class Byte>
class LoginRequestBhs : public LoginBhs<Byte, RequestBhs> {
public:
    static constexpr std::uint8_t kOpcode = op::login_request;
    explicit LoginRequestBhs(Byte* bytes) : LoginBhs<Byte, RequestBhs>(bytes) {}
    std::uint8_t version_min() const { return this->u8(3); }
    std::uint16_t cid() const { return this->u16(20); }
    void set_version_min(std::uint8_t v) const requires Bhs<Byte>::kWritable { this->set_u8(3, v); }
    void set_cid(std::uint16_t v) const requires Bhs<Byte>::kWritable { this->set_u16(20, v); }
};

template <class Byte>
class LoginResponseBhs : public LoginBhs<Byte, ResponseBhs> {
public:
    static constexpr std::uint8_t kOpcode = op::login_response;
    explicit LoginResponseBhs(Byte* bytes) : LoginBhs<Byte, ResponseBhs>(bytes) {}
    std::uint8_t version_active() const { return this->u8(3); }
    // Status-Class and Status-Detail (36, 37) as one number, e.g. 0x0201.
    std::uint16_t status() const { return this->u16(36); }
    void set_version_active(std::uint8_t v) const requires Bhs<Byte>::kWritable { this->set_u8(3, v); }
    void set_status(std::uint16_t v) const requires Bhs<Byte>::kWritable { this->set_u16(36, v); }
};

// Text Request and Response (11.10, 11.11): F and C bits, Target Transfer Tag.
template <class Byte>
class TextRequestBhs : public RequestBhs<Byte> {
    VSTOR_BHS_VIEW(TextRequestBhs, RequestBhs, op::text_request)
    bool continue_bit() const { return this->bit(1, 0x40); }
    std::uint32_t ttt() const { return this->u32(20); }
    void set_continue(bool v) const requires W { this->set_bit(1, 0x40, v); }
    void set_ttt(std::uint32_t v) const requires W { this->set_u32(20, v); }
};

template <class Byte>
class TextResponseBhs : public ResponseBhs<Byte> {
    VSTOR_BHS_VIEW(TextResponseBhs, ResponseBhs, op::text_response)
    bool continue_bit() const { return this->bit(1, 0x40); }
    std::uint32_t ttt() const { return this->u32(20); }
    void set_continue(bool v) const requires W { this->set_bit(1, 0x40, v); }
    void set_ttt(std::uint32_t v) const requires W { this->set_u32(20, v); }
};

// SCSI Data-Out (11.7.1): no CmdSN (24 is reserved), ExpStatSN at 28.
template <class Byte>
class DataOutBhs : public Bhs<Byte> {
    VSTOR_BHS_VIEW(DataOutBhs, Bhs, op::data_out)
    std::uint32_t ttt() const { return this->u32(20); }
    std::uint32_t exp_statsn() const { return this->u32(28); }
    std::uint32_t datasn() const { return this->u32(36); }
    std::uint32_t buffer_offset() const { return this->u32(40); }
    void set_ttt(std::uint32_t v) const requires W { this->set_u32(20, v); }
    void set_exp_statsn(std::uint32_t v) const requires W { this->set_u32(28, v); }
    void set_datasn(std::uint32_t v) const requires W { this->set_u32(36, v); }
    void set_buffer_offset(std::uint32_t v) const requires W { this->set_u32(40, v); }
};

// SCSI Data-In (11.7.1): S (status here), O, U, and with S the status and residual.
template <class Byte>
class DataInBhs : public ResponseBhs<Byte> {
    VSTOR_BHS_VIEW(DataInBhs, ResponseBhs, op::data_in)
    bool status_present() const { return this->bit(1, 0x01); }  // S
    bool residual_overflow() const { return this->bit(1, 0x04); }
    bool residual_underflow() const { return this->bit(1, 0x02); }
    std::uint8_t status() const { return this->u8(3); }
    std::uint32_t ttt() const { return this->u32(20); }
    std::uint32_t datasn() const { return this->u32(36); }
    std::uint32_t buffer_offset() const { return this->u32(40); }
    std::uint32_t residual_count() const { return this->u32(44); }
    void set_status_present(bool v) const requires W { this->set_bit(1, 0x01, v); }
    void set_residual_overflow(bool v) const requires W { this->set_bit(1, 0x04, v); }
    void set_residual_underflow(bool v) const requires W { this->set_bit(1, 0x02, v); }
    void set_status(std::uint8_t v) const requires W { this->set_u8(3, v); }
    void set_ttt(std::uint32_t v) const requires W { this->set_u32(20, v); }
    void set_datasn(std::uint32_t v) const requires W { this->set_u32(36, v); }
    void set_buffer_offset(std::uint32_t v) const requires W { this->set_u32(40, v); }
    void set_residual_count(std::uint32_t v) const requires W { this->set_u32(44, v); }
};

// Logout Request (11.14) and Response (11.15).
template <class Byte>
class LogoutRequestBhs : public RequestBhs<Byte> {
    VSTOR_BHS_VIEW(LogoutRequestBhs, RequestBhs, op::logout_request)
    std::uint8_t reason() const { return this->u8(1) & 0x7f; }
    std::uint16_t cid() const { return this->u16(20); }
    void set_reason(std::uint8_t r) const requires W { this->set_u8(1, static_cast<std::uint8_t>(0x80 | (r & 0x7f))); }
    void set_cid(std::uint16_t v) const requires W { this->set_u16(20, v); }
};

template <class Byte>
class LogoutResponseBhs : public ResponseBhs<Byte> {
    VSTOR_BHS_VIEW(LogoutResponseBhs, ResponseBhs, op::logout_response)
    std::uint8_t response() const { return this->u8(2); }
    std::uint16_t time2wait() const { return this->u16(40); }
    std::uint16_t time2retain() const { return this->u16(42); }
    void set_response(std::uint8_t v) const requires W { this->set_u8(2, v); }
    void set_time2wait(std::uint16_t v) const requires W { this->set_u16(40, v); }
    void set_time2retain(std::uint16_t v) const requires W { this->set_u16(42, v); }
};

// Ready To Transfer (11.8).
template <class Byte>
class R2tBhs : public ResponseBhs<Byte> {
    VSTOR_BHS_VIEW(R2tBhs, ResponseBhs, op::r2t)
    std::uint32_t ttt() const { return this->u32(20); }
    std::uint32_t r2tsn() const { return this->u32(36); }
    std::uint32_t buffer_offset() const { return this->u32(40); }
    std::uint32_t desired_data_transfer_length() const { return this->u32(44); }
    void set_ttt(std::uint32_t v) const requires W { this->set_u32(20, v); }
    void set_r2tsn(std::uint32_t v) const requires W { this->set_u32(36, v); }
    void set_buffer_offset(std::uint32_t v) const requires W { this->set_u32(40, v); }
    void set_desired_data_transfer_length(std::uint32_t v) const requires W { this->set_u32(44, v); }
};

// Asynchronous Message (11.9).
template <class Byte>
class AsyncMessageBhs : public ResponseBhs<Byte> {
    VSTOR_BHS_VIEW(AsyncMessageBhs, ResponseBhs, op::async_message)
    std::uint8_t async_event() const { return this->u8(36); }
    std::uint8_t async_vcode() const { return this->u8(37); }
    std::uint16_t parameter1() const { return this->u16(38); }
    std::uint16_t parameter2() const { return this->u16(40); }
    std::uint16_t parameter3() const { return this->u16(42); }
    void set_async_event(std::uint8_t v) const requires W { this->set_u8(36, v); }
    void set_async_vcode(std::uint8_t v) const requires W { this->set_u8(37, v); }
    void set_parameter1(std::uint16_t v) const requires W { this->set_u16(38, v); }
    void set_parameter2(std::uint16_t v) const requires W { this->set_u16(40, v); }
    void set_parameter3(std::uint16_t v) const requires W { this->set_u16(42, v); }
};

// Reject (11.17): the reason at byte 2; the rejected header travels as the data segment.
template <class Byte>
class RejectBhs : public ResponseBhs<Byte> {
    VSTOR_BHS_VIEW(RejectBhs, ResponseBhs, op::reject)
    std::uint8_t reason() const { return this->u8(2); }
    std::uint32_t datasn() const { return this->u32(36); }  // DataSN/R2TSN
    void set_reason(std::uint8_t v) const requires W { this->set_u8(2, v); }
    void set_datasn(std::uint32_t v) const requires W { this->set_u32(36, v); }
};

#undef VSTOR_BHS_VIEW

}  // namespace vstor::iscsi
