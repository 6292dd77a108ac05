// The typed BHS views read and write the RFC 7143 offsets: for each PDU type, a header built by
// hand byte by byte is read back through the view, and the same header written through the
// view's setters into zeroed bytes comes out identical.
#include <gtest/gtest.h>

#include <array>
#include <initializer_list>
#include <type_traits>

#include "iscsi/bhs.hpp"
#include "iscsi/pdu.hpp"

namespace vstor::iscsi {
namespace {

using Bytes = std::array<std::uint8_t, kBhsLength>;
using R = const std::uint8_t;  // read-only views
using W = std::uint8_t;

struct Field {
    std::size_t off, width;
    std::uint64_t value;  // big-endian over `width` bytes
};

Bytes wire(std::initializer_list<Field> fields) {
    Bytes b{};
    for (const auto& f : fields)
        for (std::size_t i = 0; i < f.width; ++i)
            b[f.off + i] = static_cast<std::uint8_t>(f.value >> (8 * (f.width - 1 - i)));
    return b;
}

TEST(Bhs, CommonFields) {
    const Bytes w = wire({{0, 1, 0x40 | 0x05}, {1, 1, 0x80}, {4, 1, 3}, {5, 3, 0x012345}, {8, 8, 0x0102030405060708},
                          {16, 4, 0xdeadbeef}});
    const Bhs<R> r(w.data());
    EXPECT_EQ(r.opcode(), op::data_out);
    EXPECT_TRUE(r.immediate());
    EXPECT_TRUE(r.final_bit());
    EXPECT_EQ(r.total_ahs_length(), 12u);
    EXPECT_EQ(r.data_segment_length(), 0x012345u);
    EXPECT_EQ(r.lun(), 0x0102030405060708u);
    EXPECT_EQ(r.itt(), 0xdeadbeefu);
    Bytes b{};
    const Bhs<W> v(b.data());
    v.set_opcode(op::data_out, true);
    v.set_final(true);
    v.set_total_ahs_length(12);
    v.set_data_segment_length(0x012345);
    v.set_lun(0x0102030405060708);
    v.set_itt(0xdeadbeef);
    EXPECT_EQ(b, w);
    v.set_final(false);
    EXPECT_EQ(b[1], 0);
}

TEST(Bhs, ScsiCommand) {
    const Bytes w = wire({{0, 1, 0x41}, {1, 1, 0x80 | 0x40 | 0x20 | 0x02}, {8, 8, 0x0001000000000000}, {16, 4, 0x11},
                          {20, 4, 0x10000}, {24, 4, 7}, {28, 4, 9}, {32, 1, 0x28}, {34, 4, 0x00001000}, {47, 1, 0xee}});
    const ScsiCommandBhs<R> r(w.data());
    EXPECT_TRUE(r.read());
    EXPECT_TRUE(r.write());
    EXPECT_EQ(r.task_attribute(), 2);
    EXPECT_EQ(r.expected_data_transfer_length(), 0x10000u);
    EXPECT_EQ(r.cmdsn(), 7u);
    EXPECT_EQ(r.exp_statsn(), 9u);
    EXPECT_EQ(r.cdb()[0], 0x28);
    EXPECT_EQ(r.cdb()[15], 0xee);
    Bytes b{};
    const ScsiCommandBhs<W> v(b.data());
    v.set_opcode(ScsiCommandBhs<W>::kOpcode, true);
    v.set_final(true);
    v.set_read(true);
    v.set_write(true);
    v.set_task_attribute(2);
    v.set_lun(0x0001000000000000);
    v.set_itt(0x11);
    v.set_expected_data_transfer_length(0x10000);
    v.set_cmdsn(7);
    v.set_exp_statsn(9);
    v.set_cdb(r.cdb(), 16);
    EXPECT_EQ(b, w);
}

TEST(Bhs, ScsiResponse) {
    const Bytes w = wire({{0, 1, 0x21}, {1, 1, 0x80 | 0x02}, {2, 1, 0x01}, {3, 1, 0x02}, {16, 4, 0x11}, {24, 4, 100},
                          {28, 4, 200}, {32, 4, 327}, {36, 4, 5}, {44, 4, 512}});
    const ScsiResponseBhs<R> r(w.data());
    EXPECT_FALSE(r.residual_overflow());
    EXPECT_TRUE(r.residual_underflow());
    EXPECT_EQ(r.response(), 1);
    EXPECT_EQ(r.status(), 2);
    EXPECT_EQ(r.statsn(), 100u);
    EXPECT_EQ(r.exp_cmdsn(), 200u);
    EXPECT_EQ(r.max_cmdsn(), 327u);
    EXPECT_EQ(r.exp_datasn(), 5u);
    EXPECT_EQ(r.residual_count(), 512u);
    Pdu p;
    const auto v = p.init<ScsiResponseBhs>();
    v.set_final(true);
    v.set_residual_underflow(true);
    v.set_response(1);
    v.set_status(2);
    v.set_itt(0x11);
    v.set_statsn(100);
    v.set_exp_cmdsn(200);
    v.set_max_cmdsn(327);
    v.set_exp_datasn(5);
    v.set_residual_count(512);
    EXPECT_EQ(p.bhs, w);
    v.set_residual_overflow(true);
    EXPECT_EQ(p.bhs[1], 0x80 | 0x04 | 0x02);
}

TEST(Bhs, DataInAndDataOut) {
    const Bytes in = wire({{0, 1, 0x25}, {1, 1, 0x80 | 0x04 | 0x01}, {3, 1, 0x02}, {8, 8, 3}, {16, 4, 0x22},
                           {20, 4, 0xffffffff}, {24, 4, 1}, {28, 4, 2}, {32, 4, 3}, {36, 4, 4}, {40, 4, 8192},
                           {44, 4, 77}});
    const DataInBhs<R> r(in.data());
    EXPECT_TRUE(r.status_present());
    EXPECT_TRUE(r.residual_overflow());
    EXPECT_FALSE(r.residual_underflow());
    EXPECT_EQ(r.status(), 2);
    EXPECT_EQ(r.ttt(), kReservedTag);
    EXPECT_EQ(r.datasn(), 4u);
    EXPECT_EQ(r.buffer_offset(), 8192u);
    EXPECT_EQ(r.residual_count(), 77u);
    Pdu p;
    const auto v = p.init<DataInBhs>();
    v.set_final(true);
    v.set_residual_overflow(true);
    v.set_status_present(true);
    v.set_status(2);
    v.set_lun(3);
    v.set_itt(0x22);
    v.set_ttt(kReservedTag);
    v.set_statsn(1);
    v.set_exp_cmdsn(2);
    v.set_max_cmdsn(3);
    v.set_datasn(4);
    v.set_buffer_offset(8192);
    v.set_residual_count(77);
    EXPECT_EQ(p.bhs, in);

    const Bytes out = wire({{0, 1, 0x05}, {1, 1, 0x80}, {8, 8, 3}, {16, 4, 0x22}, {20, 4, 0x99}, {28, 4, 6},
                            {36, 4, 2}, {40, 4, 65536}});
    const DataOutBhs<R> o(out.data());
    EXPECT_EQ(o.ttt(), 0x99u);
    EXPECT_EQ(o.exp_statsn(), 6u);
    EXPECT_EQ(o.datasn(), 2u);
    EXPECT_EQ(o.buffer_offset(), 65536u);
    Bytes b{};
    const DataOutBhs<W> d(b.data());
    d.set_opcode(DataOutBhs<W>::kOpcode);
    d.set_final(true);
    d.set_lun(3);
    d.set_itt(0x22);
    d.set_ttt(0x99);
    d.set_exp_statsn(6);
    d.set_datasn(2);
    d.set_buffer_offset(65536);
    EXPECT_EQ(b, out);
}

TEST(Bhs, R2t) {
    const Bytes w = wire({{0, 1, 0x31}, {1, 1, 0x80}, {8, 8, 1}, {16, 4, 0x33}, {20, 4, 0x44}, {24, 4, 10},
                          {28, 4, 11}, {32, 4, 12}, {36, 4, 3}, {40, 4, 262144}, {44, 4, 131072}});
    const R2tBhs<R> r(w.data());
    EXPECT_EQ(r.ttt(), 0x44u);
    EXPECT_EQ(r.r2tsn(), 3u);
    EXPECT_EQ(r.buffer_offset(), 262144u);
    EXPECT_EQ(r.desired_data_transfer_length(), 131072u);
    Pdu p;
    const auto v = p.init<R2tBhs>();
    v.set_final(true);
    v.set_lun(1);
    v.set_itt(0x33);
    v.set_ttt(0x44);
    v.set_statsn(10);
    v.set_exp_cmdsn(11);
    v.set_max_cmdsn(12);
    v.set_r2tsn(3);
    v.set_buffer_offset(262144);
    v.set_desired_data_transfer_length(131072);
    EXPECT_EQ(p.bhs, w);
}

TEST(Bhs, LoginRequestAndResponse) {
    const Bytes req = wire({{0, 1, 0x43}, {1, 1, 0x80 | 0x04 | 0x03}, {2, 1, 0}, {3, 1, 0}, {8, 6, 0x800000001234},
                            {14, 2, 0x0007}, {16, 4, 0x55}, {20, 2, 0x0002}, {24, 4, 1}, {28, 4, 0}});
    const LoginRequestBhs<R> r(req.data());
    EXPECT_TRUE(r.immediate());
    EXPECT_TRUE(r.transit());
    EXPECT_FALSE(r.continue_bit());
    EXPECT_EQ(r.csg(), 1);
    EXPECT_EQ(r.nsg(), 3);
    EXPECT_EQ(r.version_min(), 0);
    EXPECT_EQ(r.isid()[0], 0x80);
    EXPECT_EQ(r.isid()[5], 0x34);
    EXPECT_EQ(r.tsih(), 7);
    EXPECT_EQ(r.cid(), 2);
    EXPECT_EQ(r.cmdsn(), 1u);
    Bytes b{};
    const LoginRequestBhs<W> q(b.data());
    q.set_opcode(LoginRequestBhs<W>::kOpcode, true);
    q.set_stages(true, false, 1, 3);
    q.set_isid(r.isid());
    q.set_tsih(7);
    q.set_itt(0x55);
    q.set_cid(2);
    q.set_cmdsn(1);
    EXPECT_EQ(b, req);

    const Bytes resp = wire({{0, 1, 0x23}, {1, 1, 0x40 | 0x00}, {2, 1, 0}, {3, 1, 0}, {8, 6, 0x800000001234},
                             {14, 2, 0x0009}, {16, 4, 0x55}, {24, 4, 3}, {28, 4, 1}, {32, 4, 128}, {36, 2, 0x0201}});
    const LoginResponseBhs<R> s(resp.data());
    EXPECT_FALSE(s.transit());
    EXPECT_TRUE(s.continue_bit());
    EXPECT_EQ(s.csg(), 0);
    EXPECT_EQ(s.tsih(), 9);
    EXPECT_EQ(s.status(), 0x0201);
    EXPECT_EQ(s.version_active(), 0);
    Pdu p;
    const auto v = p.init<LoginResponseBhs>();
    v.set_stages(false, true, 0, 1);  // NSG is only sent with T
    v.set_isid(r.isid());
    v.set_tsih(9);
    v.set_itt(0x55);
    v.set_statsn(3);
    v.set_exp_cmdsn(1);
    v.set_max_cmdsn(128);
    v.set_status(0x0201);
    EXPECT_EQ(p.bhs, resp);
    EXPECT_EQ(p.bhs[36], 0x02) << "Status-Class";
    EXPECT_EQ(p.bhs[37], 0x01) << "Status-Detail";
}

TEST(Bhs, TextRequestAndResponse) {
    const Bytes req = wire({{0, 1, 0x44}, {1, 1, 0x40}, {16, 4, 0x66}, {20, 4, 0x77}, {24, 4, 5}, {28, 4, 6}});
    const TextRequestBhs<R> r(req.data());
    EXPECT_FALSE(r.final_bit());
    EXPECT_TRUE(r.continue_bit());
    EXPECT_EQ(r.ttt(), 0x77u);
    EXPECT_EQ(r.cmdsn(), 5u);
    EXPECT_EQ(r.exp_statsn(), 6u);
    const Bytes resp = wire({{0, 1, 0x24}, {1, 1, 0x80}, {16, 4, 0x66}, {20, 4, 0xffffffff}, {24, 4, 1}, {28, 4, 2},
                             {32, 4, 3}});
    Pdu p;
    const auto v = p.init<TextResponseBhs>();
    v.set_continue(true);
    v.set_continue(false);
    v.set_final(true);
    v.set_itt(0x66);
    v.set_ttt(kReservedTag);
    v.set_statsn(1);
    v.set_exp_cmdsn(2);
    v.set_max_cmdsn(3);
    EXPECT_EQ(p.bhs, resp);
    EXPECT_EQ(p.as<TextResponseBhs>().ttt(), kReservedTag);
}

TEST(Bhs, NopOutAndNopIn) {
    const Bytes out = wire({{0, 1, 0x40}, {1, 1, 0x80}, {8, 8, 2}, {16, 4, 0xffffffff}, {20, 4, 0x88}, {24, 4, 4},
                            {28, 4, 5}});
    const NopOutBhs<R> r(out.data());
    EXPECT_EQ(r.opcode(), op::nop_out);
    EXPECT_EQ(r.itt(), kReservedTag);
    EXPECT_EQ(r.ttt(), 0x88u);
    EXPECT_EQ(r.cmdsn(), 4u);
    const Bytes in = wire({{0, 1, 0x20}, {1, 1, 0x80}, {8, 8, 2}, {16, 4, 0xffffffff}, {20, 4, 0x88}, {24, 4, 10},
                           {28, 4, 11}, {32, 4, 12}});
    Pdu p;
    const auto v = p.init<NopInBhs>();
    v.set_final(true);
    v.set_lun(2);
    v.set_itt(kReservedTag);
    v.set_ttt(0x88);
    v.set_statsn(10);
    v.set_exp_cmdsn(11);
    v.set_max_cmdsn(12);
    EXPECT_EQ(p.bhs, in);
}

TEST(Bhs, TaskManagement) {
    const Bytes req = wire({{0, 1, 0x42}, {1, 1, 0x80 | 0x01}, {8, 8, 0x0001000000000000}, {16, 4, 0x10},
                            {20, 4, 0x0f}, {24, 4, 30}, {28, 4, 31}, {32, 4, 29}, {36, 4, 2}});
    const TmfRequestBhs<R> r(req.data());
    EXPECT_EQ(r.function(), 1);
    EXPECT_EQ(r.referenced_task_tag(), 0x0fu);
    EXPECT_EQ(r.cmdsn(), 30u);
    EXPECT_EQ(r.ref_cmdsn(), 29u);
    EXPECT_EQ(r.exp_datasn(), 2u);
    Bytes b{};
    const TmfRequestBhs<W> q(b.data());
    q.set_opcode(TmfRequestBhs<W>::kOpcode, true);
    q.set_function(1);
    q.set_lun(0x0001000000000000);
    q.set_itt(0x10);
    q.set_referenced_task_tag(0x0f);
    q.set_cmdsn(30);
    q.set_exp_statsn(31);
    q.set_ref_cmdsn(29);
    q.set_exp_datasn(2);
    EXPECT_EQ(b, req);
    const Bytes resp = wire({{0, 1, 0x22}, {1, 1, 0x80}, {2, 1, 5}, {16, 4, 0x10}, {24, 4, 1}, {28, 4, 2}, {32, 4, 3}});
    Pdu p;
    const auto v = p.init<TmfResponseBhs>();
    v.set_final(true);
    v.set_response(5);
    v.set_itt(0x10);
    v.set_statsn(1);
    v.set_exp_cmdsn(2);
    v.set_max_cmdsn(3);
    EXPECT_EQ(p.bhs, resp);
}

TEST(Bhs, Logout) {
    const Bytes req = wire({{0, 1, 0x46}, {1, 1, 0x80 | 0x01}, {16, 4, 0x12}, {20, 2, 0x0003}, {24, 4, 8}, {28, 4, 9}});
    const LogoutRequestBhs<R> r(req.data());
    EXPECT_EQ(r.reason(), 1);
    EXPECT_EQ(r.cid(), 3);
    EXPECT_EQ(r.cmdsn(), 8u);
    Bytes b{};
    const LogoutRequestBhs<W> q(b.data());
    q.set_opcode(LogoutRequestBhs<W>::kOpcode, true);
    q.set_reason(1);
    q.set_itt(0x12);
    q.set_cid(3);
    q.set_cmdsn(8);
    q.set_exp_statsn(9);
    EXPECT_EQ(b, req);
    const Bytes resp = wire({{0, 1, 0x26}, {1, 1, 0x80}, {2, 1, 1}, {16, 4, 0x12}, {24, 4, 1}, {28, 4, 2}, {32, 4, 3},
                             {40, 2, 2}, {42, 2, 20}});
    Pdu p;
    const auto v = p.init<LogoutResponseBhs>();
    v.set_final(true);
    v.set_response(1);
    v.set_itt(0x12);
    v.set_statsn(1);
    v.set_exp_cmdsn(2);
    v.set_max_cmdsn(3);
    v.set_time2wait(2);
    v.set_time2retain(20);
    EXPECT_EQ(p.bhs, resp);
    EXPECT_EQ(p.as<LogoutResponseBhs>().time2retain(), 20);
}

TEST(Bhs, AsyncMessageAndReject) {
    const Bytes async = wire({{0, 1, 0x32}, {1, 1, 0x80}, {8, 8, 0x0002000000000000}, {16, 4, 0xffffffff},
                              {24, 4, 1}, {28, 4, 2}, {32, 4, 3}, {36, 1, 1}, {37, 1, 0}, {38, 2, 4}, {40, 2, 5},
                              {42, 2, 6}});
    Pdu p;
    const auto v = p.init<AsyncMessageBhs>();
    v.set_final(true);
    v.set_lun(0x0002000000000000);
    v.set_itt(kReservedTag);
    v.set_statsn(1);
    v.set_exp_cmdsn(2);
    v.set_max_cmdsn(3);
    v.set_async_event(1);
    v.set_async_vcode(0);
    v.set_parameter1(4);
    v.set_parameter2(5);
    v.set_parameter3(6);
    EXPECT_EQ(p.bhs, async);
    const AsyncMessageBhs<R> a(async.data());
    EXPECT_EQ(a.async_event(), 1);
    EXPECT_EQ(a.parameter3(), 6);

    const Bytes rej = wire({{0, 1, 0x3f}, {1, 1, 0x80}, {2, 1, 0x09}, {16, 4, 0xffffffff}, {24, 4, 1}, {28, 4, 2},
                            {32, 4, 3}, {36, 4, 4}});
    Pdu q;
    const auto r = q.init<RejectBhs>();
    r.set_final(true);
    r.set_reason(reject_reason::invalid_pdu_field);
    r.set_itt(kReservedTag);
    r.set_statsn(1);
    r.set_exp_cmdsn(2);
    r.set_max_cmdsn(3);
    r.set_datasn(4);
    EXPECT_EQ(q.bhs, rej);
    EXPECT_EQ(RejectBhs<R>(rej.data()).reason(), 0x09);
}

// A view is a pointer: no copy of the header, no allocation.
static_assert(sizeof(ScsiCommandBhs<R>) == sizeof(void*));
static_assert(sizeof(DataInBhs<W>) == sizeof(void*));
static_assert(std::is_trivially_copyable_v<R2tBhs<W>>);

}  // namespace
}  // namespace vstor::iscsi
