#include "cli/ctl.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>

#include "config/lun_spec.hpp"
#include "cli/progress.hpp"
#include "control/rpc_client.hpp"
#include "control/rpc_server.hpp"

namespace vstor::cli {

using nlohmann::json;

namespace {

constexpr std::chrono::milliseconds kWaitingNoticeAfter{5000};

std::string human_size(std::uint64_t bytes) {
    static const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    unsigned i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        ++i;
    }
    return i == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, unit[i]);
}

void print_status(const json& s) {
    std::string portals;
    for (const auto& p : s["portals"]) portals += (portals.empty() ? "" : ", ") + p.get<std::string>();
    fmt::print("portals: {}\n", portals);
    if (s.contains("discovery_chap"))
        fmt::print("discovery chap: {}\n", s["discovery_chap"]["chap"].get<bool>()
                                               ? (s["discovery_chap"]["mutual_chap"].get<bool>() ? "mutual" : "on")
                                               : "off");
    for (const auto& t : s["targets"]) {
        const auto& allow = t["allow"];
        std::string acl = allow.empty() ? "everyone" : "";
        for (const auto& a : allow) acl += (acl.empty() ? "" : ", ") + a.get<std::string>();
        fmt::print("target {}{}  chap: {}  allow: {}\n", t["name"].get<std::string>(),
                   t["alias"].get<std::string>().empty() ? "" : " (" + t["alias"].get<std::string>() + ")",
                   t["chap"].get<bool>() ? (t["mutual_chap"].get<bool>() ? "mutual" : "on") : "off", acl);
        if (t["luns"].empty()) fmt::print("  (no LUNs)\n");
        for (const auto& l : t["luns"]) {
            std::string flags = l["read_only"].get<bool>() ? "ro" : "rw";
            if (l["thin"].get<bool>()) flags += ",thin";
            if (l["removable"].get<bool>()) flags += l["medium_present"].get<bool>() ? ",removable" : ",removable(ejected)";
            if (l["reserved"].get<bool>()) flags += ",reserved by " + l["reservation_holder"].get<std::string>();
            fmt::print("  LUN {:<3} {:<5} {:>10}  {}-byte blocks  {}  {}\n", l["lun"].get<int>(),
                       l["backend"].get<std::string>(), human_size(l["size_bytes"].get<std::uint64_t>()),
                       l["block_size"].get<int>(), flags, l["spec"].get<std::string>());
        }
    }
    fmt::print("sessions: {}\n", s["sessions"].size());
    for (const auto& x : s["sessions"]) {
        std::string conns;
        for (const auto& c : x["connections"]) conns += (conns.empty() ? "" : ", ") + c.get<std::string>();
        fmt::print("  {} isid {} tsih {} -> {}  connections: {}\n", x["initiator"].get<std::string>(),
                   x["isid"].get<std::string>(), x["tsih"].get<int>(),
                   x["discovery"].get<bool>() ? "(discovery)" : x["target"].get<std::string>(), conns);
    }
}

void print_stats(const json& s) {
    fmt::print("{:<40} {:>4} {:>10} {:>10} {:>10} {:>10} {:>6} {:>8} {:>8} {:>8}\n", "target", "lun", "reads", "writes",
               "read", "written", "errors", "p50 us", "p99 us", "max us");
    for (const auto& l : s["luns"]) {
        const auto& lat = l["latency_us"];
        fmt::print("{:<40} {:>4} {:>10} {:>10} {:>10} {:>10} {:>6} {:>8} {:>8} {:>8}\n", l["target"].get<std::string>(),
                   l["lun"].get<int>(), l["reads"].get<std::uint64_t>(), l["writes"].get<std::uint64_t>(),
                   human_size(l["bytes_read"].get<std::uint64_t>()), human_size(l["bytes_written"].get<std::uint64_t>()),
                   l["errors"].get<std::uint64_t>(), lat["p50"].get<std::uint64_t>(), lat["p99"].get<std::uint64_t>(),
                   lat["max"].get<std::uint64_t>());
    }
    if (s.contains("iscsi"))
        fmt::print("\niscsi logins: {} CHAP failures, {} login timeouts\n", s["iscsi"]["chap_failures"].get<std::uint64_t>(),
                   s["iscsi"]["login_timeouts"].get<std::uint64_t>());
    if (!s["sessions"].empty()) fmt::print("\n{:<50} {:>10} {:>10} {:>10} {:>6}\n", "session", "commands", "in", "out", "errors");
    for (const auto& x : s["sessions"]) {
        fmt::print("{:<50} {:>10} {:>10} {:>10} {:>6}\n", x["initiator"].get<std::string>() + " " + x["isid"].get<std::string>(),
                   x["commands"].get<std::uint64_t>(), human_size(x["bytes_in"].get<std::uint64_t>()),
                   human_size(x["bytes_out"].get<std::uint64_t>()), x["errors"].get<std::uint64_t>());
    }
}

// A server still building its LUNs has claimed its socket but answers only once they are built
// (one that waits for a cluster may take minutes), and a change may wait for its backend: the
// user is told after a while that the call is waiting, and --timeout bounds the wait.
control::CallOptions call_options(const CtlOptions& o, const std::string& path) {
    control::CallOptions c;
    c.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout_s * 1000));
    c.notice_after = kWaitingNoticeAfter;
    c.on_waiting = [path] {
        fmt::print(stderr,
                   "vstor ctl: no answer yet from {} after {} s (a server answers once its LUNs are built; "
                   "--timeout SECONDS bounds the wait)\n",
                   path, kWaitingNoticeAfter.count() / 1000);
        std::fflush(stderr);
    };
    return c;
}

}  // namespace

void add_ctl_command(CLI::App& app, CtlOptions& o) {
    auto* ctl = app.add_subcommand("ctl", "Change a running `vstor serve` (JSON-RPC over its control socket)");
    ctl->add_option("--control", o.control, "control socket (default: " + control::default_control_path() + ")");
    ctl->add_flag("--json", o.json, "print the JSON result instead of text");
    ctl->add_option("--timeout", o.timeout_s, "give up after SECONDS without an answer (default: wait for it)")
        ->check(CLI::Range(0.0, 86400.0));
    ctl->require_subcommand(1);
    auto method = [&o](CLI::App* sub, const char* m) { sub->callback([&o, m] { o.method = m; }); };
    auto target_opt = [&o](CLI::App* sub) { sub->add_option("--target", o.target, "target IQN (default: the first)"); };

    method(ctl->add_subcommand("status", "targets, portals, LUNs and sessions"), "status");
    method(ctl->add_subcommand("stats", "per-LUN and per-session counters and latency"), "stats");
    auto* save = ctl->add_subcommand("save", "write the running configuration to the TOML file (atomically)");
    save->add_option("path", o.path, "file (default: the --config file serve started from)");
    method(save, "save");

    auto* lun = ctl->add_subcommand("lun", "add, remove, resize, protect, eject or insert a LUN");
    lun->require_subcommand(1);
    auto* add = lun->add_subcommand("add", "add a LUN: SPEC as for serve --lun (e.g. mem:1G, file:/srv/d.img,size=8G)");
    add->add_option("spec", o.spec, "LUN spec")->required();
    add->add_option("--lun", o.lun, "LUN number (default: the lowest free)");
    target_opt(add);
    method(add, "lun.add");
    auto* rm = lun->add_subcommand("remove", "remove a LUN (refused while reserved or busy unless --force)");
    rm->add_option("lun", o.lun, "LUN number")->required();
    rm->add_flag("--force", o.force, "abort its commands and drop reservations");
    target_opt(rm);
    method(rm, "lun.remove");
    auto* rs = lun->add_subcommand("resize", "change a LUN's size (shrinking needs --force)");
    rs->add_option("lun", o.lun, "LUN number")->required();
    rs->add_option("size", o.size, "new size, e.g. 2G")->required();
    rs->add_flag("--force", o.force, "allow shrinking");
    target_opt(rs);
    method(rs, "lun.resize");
    auto* ro = lun->add_subcommand("set-ro", "write-protect a LUN (on) or lift it (off)");
    ro->add_option("lun", o.lun, "LUN number")->required();
    ro->add_option("state", o.state, "on or off")->required()->check(CLI::IsMember({"on", "off"}));
    target_opt(ro);
    method(ro, "lun.set_ro");
    auto* ej = lun->add_subcommand("eject", "eject a removable LUN's medium");
    ej->add_option("lun", o.lun, "LUN number")->required();
    ej->add_flag("--force", o.force, "eject even if an initiator prevents removal");
    target_opt(ej);
    method(ej, "lun.eject");
    auto* in = lun->add_subcommand("insert", "insert a removable LUN's medium again");
    in->add_option("lun", o.lun, "LUN number")->required();
    target_opt(in);
    method(in, "lun.insert");

    auto* san = lun->add_subcommand("sanitize", "SANITIZE a LUN (all its data is destroyed), showing progress");
    san->add_option("lun", o.lun, "LUN number")->required();
    san->add_option("--method", o.state, "block-erase (default), overwrite or crypto-erase")
        ->check(CLI::IsMember({"block-erase", "overwrite", "crypto-erase"}));
    target_opt(san);
    method(san, "lun.sanitize");

    auto* tgt = ctl->add_subcommand("target", "add or remove a target");
    tgt->require_subcommand(1);
    auto* tadd = tgt->add_subcommand("add", "add a target (then `lun add --target`)");
    tadd->add_option("name", o.name, "target IQN")->required();
    tadd->add_option("--alias", o.alias, "TargetAlias");
    tadd->add_option("--chap", o.chap, "require CHAP USER:SECRET");
    tadd->add_option("--allow", o.allow, "initiator IQN allowed (repeatable; default everyone)");
    method(tadd, "target.add");
    auto* trm = tgt->add_subcommand("remove", "remove a target, its LUNs and sessions");
    trm->add_option("name", o.name, "target IQN")->required();
    trm->add_flag("--force", o.force, "even with sessions or reservations");
    method(trm, "target.remove");

    auto* acl = ctl->add_subcommand("acl", "initiators allowed to log in to a target");
    acl->require_subcommand(1);
    auto* allow = acl->add_subcommand("allow", "allow an initiator IQN");
    allow->add_option("initiator", o.initiator, "initiator IQN")->required();
    target_opt(allow);
    method(allow, "acl.allow");
    auto* deny = acl->add_subcommand("deny", "remove an initiator IQN from the ACL and close its sessions");
    deny->add_option("initiator", o.initiator, "initiator IQN")->required();
    target_opt(deny);
    method(deny, "acl.deny");

    auto* chap = ctl->add_subcommand("chap", "CHAP credentials of a target or of discovery sessions");
    chap->require_subcommand(1);
    auto* cset = chap->add_subcommand("set", "require CHAP USER:SECRET for new logins (or --clear)");
    cset->add_flag("--discovery", o.discovery, "for discovery (SendTargets) sessions instead of a target");
    cset->add_option("credentials", o.chap, "USER:SECRET (secret of 12+ characters)");
    cset->add_option("--mutual", o.mutual, "target's own USER:SECRET (mutual CHAP)");
    cset->add_flag("--clear", o.clear, "stop requiring CHAP");
    target_opt(cset);
    method(cset, "chap.set");
}

int run_ctl(const CtlOptions& o) {
    json params = json::object();
    auto put = [&](const char* key, const std::string& v) {
        if (!v.empty()) params[key] = v;
    };
    put("target", o.target);
    if (o.lun) params["lun"] = *o.lun;
    if (o.force) params["force"] = true;
    const std::string& m = o.method;
    if (m == "lun.add") put("spec", o.spec);
    if (m == "lun.resize") put("size", o.size);
    if (m == "lun.set_ro") params["read_only"] = o.state == "on";
    if (m == "target.add" || m == "target.remove") {
        params.erase("target");
        put("name", o.name);
        put("alias", o.alias);
        put("chap", o.chap);
        if (!o.allow.empty()) params["allow"] = o.allow;
    }
    if (m == "acl.allow" || m == "acl.deny") put("initiator", o.initiator);
    if (m == "chap.set") {
        if (o.clear == !o.chap.empty()) {
            fmt::print(stderr, "vstor ctl chap set: give USER:SECRET or --clear\n");
            return 2;
        }
        if (o.clear) params["clear"] = true;
        if (o.discovery) {
            if (!o.target.empty()) {
                fmt::print(stderr, "vstor ctl chap set: --discovery and --target exclude each other\n");
                return 2;
            }
            params["discovery"] = true;
        }
        put("chap", o.chap);
        put("mutual_chap", o.mutual);
    }
    if (m == "save") put("path", o.path);
    if (m == "lun.sanitize") {
        params.erase("force");
        put("method", o.state);
    }

    const auto path = o.control.empty() ? control::default_control_path() : o.control;
    const auto call = call_options(o, path);
    const auto r = control::call_control(path, m, params, call);
    if (!r.result) {
        fmt::print(stderr, "vstor ctl: {}\n", r.error);
        return 1;
    }
    if (m == "lun.sanitize") {  // follow it through REQUEST SENSE until it is done
        Progress progress(fmt::format("sanitizing LUN {}", *o.lun), 100);
        json q = json::object();
        if (!o.target.empty()) q["target"] = o.target;
        q["lun"] = *o.lun;
        for (;;) {
            const auto s = control::call_control(path, "lun.progress", q, call);
            if (!s.result) {
                fmt::print(stderr, "\nvstor ctl: {}\n", s.error);
                return 1;
            }
            if (!(*s.result)["in_progress"].get<bool>()) break;
            progress.update(static_cast<std::uint64_t>((*s.result).value("percent", 0.0)));
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        progress.finish();
        fmt::print("LUN {} sanitized\n", *o.lun);
        return 0;
    }
    if (o.json) {
        fmt::print("{}\n", r.result->dump(2));
    } else if (m == "status") {
        print_status(*r.result);
    } else if (m == "stats") {
        print_stats(*r.result);
    } else if (m == "save") {
        fmt::print("saved to {}\n", (*r.result)["path"].get<std::string>());
    } else {
        fmt::print("ok: {}\n", r.result->dump());
    }
    return 0;
}

}  // namespace vstor::cli
