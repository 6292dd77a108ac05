// RbdSizeGate without a cluster: what an RBD completion is told about its request's end while a
// header change librbd told of has not been read yet (rbd_size_gate.hpp). The cluster side (a
// write clipped by librbd after a shrink elsewhere) is tests/ceph/shrink_probe.cpp.
#include <gtest/gtest.h>

#include <optional>
#include <thread>
#include <vector>

#include "backends/rbd/rbd_size_gate.hpp"

namespace vstor::backends {
namespace {

using Verdict = RbdSizeGate::Verdict;

// Records the verdicts `then` was called with, in order.
struct Verdicts {
    std::vector<Verdict> got;
    RbdSizeGate::Then then() {
        return [this](Verdict v) { got.push_back(v); };
    }
};

TEST(RbdSizeGate, SettledAnswersAtOnce) {
    RbdSizeGate g;
    EXPECT_EQ(g.now(1 << 30), Verdict::inside);  // size not known yet: nothing is refused
    g.set(8192);
    EXPECT_EQ(g.now(8192), Verdict::inside);
    EXPECT_EQ(g.now(8193), Verdict::outside);
    Verdicts s;
    g.wait(9000, s.then());  // settled: runs inline
    EXPECT_EQ(s.got, std::vector<Verdict>{Verdict::outside});
}

TEST(RbdSizeGate, AnUnreadChangeHoldsCompletionsUntilTheRead) {
    RbdSizeGate g;
    g.set(8192);
    const auto c = g.changed();  // a shrink elsewhere, told by librbd's update watch
    EXPECT_EQ(g.now(4096), std::nullopt);  // even a request inside the old size waits
    Verdicts s;
    g.wait(8192, s.then());
    g.wait(2048, s.then());
    EXPECT_TRUE(s.got.empty());
    g.read(c, 4096);
    EXPECT_EQ(s.got, (std::vector<Verdict>{Verdict::outside, Verdict::inside}));
    EXPECT_EQ(g.now(8192), Verdict::outside);
    EXPECT_EQ(g.now(4096), Verdict::inside);
}

TEST(RbdSizeGate, AReadCoversOnlyTheChangesBeforeIt) {
    RbdSizeGate g;
    g.set(8192);
    const auto first = g.changed();
    const auto second = g.changed();  // came in while the first was being read
    Verdicts s;
    g.wait(8192, s.then());  // waits for the second
    g.read(first, 8192);
    EXPECT_TRUE(s.got.empty());
    EXPECT_EQ(g.now(8192), std::nullopt);
    g.read(second, 4096);
    EXPECT_EQ(s.got, std::vector<Verdict>{Verdict::outside});
    g.read(first, 8192);  // a slower reader of an older change does not undo a newer read
    EXPECT_EQ(g.now(8192), Verdict::outside);
}

TEST(RbdSizeGate, AFailedReadOrAStopSaysUnknown) {
    RbdSizeGate g;
    g.set(8192);
    Verdicts s;
    const auto c = g.changed();
    g.wait(4096, s.then());
    g.read_failed(c);  // the waiting completion cannot be vouched for; later ones use the old size
    EXPECT_EQ(s.got, std::vector<Verdict>{Verdict::unknown});
    EXPECT_EQ(g.now(8192), Verdict::inside);
    g.changed();
    g.wait(4096, s.then());
    g.close();  // the size watch stopped: no read is coming
    g.wait(4096, s.then());
    EXPECT_EQ(s.got, (std::vector<Verdict>{Verdict::unknown, Verdict::unknown, Verdict::unknown}));
}

// Completions racing a read: each gets exactly one verdict, the right one for the size read
// (none is lost between its check and the read).
TEST(RbdSizeGate, CompletionsRacingAReadEachGetOneVerdict) {
    for (int round = 0; round < 200; ++round) {
        RbdSizeGate g;
        g.set(1 << 20);
        const auto c = g.changed();
        std::vector<int> calls(64, 0);
        std::vector<Verdict> got(64, Verdict::unknown);
        std::thread reader([&] { g.read(c, 4096); });
        for (int i = 0; i < 64; ++i) {
            const std::uint64_t end = i % 2 ? 8192 : 4096;
            auto then = [&, i](Verdict v) { ++calls[i], got[i] = v; };
            if (auto v = g.now(end)) then(*v);
            else g.wait(end, then);
        }
        reader.join();
        for (int i = 0; i < 64; ++i) {
            ASSERT_EQ(calls[i], 1) << "round " << round << " completion " << i;
            EXPECT_EQ(got[i], i % 2 ? Verdict::outside : Verdict::inside);
        }
    }
}

}  // namespace
}  // namespace vstor::backends
