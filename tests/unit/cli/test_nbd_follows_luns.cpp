// `serve`'s NBD server follows the adapter's LUNs through the LUN-event bus: a LUN added at run
// time, however it is added, becomes an export under the start-up naming rule (and a client can
// open it); a removed one goes; nothing changes after stop() ended the subscription.
#include <gtest/gtest.h>

#include <algorithm>

#include "cli/serve_nbd.hpp"
#include "config/lun_builder.hpp"
#include "config/lun_spec.hpp"
#include "nbd/live_server.hpp"
#include "nbd/protocol.hpp"

namespace vstor::cli {
namespace {

class NbdFollowsLuns : public nbd::test::LiveServerTest {
protected:
    void SetUp() override {
        std::string err;
        TargetPlan a, b;
        a.config.name = "iqn.2026-01.test:a";
        a.config.adapter_target_id = *adapter->add_target(a.config.name).value;
        a.luns = {*parse_lun_spec("mem:1M", err)};
        b.config.name = "iqn.2026-01.test:b";
        b.config.adapter_target_id = *adapter->add_target(b.config.name).value;
        b.nbd_export = false;
        plan.targets = {a, b};
        ASSERT_TRUE(add_lun_from_spec(*adapter, a.config.adapter_target_id, 0, a.luns[0], err)) << err;
        nbd::ServerConfig cfg;
        ASSERT_TRUE(nbd_exports(plan, cfg.exports, err)) << err;
        cfg.follow_luns = nbd_follow_luns(plan);
        cfg.event_loops = 1;
        start_server(cfg);
    }
    void add(std::uint16_t target, std::uint16_t lun, const std::string& spec) {
        std::string err;
        ASSERT_TRUE(add_lun_from_spec(*adapter, target, lun, *parse_lun_spec(spec, err), err)) << err;
    }
    bool exported(const std::string& name) {
        const auto all = server->exports();
        return std::any_of(all.begin(), all.end(), [&](const nbd::ExportConfig& e) { return e.name == name; });
    }
    ServePlan plan;
};

TEST_F(NbdFollowsLuns, AddedLunsBecomeExportsAndRemovedOnesGo) {
    add(0, 1, "mem:2M,name=golden");  // as `vstor ctl lun add` does, without the control plane
    add(0, 2, "mem:3M");
    add(1, 0, "mem:1M");  // a target with nbd = false
    EXPECT_TRUE(exported("golden"));
    EXPECT_TRUE(exported("lun2"));
    EXPECT_EQ(server->exports().size(), 3u);

    // A client opens the new export and reaches that LUN (its size) and reads from it.
    auto c = client("golden", false);  // simple replies
    EXPECT_EQ(c->size(), 2u << 20);
    ASSERT_TRUE(c->request(nbd::cmd::read, 0, 7, 4096, 512));
    const auto r = c->reply(512);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.error, 0u);
    EXPECT_EQ(r.data, std::vector<std::uint8_t>(512, 0));
    c.reset();

    ASSERT_TRUE(adapter->remove_lun(0, 1));
    EXPECT_FALSE(exported("golden"));
    nbd::test::RawClient late;
    ASSERT_TRUE(late.connect(port));
    EXPECT_FALSE(late.handshake("golden", true));

    server->stop();  // ends the subscription: later changes leave the table alone
    add(0, 3, "mem:1M");
    EXPECT_FALSE(exported("lun3"));
    EXPECT_TRUE(exported("lun2"));
}

TEST(NbdFollowLunsNames, SameRuleAsStartUp) {
    ServePlan plan;
    TargetPlan a, b;
    a.config.name = "iqn.a";
    b.config.name = "iqn.b";
    plan.targets = {a, b};
    const auto name = nbd_follow_luns(plan);
    LunEvent e;
    e.target_name = "iqn.b";
    e.lun = 4;
    EXPECT_EQ(name(e)->name, "iqn.b/lun4");
    e.target_name = "iqn.a";
    EXPECT_EQ(name(e)->name, "lun4");
    e.lun_name = "golden";
    EXPECT_EQ(name(e)->name, "golden");
    e.target_name = "iqn.added-at-run-time";
    e.lun_name = "";
    EXPECT_EQ(name(e)->name, "iqn.added-at-run-time/lun4");
}

}  // namespace
}  // namespace vstor::cli
