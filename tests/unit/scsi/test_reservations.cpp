// Reservation commands complete outside the reservation lock (issue 17 §3), and APTPL state
// survives a restart of the adapter.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "completion_probe.hpp"
#include "util/endian.hpp"

namespace vstor::test {
namespace {

std::vector<std::uint8_t> pr_out_cdb(std::uint8_t sa, std::uint8_t type = 0) {
    return {0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0};
}

std::vector<std::uint8_t> pr_out_params(std::uint64_t key, std::uint64_t sa_key, bool aptpl = false) {
    std::vector<std::uint8_t> p(24, 0);
    util::store_be64(&p[0], key);
    util::store_be64(&p[8], sa_key);
    p[20] = aptpl ? 0x01 : 0x00;
    return p;
}

// Every command's dispatch reads the reservations: a TEST UNIT READY needs their lock.
const ProbedCommand kTestUnitReady{{0x00, 0, 0, 0, 0, 0}, {}, 0};

class Reservations : public CompletionProbeTest {};

TEST_F(Reservations, EveryReservationCommandCompletesOutsideTheReservationLock) {
    struct Case {
        const char* name;
        std::vector<std::uint8_t> cdb;
        std::vector<std::uint8_t> out;
        std::uint32_t alloc;
    };
    const Case cases[] = {
        {"PR OUT REGISTER", pr_out_cdb(0x00), pr_out_params(0, 0xabc), 0},
        {"PR IN READ KEYS", {0x5e, 0x00, 0, 0, 0, 0, 0, 0, 64, 0}, {}, 64},
        {"PR OUT RESERVE", pr_out_cdb(0x01, 1), pr_out_params(0xabc, 0), 0},
        {"PR OUT RESERVE (conflict)", pr_out_cdb(0x01, 1), pr_out_params(0xdef, 0), 0},
        {"PR OUT RELEASE", pr_out_cdb(0x02, 1), pr_out_params(0xabc, 0), 0},
        {"PR OUT REGISTER (unregister)", pr_out_cdb(0x00), pr_out_params(0xabc, 0), 0},
        {"RESERVE(6)", {0x16, 0, 0, 0, 0, 0}, {}, 0},
        {"RELEASE(6)", {0x17, 0, 0, 0, 0, 0}, {}, 0},
    };
    for (const auto& c : cases) {
        const auto r = send_and_probe({c.cdb, c.out, c.alloc}, kTestUnitReady);
        EXPECT_NE(r.status, scsi_status::check_condition) << c.name;
        EXPECT_TRUE(r.probe_ran) << c.name << " completed while holding the reservation lock";
    }
}

class ReservationsAptpl : public Reservations {
protected:
    void SetUp() override {
        Reservations::SetUp();
        dir = std::filesystem::temp_directory_path() /
              ("vstor-aptpl-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
        add_aptpl_lun();
    }
    void TearDown() override {
        std::filesystem::remove_all(dir);
        Reservations::TearDown();
    }

    void add_aptpl_lun() {
        LunOptions lo;
        lo.pr_state_path = (dir / "lun1.pr").string();
        ASSERT_TRUE(adapter->add_lun(tid, 1, std::make_shared<backends::MemBackend>(1ull << 20, 512), lo));
        clear_ua(1);
    }

    // The adapter as after a restart: same LUN, same state file.
    void restart() {
        nexus.reset();
        adapter = Adapter::create();
        tid = *adapter->add_target("iqn.2026-11.org.vstor:test").value;
        nexus = adapter->open_nexus(tid, "iqn.2026-11.org.test:init,i,0x1");
        add_aptpl_lun();
    }

    std::vector<std::uint64_t> keys() {
        auto r = send({0x5e, 0x00, 0, 0, 0, 0, 0, 1, 0, 0}, 1, 256);
        EXPECT_EQ(r.status(), 0);
        std::vector<std::uint64_t> out;
        for (std::size_t at = 8; at + 8 <= r.data.size(); at += 8) out.push_back(util::load_be64(&r.data[at]));
        return out;
    }

    std::filesystem::path dir;
};

TEST_F(ReservationsAptpl, RegistrationAndReservationSurviveARestart) {
    ASSERT_EQ(send_cdb(pr_out_cdb(0x00), 1, 0, pr_out_params(0, 0x77, true)).status(), 0);
    ASSERT_EQ(send_cdb(pr_out_cdb(0x01, 3), 1, 0, pr_out_params(0x77, 0, true)).status(), 0);
    ASSERT_TRUE(std::filesystem::exists(dir / "lun1.pr"));
    restart();
    EXPECT_EQ(keys(), std::vector<std::uint64_t>{0x77});
    auto rr = send({0x5e, 0x01, 0, 0, 0, 0, 0, 0, 64, 0}, 1, 64);  // READ RESERVATION
    ASSERT_EQ(rr.status(), 0);
    ASSERT_GE(rr.data.size(), 24u);
    EXPECT_EQ(util::load_be64(&rr.data[8]), 0x77u);
    EXPECT_EQ(rr.data[21], 3);  // EXCLUSIVE ACCESS
}

TEST_F(ReservationsAptpl, RegisteringWithoutAptplForgetsTheSavedState) {
    ASSERT_EQ(send_cdb(pr_out_cdb(0x00), 1, 0, pr_out_params(0, 0x77, true)).status(), 0);
    ASSERT_TRUE(std::filesystem::exists(dir / "lun1.pr"));
    ASSERT_EQ(send_cdb(pr_out_cdb(0x00), 1, 0, pr_out_params(0x77, 0x78, false)).status(), 0);
    EXPECT_FALSE(std::filesystem::exists(dir / "lun1.pr"));
    restart();
    EXPECT_TRUE(keys().empty());
}

// Many PR OUTs at once from several nexuses: the file ends up holding the last state, whatever
// order the saves ran in.
TEST_F(ReservationsAptpl, ConcurrentRegistrationsAllReachTheFile) {
    constexpr int kNexuses = 8;
    std::vector<std::future<std::uint8_t>> done;
    std::vector<std::shared_ptr<Nexus>> nexuses;
    for (int i = 0; i < kNexuses; ++i) {
        nexuses.push_back(adapter->open_nexus(tid, "iqn.2026-11.org.test:n" + std::to_string(i) + ",i,0x1"));
        for (int n = 0; n < 8; ++n)  // the new nexus's power-on unit attention
            if (send({0x00, 0, 0, 0, 0, 0}, 1, 0, {}, nexuses.back()).status() == 0) break;
    }
    for (int i = 0; i < kNexuses; ++i)
        done.push_back(std::async(std::launch::async, [&, i] {
            return send_cdb(pr_out_cdb(0x06), 1, 0, pr_out_params(0, 0x100 + i, true), nexuses[i]).status();
        }));
    for (auto& f : done) EXPECT_EQ(f.get(), 0);
    restart();
    auto k = keys();
    std::sort(k.begin(), k.end());
    ASSERT_EQ(k.size(), std::size_t{kNexuses});
    for (int i = 0; i < kNexuses; ++i) EXPECT_EQ(k[i], 0x100u + i);
}

TEST_F(ReservationsAptpl, AptplCommandSavesOnAWorkerOutsideTheReservationLock) {
    const auto r = send_and_probe({pr_out_cdb(0x00), pr_out_params(0, 0x55, true), 0}, kTestUnitReady, 1);
    EXPECT_EQ(r.status, scsi_status::good);
    EXPECT_TRUE(r.probe_ran);
    // The file is written (and fsynced) before the command completes, on a worker: not on the
    // thread that submitted it, which for a front end is its network loop.
    EXPECT_NE(r.completed_on, std::this_thread::get_id());
    EXPECT_TRUE(std::filesystem::exists(dir / "lun1.pr"));
}

}  // namespace
}  // namespace vstor::test
