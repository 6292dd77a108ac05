// ALUA on a shared LUN (vstor/shared_lun.hpp, scsi/lun_alua.hpp): TPGS 01b in INQUIRY, REPORT
// TARGET PORT GROUPS in both formats and in REPORT SUPPORTED OPERATION CODES, the state the
// backend reports, and ASYMMETRIC ACCESS STATE CHANGED on every nexus when it changes; a size the
// backend found changed (resized through another gateway) as a resize. A LUN that is not shared
// has none of it.
#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "scsi/engine_fixture.hpp"
#include "vstor/shared_lun.hpp"

namespace vstor::test {
namespace {

class FlippingShared final : public Backend, public SharedLun, public SharedLunPortGroups {
public:
    std::string kind() const override { return "shared"; }
    std::uint32_t block_size() const override { return 512; }
    std::uint64_t block_count() const override { return blocks.load(); }
    BackendCaps caps() const override { return {}; }
    std::string unit_id() const override { return "test:unit-1"; }
    AccessState access_state() const override { return state.load(); }
    void watch_access_state(std::function<void()> cb) override {
        std::lock_guard lk(mu);
        changed = std::move(cb);
    }
    void read(std::uint64_t, std::span<std::byte> buf, IoCallback done) override {
        std::fill(buf.begin(), buf.end(), std::byte{0});
        done(IoStatus::ok);
    }
    void write(std::uint64_t, std::span<const std::byte>, bool, IoCallback done) override { done(IoStatus::ok); }
    void flush(IoCallback done) override { done(IoStatus::ok); }
    IoStatus resize(std::uint64_t n) override {
        blocks = n;
        return IoStatus::ok;
    }

    // What the RBD lock watch does when the lock moves.
    void move_to(AccessState s) {
        state = s;
        std::lock_guard lk(mu);
        if (changed) changed();
    }
    bool watched() {
        std::lock_guard lk(mu);
        return static_cast<bool>(changed);
    }

    // SharedLunPortGroups: what the engine published last, and the other gateways the test sets.
    void publish_port_group(std::uint16_t group, std::vector<std::uint16_t> ports) override {
        std::lock_guard lk(mu);
        published = TargetPortGroup{group, AccessState::active_optimized, std::move(ports)};
    }
    std::vector<TargetPortGroup> peer_port_groups() const override {
        std::lock_guard lk(mu);
        return peers;
    }

    std::atomic<AccessState> state{AccessState::active_optimized};
    std::atomic<std::uint64_t> blocks{2048};
    mutable std::mutex mu;
    std::function<void()> changed;
    TargetPortGroup published;
    std::vector<TargetPortGroup> peers;
};

class SharedLunAlua : public EngineTest {
protected:
    void SetUp() override {
        EngineTest::SetUp();
        shared = std::make_shared<FlippingShared>();
        ASSERT_TRUE(adapter->add_lun(tid, 1, shared));
        clear_ua(0);  // REPORTED LUNS DATA HAS CHANGED
        clear_ua(1);
    }
    Reply rtpg(std::uint8_t format, std::uint32_t alloc = 256, std::uint16_t lun = 1) {
        return send({0xa3, static_cast<std::uint8_t>(format << 5 | 0x0a), 0, 0, 0, 0, 0, 0,
                     static_cast<std::uint8_t>(alloc >> 8), static_cast<std::uint8_t>(alloc), 0, 0},
                    lun, alloc);
    }
    std::shared_ptr<FlippingShared> shared;
};

TEST_F(SharedLunAlua, InquiryHasTpgsOnlyOnTheSharedLun) {
    auto r = send({0x12, 0, 0, 0, 96, 0}, 1, 96);
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.data[5] & 0x30, 0x10);  // TPGS 01b: implicit
    r = send({0x12, 0, 0, 0, 96, 0}, 0, 96);
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.data[5] & 0x30, 0x00);
}

TEST_F(SharedLunAlua, ReportTargetPortGroupsBothFormats) {
    auto r = rtpg(0);
    ASSERT_EQ(r.status(), 0);
    ASSERT_EQ(r.data.size(), 4u + 8 + 4);  // header, one group, one port
    EXPECT_EQ(r.data[3], 12);               // return data length
    EXPECT_EQ(r.data[4], 0x00);             // active/optimized, PREF 0
    EXPECT_EQ(r.data[5], 0x8b);             // T_SUP, U_SUP, AN_SUP, AO_SUP
    EXPECT_EQ((r.data[6] << 8) | r.data[7], 1);  // target port group 1
    EXPECT_EQ(r.data[9], 0x00);                  // status: none yet
    EXPECT_EQ(r.data[11], 1);                    // one port
    EXPECT_EQ((r.data[14] << 8) | r.data[15], 1);  // relative port 1
    r = rtpg(1);
    ASSERT_EQ(r.status(), 0);
    ASSERT_EQ(r.data.size(), 8u + 8 + 4);
    EXPECT_EQ(r.data[3], 16);
    EXPECT_EQ(r.data[4], 0x10);  // format type 001b
    EXPECT_GT(r.data[5], 0);     // implicit transition time
    r = rtpg(0, 6);              // truncated to the allocation length
    EXPECT_EQ(r.data.size(), 6u);
    r = rtpg(2);                 // no such format
    EXPECT_EQ(r.key(), 0x5);
    EXPECT_EQ(r.asc(), 0x24);
}

TEST_F(SharedLunAlua, OnlyTheSharedLunImplementsIt) {
    auto r = rtpg(0, 256, 0);
    EXPECT_EQ(r.key(), 0x5);
    EXPECT_EQ(r.asc(), 0x24);  // INVALID FIELD IN CDB: the service action
    EXPECT_EQ(r.field_pointer().first, 1);
    // REPORT SUPPORTED OPERATION CODES, one command: MAINTENANCE IN / 0Ah.
    r = send({0xa3, 0x0c, 0x02, 0xa3, 0x00, 0x0a, 0, 0, 0, 64, 0, 0}, 1, 64);
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.data[1] & 0x07, 0x03);  // supported, as the standard says
    EXPECT_EQ(r.data[4], 0xa3);
    r = send({0xa3, 0x0c, 0x02, 0xa3, 0x00, 0x0a, 0, 0, 0, 64, 0, 0}, 0, 64);
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.data[1] & 0x07, 0x01);  // not supported
}

TEST_F(SharedLunAlua, StateChangeIsReportedWithAUnitAttentionOnEveryNexus) {
    auto other = adapter->open_nexus(tid, "iqn.2026-11.org.test:other,i,0x2", 2);
    shared->move_to(AccessState::active_non_optimized);
    for (const auto& via : {nexus, other}) {
        auto r = send({0x00, 0, 0, 0, 0, 0}, 1, 0, {}, via);
        EXPECT_EQ(r.key(), 0x6);
        EXPECT_EQ(r.asc(), 0x2a);
        EXPECT_EQ(r.ascq(), 0x06);
        r = send({0x00, 0, 0, 0, 0, 0}, 0, 0, {}, via);  // the other LUN did not change
        EXPECT_EQ(r.status(), 0);
    }
    auto r = rtpg(0);
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.data[4], 0x01);  // active/non-optimized
    EXPECT_EQ(r.data[9], 0x02);  // altered by implicit asymmetric access behavior
    EXPECT_EQ(r.data[11], 2);    // both relative ports the initiators use
    shared->move_to(AccessState::active_non_optimized);  // no change: no unit attention
    EXPECT_EQ(send({0x00, 0, 0, 0, 0, 0}, 1).status(), 0);
}

TEST_F(SharedLunAlua, PublishesItsGroupAndListsTheOtherGateways) {
    {
        std::lock_guard lk(shared->mu);
        EXPECT_EQ(shared->published.group, 1);
        EXPECT_EQ(shared->published.relative_ports, std::vector<std::uint16_t>{1});
        shared->peers = {TargetPortGroup{2, AccessState::active_non_optimized, {2, 3}},
                         TargetPortGroup{1, AccessState::unavailable, {9}},  // its own group: not twice
                         TargetPortGroup{7, AccessState::unavailable, {}}};
    }
    auto other = adapter->open_nexus(tid, "iqn.2026-11.org.test:other,i,0x2", 4);
    {
        std::lock_guard lk(shared->mu);
        EXPECT_EQ(shared->published.relative_ports, (std::vector<std::uint16_t>{1, 4}));
    }
    auto r = rtpg(0);
    ASSERT_EQ(r.status(), 0);
    // Header, this group (2 ports), group 2 (2 ports), group 7 (none).
    ASSERT_EQ(r.data.size(), 4u + (8 + 8) + (8 + 8) + 8);
    EXPECT_EQ(r.data[3], r.data.size() - 4);
    std::size_t at = 4;
    EXPECT_EQ(r.data[at], 0x00);
    EXPECT_EQ((r.data[at + 2] << 8) | r.data[at + 3], 1);
    EXPECT_EQ(r.data[at + 7], 2);
    at += 16;
    EXPECT_EQ(r.data[at], 0x01);  // active/non-optimized
    EXPECT_EQ(r.data[at + 1], 0x8b);
    EXPECT_EQ((r.data[at + 2] << 8) | r.data[at + 3], 2);
    EXPECT_EQ(r.data[at + 5], 0x00);  // status
    EXPECT_EQ(r.data[at + 7], 2);
    EXPECT_EQ((r.data[at + 10] << 8) | r.data[at + 11], 2);
    EXPECT_EQ((r.data[at + 14] << 8) | r.data[at + 15], 3);
    at += 16;
    EXPECT_EQ(r.data[at], 0x03);  // unavailable
    EXPECT_EQ((r.data[at + 2] << 8) | r.data[at + 3], 7);
    EXPECT_EQ(r.data[at + 7], 0);
    set_target_port_group(*adapter, 5);  // the ports move to another group: published anew
    auto moved = adapter->open_nexus(tid, "iqn.2026-11.org.test:third,i,0x3", 6);
    std::lock_guard lk(shared->mu);
    EXPECT_EQ(shared->published.group, 5);
    EXPECT_EQ(shared->published.relative_ports, std::vector<std::uint16_t>{6});
}

TEST_F(SharedLunAlua, UnavailableAndTransitioningPortsAnswerNotReady) {
    const std::vector<std::uint8_t> read10{0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    for (auto [state, ascq] : {std::pair{AccessState::unavailable, 0x0c}, std::pair{AccessState::transitioning, 0x0a}}) {
        shared->move_to(state);
        clear_ua(1);  // ASYMMETRIC ACCESS STATE CHANGED
        auto r = send_cdb(read10, 1, 512);
        EXPECT_EQ(r.key(), 0x2);
        EXPECT_EQ(r.asc(), 0x04);  // LOGICAL UNIT NOT ACCESSIBLE, ...
        EXPECT_EQ(r.ascq(), ascq);
        EXPECT_EQ(send({0x12, 0, 0, 0, 96, 0}, 1, 96).status(), 0);  // INQUIRY and RTPG still answer
        r = rtpg(0);
        ASSERT_EQ(r.status(), 0);
        EXPECT_EQ(r.data[4], static_cast<std::uint8_t>(state));
        EXPECT_EQ(send_cdb(read10, 0, 512).status(), 0);  // the LUN that is not shared is unaffected
    }
    shared->move_to(AccessState::active_non_optimized);
    clear_ua(1);
    EXPECT_EQ(send_cdb(read10, 1, 512).status(), 0);
}

// RBD: a gateway that reconnected after a blocklisting reads the image's size again; another
// gateway may have resized it meanwhile.
TEST_F(SharedLunAlua, ASizeChangedElsewhereIsACapacityChangeOnEveryNexus) {
    auto other = adapter->open_nexus(tid, "iqn.2026-11.org.test:other,i,0x2", 2);
    const std::vector<std::uint8_t> read_capacity{0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    shared->blocks = 4096;
    shared->move_to(AccessState::active_optimized);  // the state itself did not change
    for (const auto& via : {nexus, other}) {
        auto r = send({0x00, 0, 0, 0, 0, 0}, 1, 0, {}, via);
        EXPECT_EQ(r.key(), 0x6);
        EXPECT_EQ(r.asc(), 0x2a);
        EXPECT_EQ(r.ascq(), 0x09);  // CAPACITY DATA HAS CHANGED
        EXPECT_EQ(send({0x00, 0, 0, 0, 0, 0}, 1, 0, {}, via).status(), 0);  // and nothing else
        r = send_cdb(read_capacity, 1, 8, {}, via);
        ASSERT_EQ(r.status(), 0);
        EXPECT_EQ((r.data[0] << 24) | (r.data[1] << 16) | (r.data[2] << 8) | r.data[3], 4095);
    }
    shared->move_to(AccessState::active_optimized);  // same size: no unit attention
    EXPECT_EQ(send({0x00, 0, 0, 0, 0, 0}, 1).status(), 0);
}

// RBD: the size watch saw another gateway's resize (or a reconnection re-read the size): the same
// LUN event as `vstor ctl lun resize` (iSCSI sends its Async Message from it), once per change,
// in order with the other changes.
TEST_F(SharedLunAlua, ASizeChangedElsewhereIsPublishedAsALunEvent) {
    std::mutex mu;
    std::vector<LunEvent> events;
    auto sub = adapter->subscribe_lun_events([&](const LunEvent& e) {
        std::lock_guard lk(mu);
        events.push_back(e);
    });
    shared->blocks = 8192;
    shared->move_to(AccessState::active_optimized);
    shared->move_to(AccessState::active_non_optimized);  // a state change alone: no LUN event
    ASSERT_TRUE(adapter->remove_lun(tid, 1));
    std::lock_guard lk(mu);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].change, LunChange::resized);
    EXPECT_EQ(events[0].lun, 1);
    EXPECT_EQ(events[0].target_id, tid);
    EXPECT_EQ(events[1].change, LunChange::removed);
    EXPECT_LT(events[0].sequence, events[1].sequence);
}

// A resize_lun made here is not told twice when the backend's callback reports the same size.
TEST_F(SharedLunAlua, ALocalResizeIsNotRepeatedByTheCallback) {
    std::atomic<int> resized{0};
    auto sub = adapter->subscribe_lun_events([&](const LunEvent& e) {
        if (e.change == LunChange::resized) ++resized;
    });
    ASSERT_TRUE(adapter->resize_lun(tid, 1, 4096));
    shared->move_to(AccessState::active_optimized);  // the RBD size watch sees its own gateway's resize
    EXPECT_EQ(resized.load(), 1);
    shared->blocks = 6144;
    shared->move_to(AccessState::active_optimized);
    shared->move_to(AccessState::active_optimized);  // the same size seen again
    EXPECT_EQ(resized.load(), 2);
    const auto r = send_cdb({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 1, 8);
    EXPECT_EQ(r.key(), 0x6);  // CAPACITY DATA HAS CHANGED first
    EXPECT_EQ(r.asc(), 0x2a);
    clear_ua(1);
    const auto c = send_cdb({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 1, 8);
    ASSERT_EQ(c.status(), 0);
    EXPECT_EQ((c.data[0] << 24) | (c.data[1] << 16) | (c.data[2] << 8) | c.data[3], 6143);
}

TEST_F(SharedLunAlua, RemovingTheLunStopsTheBackendsCalls) {
    EXPECT_TRUE(shared->watched());
    ASSERT_TRUE(adapter->remove_lun(tid, 1));
    EXPECT_FALSE(shared->watched());
}

}  // namespace
}  // namespace vstor::test
