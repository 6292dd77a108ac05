// Persistent reservations of a LUN two gateways serve (vstor/reservation_store.hpp,
// scsi/reservations_shared.cpp): two adapters stand for two gateways, their LUNs share one
// in-memory store the way two RBD gateways share the RADOS object (compare-and-set on a version,
// every watcher told before a write returns). Also the state's byte format, read from the
// cluster and so checked like untrusted input.
#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "scsi/engine_fixture.hpp"
#include "scsi/pr_state.hpp"
#include "util/endian.hpp"
#include "vstor/shared_lun.hpp"

namespace vstor::test {
namespace {

// The "cluster": one object with a version, and the stores (gateways) watching it.
struct StoreObject {
    std::mutex mu;
    std::vector<std::uint8_t> bytes;
    std::uint64_t version = 0;
    std::atomic<int> writes{0}, conflicts{0}, interfere{0};  // interfere: CAS calls to lose
};

class MemoryStore final : public ReservationStore {
public:
    explicit MemoryStore(std::shared_ptr<StoreObject> obj) : obj_(std::move(obj)) {}
    void peer(MemoryStore* other) { peer_ = other; }

    Result load(Snapshot& out, std::string&) override {
        std::lock_guard lk(obj_->mu);
        out.state = obj_->bytes;
        out.version = obj_->version;
        return Result::ok;
    }
    Result compare_and_set(std::uint64_t expected, const std::vector<std::uint8_t>& state, std::string&) override {
        {
            std::lock_guard lk(obj_->mu);
            if (obj_->interfere > 0) --obj_->interfere, ++obj_->version;  // another writer got in first
            if (obj_->version != expected) return ++obj_->conflicts, Result::conflict;
            obj_->bytes = state;
            ++obj_->version;
            ++obj_->writes;
        }
        notify();  // like rados_notify2: every watcher has re-read before this returns
        if (peer_) peer_->notify();
        return Result::ok;
    }
    void watch(std::function<void()> changed) override {
        std::lock_guard lk(cb_mu_);
        changed_ = std::move(changed);
    }
    void notify() {
        std::lock_guard lk(cb_mu_);
        if (changed_) changed_();
    }

private:
    std::shared_ptr<StoreObject> obj_;
    MemoryStore* peer_ = nullptr;
    std::mutex cb_mu_;
    std::function<void()> changed_;
};

class SharedDisk final : public Backend, public SharedLun {
public:
    explicit SharedDisk(std::shared_ptr<MemoryStore> s) : store(std::move(s)) {}
    std::string kind() const override { return "shared"; }
    std::uint32_t block_size() const override { return 512; }
    std::uint64_t block_count() const override { return 2048; }
    BackendCaps caps() const override { return {}; }
    std::string unit_id() const override { return "test:shared-pr"; }
    AccessState access_state() const override { return AccessState::active_optimized; }
    void watch_access_state(std::function<void()>) override {}
    std::shared_ptr<ReservationStore> reservation_store() override { return store; }
    void read(std::uint64_t, std::span<std::byte> buf, IoCallback done) override {
        std::fill(buf.begin(), buf.end(), std::byte{0});
        done(IoStatus::ok);
    }
    void write(std::uint64_t, std::span<const std::byte>, bool, IoCallback done) override { done(IoStatus::ok); }
    void flush(IoCallback done) override { done(IoStatus::ok); }
    std::shared_ptr<MemoryStore> store;
};

std::vector<std::uint8_t> shared_pr_out_cdb(std::uint8_t sa, std::uint8_t type = 0) {
    return {0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0};
}
std::vector<std::uint8_t> params(std::uint64_t key, std::uint64_t sa_key) {
    std::vector<std::uint8_t> p(24, 0);
    util::store_be64(&p[0], key);
    util::store_be64(&p[8], sa_key);
    return p;
}
const std::vector<std::uint8_t> kWrite10 = {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0};

// Gateway A is the fixture's adapter (relative port 1), gateway B a second adapter (port 2); the
// same initiator is logged in to both, as a multipath initiator is.
class SharedReservations : public EngineTest {
protected:
    void SetUp() override {
        EngineTest::SetUp();
        obj = std::make_shared<StoreObject>();
        store_a = std::make_shared<MemoryStore>(obj);
        store_b = std::make_shared<MemoryStore>(obj);
        store_a->peer(store_b.get());
        store_b->peer(store_a.get());
        ASSERT_TRUE(adapter->add_lun(tid, 1, std::make_shared<SharedDisk>(store_a)));
        gw_b = Adapter::create();
        tid_b = *gw_b->add_target("iqn.2026-11.org.vstor:test").value;
        ASSERT_TRUE(gw_b->add_lun(tid_b, 1, std::make_shared<SharedDisk>(store_b)));
        on_a = adapter->open_nexus(tid, kInit, 1);
        on_b = gw_b->open_nexus(tid_b, kInit, 2);
        other_b = gw_b->open_nexus(tid_b, "iqn.2026-11.org.test:other,i,0x2", 2);
        clear_unit_attention(*adapter, on_a, 1);
        clear_unit_attention(*gw_b, on_b, 1);
        clear_unit_attention(*gw_b, other_b, 1);
    }
    void TearDown() override {
        on_a.reset(), on_b.reset(), other_b.reset();
        gw_b.reset();
        EngineTest::TearDown();
    }
    Reply a(const std::vector<std::uint8_t>& cdb, std::vector<std::uint8_t> out = {}, std::uint32_t alloc = 0) {
        return send_cdb(cdb, 1, alloc, std::move(out), on_a);
    }
    Reply b(const std::vector<std::uint8_t>& cdb, std::vector<std::uint8_t> out = {}, std::uint32_t alloc = 0,
            std::shared_ptr<Nexus> via = nullptr) {
        // The fixture sends through its own adapter: swap B's in for this command.
        std::swap(adapter, gw_b);
        auto r = send_cdb(cdb, 1, alloc, std::move(out), via ? via : on_b);
        std::swap(adapter, gw_b);
        return r;
    }

    static constexpr const char* kInit = "iqn.2026-11.org.test:init,i,0x1";
    std::shared_ptr<StoreObject> obj;
    std::shared_ptr<MemoryStore> store_a, store_b;
    std::unique_ptr<Adapter> gw_b;
    std::uint16_t tid_b = 0;
    std::shared_ptr<Nexus> on_a, on_b, other_b;
};

TEST_F(SharedReservations, PreemptOnOneGatewayReachesTheOtherAtOnce) {
    ASSERT_EQ(a(shared_pr_out_cdb(0x00), params(0, 0xa)).status(), 0);
    ASSERT_EQ(b(shared_pr_out_cdb(0x00), params(0, 0xb)).status(), 0);
    ASSERT_EQ(b(shared_pr_out_cdb(0x01, 3), params(0xb, 0)).status(), 0);  // B: EXCLUSIVE ACCESS
    EXPECT_EQ(a(kWrite10, std::vector<std::uint8_t>(512)).status(), scsi_status::reservation_conflict);
    // READ FULL STATUS on A names both nexuses with their own relative target ports.
    auto fs = a({0x5e, 0x03, 0, 0, 0, 0, 0, 1, 0, 0}, {}, 256);
    ASSERT_EQ(fs.status(), 0);
    std::vector<int> ports;
    for (std::size_t at = 8; at + 24 <= fs.data.size(); at += 24 + util::load_be32(&fs.data[at + 20]))
        ports.push_back(util::load_be16(&fs.data[at + 18]));
    EXPECT_EQ(ports, (std::vector<int>{1, 2}));
    // PREEMPT from A: B's registration goes, B's nexus gets 2A/05, then conflicts.
    ASSERT_EQ(a(shared_pr_out_cdb(0x04, 3), params(0xa, 0xb)).status(), 0);
    auto r = b(kWrite10, std::vector<std::uint8_t>(512));
    EXPECT_EQ(r.status(), scsi_status::check_condition);
    EXPECT_EQ(r.key(), 0x06);
    EXPECT_EQ(r.asc(), 0x2a);
    EXPECT_EQ(r.ascq(), 0x05);
    EXPECT_EQ(b(kWrite10, std::vector<std::uint8_t>(512)).status(), scsi_status::reservation_conflict);
    EXPECT_EQ(a(kWrite10, std::vector<std::uint8_t>(512)).status(), 0);
}

TEST_F(SharedReservations, ClearOnOneGatewayReleasesOnTheOther) {
    ASSERT_EQ(a(shared_pr_out_cdb(0x00), params(0, 0xa)).status(), 0);
    ASSERT_EQ(b(shared_pr_out_cdb(0x00), params(0, 0xb), 0, other_b).status(), 0);
    ASSERT_EQ(a(shared_pr_out_cdb(0x01, 1), params(0xa, 0)).status(), 0);  // A: WRITE EXCLUSIVE
    EXPECT_EQ(b(kWrite10, std::vector<std::uint8_t>(512), 0, other_b).status(), scsi_status::reservation_conflict);
    ASSERT_EQ(a(shared_pr_out_cdb(0x03), params(0xa, 0)).status(), 0);  // CLEAR
    auto r = b(kWrite10, std::vector<std::uint8_t>(512), 0, other_b);
    EXPECT_EQ(r.asc(), 0x2a);
    EXPECT_EQ(r.ascq(), 0x03);  // RESERVATIONS PREEMPTED
    EXPECT_EQ(b(kWrite10, std::vector<std::uint8_t>(512), 0, other_b).status(), 0);
    auto keys = b({0x5e, 0x00, 0, 0, 0, 0, 0, 0, 64, 0}, {}, 64);
    ASSERT_EQ(keys.status(), 0);
    EXPECT_EQ(util::load_be32(&keys.data[4]), 0u);  // no registrations left
}

TEST_F(SharedReservations, ALostCompareAndSetIsRetried) {
    obj->interfere = 2;
    ASSERT_EQ(b(shared_pr_out_cdb(0x00), params(0, 0xb)).status(), 0);
    EXPECT_EQ(obj->conflicts.load(), 2);
    EXPECT_EQ(obj->writes.load(), 1);
    auto keys = a({0x5e, 0x00, 0, 0, 0, 0, 0, 0, 64, 0}, {}, 64);
    ASSERT_EQ(util::load_be32(&keys.data[4]), 8u);
    EXPECT_EQ(util::load_be64(&keys.data[8]), 0xbu);
}

TEST_F(SharedReservations, ARefusedCommandWritesNothing) {
    EXPECT_EQ(a(shared_pr_out_cdb(0x01, 1), params(0x1, 0)).status(), scsi_status::reservation_conflict);
    EXPECT_EQ(obj->writes.load(), 0);
}

TEST(PrStateFormat, RoundTripsAndRejectsEveryTruncation) {
    scsi::PrState s;
    s.regs.push_back({scsi::pr_nexus_id("iqn.a,i,0x1", 1), "iqn.a,i,0x1", 1, 0x1122334455667788ull});
    s.regs.push_back({scsi::pr_nexus_id("iqn.b,i,0x2", 2), "iqn.b,i,0x2", 2, 7});
    s.holder = scsi::PrHolder{s.regs[0].nexus, 5};
    s.generation = 9;
    s.aptpl = true;
    s.add_uas({s.regs[1].nexus}, 0x2a, 0x05);
    s.commit();
    const auto bytes = s.serialize();
    std::string error;
    auto back = scsi::PrState::parse(bytes, error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(back->serialize(), bytes);
    EXPECT_EQ(back->regs[1].nexus, "iqn.b,i,0x2,2");
    EXPECT_EQ(back->uas.size(), 1u);
    for (std::size_t n = 0; n < bytes.size(); ++n)
        EXPECT_FALSE(scsi::PrState::parse(std::span(bytes.data(), n), error)) << "accepted " << n << " bytes";
    auto longer = bytes;
    longer.push_back(0);
    EXPECT_FALSE(scsi::PrState::parse(longer, error));
    EXPECT_EQ(error, "trailing bytes");
    // Every single-byte corruption is either refused or parses to a state that serializes alike.
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        auto bad = bytes;
        bad[i] ^= 0xff;
        if (auto p = scsi::PrState::parse(bad, error)) {
            EXPECT_EQ(p->serialize(), bad) << "byte " << i;
        }
    }
}

TEST(PrStateFormat, HugeCountsAreRefusedNotAllocated) {
    scsi::PrState s;
    auto bytes = s.serialize();
    util::store_be32(&bytes[bytes.size() - 8], 0xffffffffu);  // registrations
    std::string error;
    EXPECT_FALSE(scsi::PrState::parse(bytes, error));
    EXPECT_EQ(error, "too many registrations");
}

}  // namespace
}  // namespace vstor::test
