// The control plane: every JSON-RPC method refuses bad input without changing anything; hot-plug
// changes reach a connected libiscsi initiator as the unit attentions SPC requires; the socket
// is owner-only; `save` writes a file that `serve --config` reads back to the same LUNs.
#include <gtest/gtest.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/lun_spec.hpp"
#include "config/serve_plan.hpp"
#include "control/control_rig.hpp"
#include "control/metrics_server.hpp"
#include "control/rpc_client.hpp"

namespace vstor::control {
namespace {

using test::json;
constexpr const char* kCtlIqn = "iqn.2026-12.org.vstor:ctl";

class ControlPlane : public test::ControlRig {
protected:
    void SetUp() override {
        dir = std::filesystem::temp_directory_path() / ("vstor-ctl-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        start(kCtlIqn, "mem:16M", Portal::loopback);
    }
    void TearDown() override {
        ControlRig::TearDown();
        std::filesystem::remove_all(dir);
    }
    std::string snapshot() { return call("status").dump() + service->render_config(); }

    iscsi_context* login() {
        auto* ctx = iscsi_create_context("iqn.2026-12.org.test:ctl-initiator");
        iscsi_set_targetname(ctx, kCtlIqn);
        iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
        iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE);
        const auto portal = "127.0.0.1:" + std::to_string(port);
        EXPECT_EQ(iscsi_full_connect_sync(ctx, portal.c_str(), 0), 0) << iscsi_get_error(ctx);
        return ctx;
    }

    std::filesystem::path dir;
};

TEST_F(ControlPlane, BadInputIsRefusedAndChangesNothing) {
    call("lun.add", {{"spec", "mem:4M,removable,name=spare"}});  // LUN 1, to have something to refuse on
    const auto before = snapshot();
    const std::vector<std::pair<std::string, json>> bad = {
        {"no.such.method", json::object()},
        {"status", json::array({1})},
        {"lun.add", json::object()},
        {"lun.add", {{"spec", "tape:1G"}}},
        {"lun.add", {{"spec", "mem:1G"}, {"lun", 1}}},
        {"lun.add", {{"spec", "mem:1G"}, {"lun", "two"}}},
        {"lun.add", {{"spec", "mem:1G"}, {"lun", 20000}}},
        {"lun.add", {{"spec", "mem:1000"}}},
        {"lun.add", {{"spec", "file:/proc/vstor-cannot/x.img,size=1M"}}},
        {"lun.add", {{"spec", "mem:1M,name=spare"}}},
        {"lun.add", {{"spec", "mem:1M"}, {"target", "iqn.2026-12.org.vstor:nope"}}},
        {"lun.remove", {{"lun", 7}}},
        {"lun.remove", json::object()},
        {"lun.resize", {{"lun", 1}, {"size", "1000"}}},
        {"lun.resize", {{"lun", 1}, {"size", "lots"}}},
        {"lun.resize", {{"lun", 1}, {"size", "1M"}}},  // shrink without force
        {"lun.resize", {{"lun", 9}, {"size", "8M"}}},
        {"lun.set_ro", {{"lun", 1}}},
        {"lun.set_ro", {{"lun", 1}, {"read_only", "yes"}}},
        {"lun.eject", {{"lun", 0}}},  // not removable
        {"lun.insert", {{"lun", 5}}},
        {"target.add", {{"name", kCtlIqn}}},
        {"target.add", {{"name", "iqn.2026-12.org.vstor:b"}, {"chap", "user:short"}}},
        {"target.add", {{"name", "iqn.2026-12.org.vstor:b"}, {"allow", json::array({"not an iqn"})}}},
        {"target.remove", {{"name", "iqn.2026-12.org.vstor:nope"}}},
        {"acl.allow", {{"initiator", "bogus"}}},
        {"acl.deny", {{"initiator", "iqn.2026-12.org.test:absent"}}},
        {"chap.set", {{"chap", "user:short"}}},
        {"chap.set", {{"chap", "user:long-enough-secret"}, {"mutual_chap", "tgt:short"}}},
        {"save", json::object()},
        {"lun.sanitize", {{"lun", 1}, {"method", "shred"}}},
        {"lun.sanitize", {{"lun", 4}}},
        {"lun.progress", {{"lun", 4}}},
        {"save", {{"path", "/proc/vstor-cannot/x.toml"}}},
    };
    for (const auto& [method, params] : bad) {
        EXPECT_THROW(call(method, params), RpcError) << method << " " << params.dump();
        EXPECT_EQ(snapshot(), before) << "state changed by refused " << method << " " << params.dump();
    }
    // The ACL cannot be emptied by deny (an empty ACL admits everyone).
    call("acl.allow", {{"initiator", "iqn.2026-12.org.test:only"}});
    EXPECT_THROW(call("acl.deny", {{"initiator", "iqn.2026-12.org.test:only"}}), RpcError);
}

// Target and initiator names go through the same iSCSI name rules as `serve`'s flags and file
// (before: `target.add disk` and `acl.allow iqn.x` were accepted).
TEST_F(ControlPlane, NamesFollowTheIscsiRules) {
    auto refusal = [&](const std::string& method, const json& params) -> std::string {
        try {
            call(method, params);
        } catch (const RpcError& e) {
            EXPECT_EQ(e.code, rpc_code::invalid_params);
            return e.what();
        }
        return "accepted";
    };
    EXPECT_EQ(refusal("target.add", {{"name", "disk"}}),
              "target name 'disk': iSCSI names start with 'iqn.', 'eui.' or 'naa.' (RFC 7143 4.2.7.1)");
    EXPECT_EQ(refusal("target.add", {{"name", "iqn.2026-12.org.vstor:Disk"}}),
              "target name 'iqn.2026-12.org.vstor:Disk': iSCSI names are lower case (RFC 3722); write "
              "'iqn.2026-12.org.vstor:disk'");
    EXPECT_EQ(refusal("target.add", {{"name", "iqn.2026-12.org.vstor:b"}, {"allow", json::array({"iqn.x"})}}),
              "'allow' entry 'iqn.x': 'iqn.' must be followed by a date YYYY-MM and a reversed domain name, e.g. "
              "iqn.2026-11.org.example:disk0 (RFC 3720 3.2.6.3.1)");
    EXPECT_EQ(refusal("acl.allow", {{"initiator", "iqn.x"}}),
              "initiator 'iqn.x': 'iqn.' must be followed by a date YYYY-MM and a reversed domain name, e.g. "
              "iqn.2026-11.org.example:disk0 (RFC 3720 3.2.6.3.1)");
    EXPECT_EQ(refusal("acl.deny", {{"initiator", "eui.1234"}}),
              "initiator 'eui.1234': 'eui.' must be followed by 16 hex digits (RFC 7143 4.2.7.2)");
    EXPECT_EQ(refusal("acl.allow", {{"initiator", "eui.02004567a425678d"}}), "accepted");
    EXPECT_EQ(refusal("target.add", {{"name", "naa.52004567ba64678d"}}), "accepted");
}

TEST_F(ControlPlane, HotPlugReachesAConnectedInitiator) {
    auto* ctx = login();
    ASSERT_NE(ctx, nullptr);
    auto expect_ua = [&](int lun, int asc, int ascq) {
        auto* t = iscsi_testunitready_sync(ctx, lun);
        ASSERT_NE(t, nullptr);
        EXPECT_EQ(t->status, SCSI_STATUS_CHECK_CONDITION);
        EXPECT_EQ(t->sense.key, SCSI_SENSE_UNIT_ATTENTION);
        EXPECT_EQ(t->sense.ascq, (asc << 8) | ascq) << std::hex << t->sense.ascq;
        scsi_free_scsi_task(t);
        t = iscsi_testunitready_sync(ctx, lun);  // reported once, then gone
        ASSERT_NE(t, nullptr);
        EXPECT_EQ(t->status, SCSI_STATUS_GOOD);
        scsi_free_scsi_task(t);
    };
    auto luns = [&] {
        std::vector<int> out;
        auto* t = iscsi_reportluns_sync(ctx, 0, 256);
        auto* list = static_cast<scsi_reportluns_list*>(scsi_datain_unmarshall(t));
        for (std::uint32_t i = 0; list && i < list->num; ++i) out.push_back(list->luns[i]);
        scsi_free_scsi_task(t);
        return out;
    };
    call("lun.add", {{"spec", "mem:8M"}});
    expect_ua(0, 0x3f, 0x0e);  // REPORTED LUNS DATA HAS CHANGED, on every LUN of the target
    expect_ua(1, 0x3f, 0x0e);
    EXPECT_EQ(luns(), (std::vector<int>{0, 1}));

    call("lun.resize", {{"lun", 1}, {"size", "12M"}});
    expect_ua(1, 0x2a, 0x09);  // CAPACITY DATA HAS CHANGED
    auto* rc = iscsi_readcapacity16_sync(ctx, 1);
    auto* cap = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(rc));
    ASSERT_NE(cap, nullptr);
    EXPECT_EQ(cap->returned_lba + 1, (12u << 20) / 512);
    scsi_free_scsi_task(rc);

    call("lun.remove", {{"lun", 1}});
    expect_ua(0, 0x3f, 0x0e);
    EXPECT_EQ(luns(), (std::vector<int>{0}));

    // Write protection takes effect at once: DATA PROTECT on the next write.
    call("lun.set_ro", {{"lun", 0}, {"read_only", true}});
    unsigned char block[512] = {};
    auto* w = iscsi_write10_sync(ctx, 0, 0, block, sizeof block, 512, 0, 0, 0, 0, 0);
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->sense.key, SCSI_SENSE_DATA_PROTECTION);
    scsi_free_scsi_task(w);
    call("lun.set_ro", {{"lun", 0}, {"read_only", false}});
    w = iscsi_write10_sync(ctx, 0, 0, block, sizeof block, 512, 0, 0, 0, 0, 0);
    EXPECT_EQ(w->status, SCSI_STATUS_GOOD);
    scsi_free_scsi_task(w);

    const auto st = call("stats");
    EXPECT_GE(st["luns"][0]["writes"].get<int>(), 2);
    EXPECT_EQ(st["sessions"].size(), 1u);
    iscsi_logout_sync(ctx);
    iscsi_destroy_context(ctx);
}

TEST_F(ControlPlane, DenyClosesTheInitiatorsSession) {
    call("acl.allow", {{"initiator", "iqn.2026-12.org.test:ctl-initiator"}});
    call("acl.allow", {{"initiator", "iqn.2026-12.org.test:other"}});
    auto* ctx = login();
    ASSERT_EQ(call("status")["sessions"].size(), 1u);
    const auto r = call("acl.deny", {{"initiator", "iqn.2026-12.org.test:ctl-initiator"}});
    EXPECT_EQ(r["sessions_closed"], 1);
    for (int i = 0; i < 50 && !call("status")["sessions"].empty(); ++i) usleep(20000);
    EXPECT_TRUE(call("status")["sessions"].empty());
    iscsi_destroy_context(ctx);
}

TEST_F(ControlPlane, FirstAllowClosesTheSessionsItNoLongerAdmits) {
    auto* ctx = login();  // the ACL is empty: everyone may log in
    ASSERT_EQ(call("status")["sessions"].size(), 1u);
    // The first entry turns "everyone" into "only this initiator".
    const auto r = call("acl.allow", {{"initiator", "iqn.2026-12.org.test:other"}});
    EXPECT_EQ(r["sessions_closed"], 1);
    for (int i = 0; i < 50 && !call("status")["sessions"].empty(); ++i) usleep(20000);
    EXPECT_TRUE(call("status")["sessions"].empty());
    iscsi_destroy_context(ctx);
}

TEST_F(ControlPlane, SocketIsOwnerOnly) {
    const auto path = (dir / "c.sock").string();
    std::string err;
    auto rpc = RpcServer::start(path, *service, err);
    ASSERT_TRUE(rpc) << err;
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_TRUE(call_control(path, "status", json::object()).result.has_value());
    // A second server on the same path is refused while the first lives.
    EXPECT_FALSE(RpcServer::start(path, *service, err));
    EXPECT_NE(err.find("already"), std::string::npos) << err;
    if (::geteuid() == 0) {
        // Another user cannot connect.
        const pid_t pid = ::fork();
        if (pid == 0) {
            if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
            const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
            sockaddr_un a{};
            a.sun_family = AF_UNIX;
            std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
            const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
            ::_exit(rc == 0 ? 1 : (errno == EACCES ? 0 : 2));
        }
        int status = 0;
        ::waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 0) << "1: connected, 2: other error, 3: setuid failed";
    }
    rpc->stop();
    EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(ControlPlane, JsonRpcFraming) {
    auto parse = [](const std::string& s) { return json::parse(s); };
    EXPECT_EQ(parse(handle_rpc_text(*service, "{nope"))["error"]["code"], rpc_code::parse_error);
    EXPECT_EQ(parse(handle_rpc_text(*service, "3e347"))["error"]["code"], rpc_code::parse_error);  // fuzzer: out_of_range
    EXPECT_EQ(parse(handle_rpc_text(*service, R"({"id":1,"method":"status"})"))["error"]["code"], rpc_code::invalid_request);
    EXPECT_EQ(parse(handle_rpc_text(*service, R"({"jsonrpc":"2.0","id":1,"method":7})"))["error"]["code"],
              rpc_code::invalid_request);
    EXPECT_EQ(parse(handle_rpc_text(*service, R"({"jsonrpc":"2.0","id":2,"method":"nope"})"))["error"]["code"],
              rpc_code::method_not_found);
    EXPECT_EQ(handle_rpc_text(*service, R"({"jsonrpc":"2.0","method":"status"})"), "");  // notification
    const auto batch = parse(handle_rpc_text(
        *service, R"([{"jsonrpc":"2.0","id":1,"method":"status"},{"jsonrpc":"2.0","id":2,"method":"lun.remove","params":{"lun":9}}])"));
    ASSERT_EQ(batch.size(), 2u);
    EXPECT_TRUE(batch[0].contains("result"));
    EXPECT_EQ(batch[1]["error"]["code"], rpc_code::failed);
    EXPECT_EQ(parse(handle_rpc_text(*service, "[]"))["error"]["code"], rpc_code::invalid_request);
}

// 100,000 levels of nesting (a 200 KB line) overflowed the stack and took the target down; past
// kMaxJsonDepth the request is a parse error and the service keeps answering.
TEST_F(ControlPlane, DeeplyNestedRequestIsAParseError) {
    auto parse = [](const std::string& s) { return json::parse(s); };
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    for (const auto& text : {R"({"jsonrpc":"2.0","id":1,"method":"status","params":)" + deep + "}",
                             R"({"jsonrpc":"2.0","id":)" + deep + R"(,"method":"status"})", deep}) {
        const auto reply = parse(handle_rpc_text(*service, text));
        EXPECT_EQ(reply["error"]["code"], rpc_code::parse_error);
        EXPECT_EQ(reply["error"]["message"], "the request nests arrays/objects deeper than 64 levels");
    }
    // The limit is exact: 64 levels (params nested 62 deep inside the request) still parse.
    auto nested = [](int levels) {
        std::string p = "1";
        for (int i = 0; i < levels; ++i) p = "[" + p + "]";
        return R"({"jsonrpc":"2.0","id":1,"method":"nope","params":{"x":)" + p + "}}";
    };
    EXPECT_EQ(parse(handle_rpc_text(*service, nested(62)))["error"]["code"], rpc_code::method_not_found);
    EXPECT_EQ(parse(handle_rpc_text(*service, nested(63)))["error"]["code"], rpc_code::parse_error);
    EXPECT_TRUE(parse(handle_rpc_text(*service, R"({"jsonrpc":"2.0","id":1,"method":"status"})")).contains("result"));
}

TEST_F(ControlPlane, SaveWritesAConfigThatLoadsBack) {
    call("lun.add", {{"spec", "mem:4M,removable"}, {"lun", 3}});
    call("lun.add", {{"spec", "file:" + (dir / "d.img").string() + ",size=2M,name=disk"}});
    call("target.add", {{"name", "iqn.2026-12.org.vstor:second"}, {"chap", "alice:twelve-chars-ok"}});
    call("lun.add", {{"spec", "mem:1M"}, {"target", "iqn.2026-12.org.vstor:second"}});
    call("lun.set_ro", {{"lun", 3}, {"read_only", true}});
    const auto path = (dir / "saved.toml").string();
    call("save", {{"path", path}});
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);  // it holds CHAP secrets
    std::string err;
    auto plan = cli::load_config_file(path, err);
    ASSERT_TRUE(plan) << err;
    ASSERT_EQ(plan->targets.size(), 2u);
    const auto& luns = plan->targets[0].luns;
    ASSERT_EQ(luns.size(), 3u);
    EXPECT_EQ(cli::format_lun_spec(luns[0]), "mem:16M");
    EXPECT_EQ(cli::format_lun_spec(luns[1]), "file:" + (dir / "d.img").string() + ",size=2M,name=disk");  // LUN 1
    EXPECT_EQ(cli::format_lun_spec(luns[2]), "mem:4M,ro,removable,lun=3");
    EXPECT_EQ(plan->targets[1].config.chap.secret, "twelve-chars-ok");
    EXPECT_EQ(plan->targets[1].luns.size(), 1u);
}

TEST_F(ControlPlane, PrometheusEndpointServesTheStats) {
    std::string err;
    auto m = MetricsServer::start("127.0.0.1", 0, *service, err);
    ASSERT_TRUE(m) << err;
    auto get = [&](const std::string& path) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(m->port());
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
        EXPECT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
        std::string resp;
        char buf[4096];
        for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) resp.append(buf, static_cast<std::size_t>(n));
        ::close(fd);
        return resp;
    };
    auto* ctx = login();
    unsigned char block[512] = {};
    scsi_free_scsi_task(iscsi_write10_sync(ctx, 0, 0, block, sizeof block, 512, 0, 0, 0, 0, 0));
    const auto r = get("/metrics");
    EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
    EXPECT_NE(r.find("# TYPE vstor_lun_writes_total counter"), std::string::npos);
    EXPECT_NE(r.find("vstor_lun_writes_total{target=\"iqn.2026-12.org.vstor:ctl\",lun=\"0\"} 1\n"), std::string::npos) << r;
    EXPECT_NE(r.find("vstor_session_commands_total{initiator=\"iqn.2026-12.org.test:ctl-initiator\""), std::string::npos);
    EXPECT_NE(r.find("vstor_iscsi_chap_failures_total 0\n"), std::string::npos) << r;
    EXPECT_NE(r.find("vstor_iscsi_login_timeouts_total 0\n"), std::string::npos) << r;
    EXPECT_EQ(get("/other").rfind("HTTP/1.1 404", 0), 0u);
    iscsi_logout_sync(ctx);
    iscsi_destroy_context(ctx);
    // Label values are escaped.
    const json stats{{"luns", json::array({json{{"target", "a\"b\\c\nd"}, {"lun", 1}, {"reads", 1}, {"writes", 0}, {"other", 0},
                                               {"bytes_read", 0}, {"bytes_written", 0}, {"errors", 0},
                                               {"latency_us", {{"p50", 1}, {"p90", 1}, {"p99", 1}, {"p99.9", 1}, {"max", 1}}}}})},
                     {"sessions", json::array()}};
    EXPECT_NE(render_prometheus(stats).find("target=\"a\\\"b\\\\c\\nd\""), std::string::npos);
}

}  // namespace
}  // namespace vstor::control
