// `vstor serve` NBD options: --nbd-listen parsing, export names from LUN specs, [nbd] in TOML.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "cli/serve_nbd.hpp"
#include "config/serve_plan.hpp"

namespace vstor::cli {
namespace {

TEST(NbdListen, Forms) {
    std::string err;
    nbd::ListenConfig l;
    ASSERT_TRUE(parse_nbd_listen("127.0.0.1:10810", l, err)) << err;
    EXPECT_EQ(l.address, "127.0.0.1");
    EXPECT_EQ(l.port, 10810);
    ASSERT_TRUE(parse_nbd_listen("127.0.0.1", l, err));
    EXPECT_EQ(l.port, 10809);
    ASSERT_TRUE(parse_nbd_listen("[::1]:99", l, err));
    EXPECT_EQ(l.address, "::1");
    EXPECT_EQ(l.port, 99);
    ASSERT_TRUE(parse_nbd_listen(":0", l, err));
    EXPECT_EQ(l.address, "0.0.0.0");
    EXPECT_EQ(l.port, 0);
    EXPECT_FALSE(parse_nbd_listen("host:99999", l, err));
    EXPECT_NE(err.find("bad port"), std::string::npos);
    EXPECT_FALSE(parse_nbd_listen("host:", l, err));
    EXPECT_FALSE(parse_nbd_listen("[::1", l, err));
    EXPECT_FALSE(parse_nbd_listen("host:12ab", l, err));
}

TEST(NbdExports, NamesFromSpecsAndDefaults) {
    std::string err;
    ServePlan plan;
    TargetPlan a, b, c;
    a.config.name = "iqn.a";
    a.config.adapter_target_id = 0;
    a.luns = {*parse_lun_spec("mem:1M", err), *parse_lun_spec("mem:1M,name=golden", err),
              *parse_lun_spec("mem:1M,lun=9", err)};
    b.config.name = "iqn.b";
    b.config.adapter_target_id = 1;
    b.luns = {*parse_lun_spec("mem:1M", err)};
    c.config.name = "iqn.c";
    c.nbd_export = false;
    c.luns = {*parse_lun_spec("mem:1M", err)};
    plan.targets = {a, b, c};
    std::vector<nbd::ExportConfig> ex;
    ASSERT_TRUE(nbd_exports(plan, ex, err)) << err;
    ASSERT_EQ(ex.size(), 4u);
    EXPECT_EQ(ex[0].name, "lun0");  // first: what "" selects
    EXPECT_EQ(ex[1].name, "golden");
    EXPECT_EQ(ex[1].lun, 1);
    EXPECT_EQ(ex[2].name, "lun9");
    EXPECT_EQ(ex[2].lun, 9);
    EXPECT_EQ(ex[3].name, "iqn.b/lun0");
    EXPECT_EQ(ex[3].adapter_target_id, 1);
    // Two LUNs named alike is refused.
    plan.targets[1].luns[0].name = "golden";
    ex.clear();
    EXPECT_FALSE(nbd_exports(plan, ex, err));
    EXPECT_NE(err.find("golden"), std::string::npos);
}

TEST(NbdConfigFile, ListenAndPerTargetSwitch) {
    // One file per process: ctest -j and parallel builds' runs share TempDir().
    const std::string path = ::testing::TempDir() + "vstor-nbd-" + std::to_string(::getpid()) + ".toml";
    {
        std::ofstream f(path);
        f << "[nbd]\nlisten = [\"127.0.0.1:10809\", \"[::1]:10810\"]\n"
             "[[target]]\nname = \"iqn.2026-11.org.vstor:x\"\nluns = [\"mem:1M\"]\n"
             "[[target]]\nname = \"iqn.2026-11.org.vstor:y\"\nluns = [\"mem:1M\"]\nnbd = false\n";
    }
    std::string err;
    auto plan = load_config_file(path, err);
    ASSERT_TRUE(plan) << err;
    EXPECT_EQ(plan->nbd_listen, (std::vector<std::string>{"127.0.0.1:10809", "[::1]:10810"}));
    EXPECT_TRUE(plan->targets[0].nbd_export);
    EXPECT_FALSE(plan->targets[1].nbd_export);
    {
        std::ofstream f(path);
        f << "[nbd]\nlisten = \"127.0.0.1\"\n[[target]]\nname = \"iqn.2026-11.org.vstor:x\"\nluns = [\"mem:1M\"]\n";
    }
    EXPECT_FALSE(load_config_file(path, err));
    EXPECT_NE(err.find("listen"), std::string::npos) << err;
    {
        std::ofstream f(path);
        f << "[nbd]\nport = 1\n[[target]]\nname = \"iqn.2026-11.org.vstor:x\"\nluns = [\"mem:1M\"]\n";
    }
    EXPECT_FALSE(load_config_file(path, err));
    EXPECT_NE(err.find("unknown key 'port'"), std::string::npos) << err;
    std::remove(path.c_str());
}

}  // namespace
}  // namespace vstor::cli

namespace vstor::cli {
namespace {

TEST(NbdTls, SpecParsing) {
    std::string err;
    nbd::TlsConfig t;
    ASSERT_TRUE(parse_nbd_tls("require,cert=/a.pem,key=/a.key,ca=/ca.pem", t, err)) << err;
    EXPECT_EQ(t.mode, nbd::TlsConfig::Mode::require);
    EXPECT_EQ(t.cert_file, "/a.pem");
    EXPECT_EQ(t.key_file, "/a.key");
    EXPECT_EQ(t.ca_file, "/ca.pem");
    ASSERT_TRUE(parse_nbd_tls("on,psk=/k.psk", t, err)) << err;
    EXPECT_EQ(t.mode, nbd::TlsConfig::Mode::on);
    EXPECT_EQ(t.psk_file, "/k.psk");
    ASSERT_TRUE(parse_nbd_tls("off", t, err));
    EXPECT_EQ(t.mode, nbd::TlsConfig::Mode::off);
    EXPECT_FALSE(parse_nbd_tls("maybe,cert=x,key=y", t, err));
    EXPECT_NE(err.find("off, on or require"), std::string::npos);
    EXPECT_FALSE(parse_nbd_tls("on", t, err));  // no credentials
    EXPECT_FALSE(parse_nbd_tls("on,cert=", t, err));
    EXPECT_FALSE(parse_nbd_tls("on,pass=x", t, err));
    EXPECT_NE(err.find("unknown option 'pass'"), std::string::npos);
}

TEST(NbdTls, ServerRefusesMissingFiles) {
    auto adapter = Adapter::create();
    nbd::ServerConfig cfg;
    cfg.listen.push_back(nbd::ListenConfig{"127.0.0.1", 0});
    cfg.tls.mode = nbd::TlsConfig::Mode::require;
    cfg.tls.cert_file = "/nonexistent/cert.pem";
    cfg.tls.key_file = "/nonexistent/key.pem";
    std::string err;
    EXPECT_FALSE(nbd::Server::create(cfg, *adapter, err));
    EXPECT_NE(err.find("cannot read"), std::string::npos) << err;
    cfg.tls.cert_file.clear();
    EXPECT_FALSE(nbd::Server::create(cfg, *adapter, err));
    EXPECT_NE(err.find("go together"), std::string::npos) << err;
}

}  // namespace
}  // namespace vstor::cli
