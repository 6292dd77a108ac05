// The JSON-RPC error each kind of bad call gets, code and message: clients and `vstor ctl` print
// the message as it is, so the dispatch through the method registry must keep every one of them.
#include <gtest/gtest.h>

#include "control/control_rig.hpp"

namespace vstor::control {
namespace {

using test::json;
constexpr const char* kErrorsIqn = "iqn.2026-12.org.vstor:errors";

class ControlErrors : public test::ControlRig {
protected:
    void SetUp() override { start(kErrorsIqn, "mem:4M", Portal::none); }  // the target registry only
};

TEST_F(ControlErrors, UnknownMethodIsMethodNotFound) {
    EXPECT_EQ(error_of("no.such.method", json::object()),
              std::make_pair(rpc_code::method_not_found, std::string("unknown method 'no.such.method'")));
    EXPECT_EQ(error_of("", json()), std::make_pair(rpc_code::method_not_found, std::string("unknown method ''")));
    // Methods are matched exactly: no case folding, no prefixes.
    EXPECT_EQ(error_of("Status", json()).first, rpc_code::method_not_found);
    EXPECT_EQ(error_of("lun", json()).first, rpc_code::method_not_found);
    EXPECT_EQ(error_of("lun.add.x", json()).first, rpc_code::method_not_found);
}

TEST_F(ControlErrors, ParamsMustBeAnObject) {
    const std::pair<int, std::string> not_object{rpc_code::invalid_params, "params must be an object with named members"};
    EXPECT_EQ(error_of("status", json::array({1})), not_object);
    EXPECT_EQ(error_of("lun.add", json("mem:1M")), not_object);
    EXPECT_EQ(error_of("no.such.method", json::array()), not_object);  // checked before the method
    EXPECT_EQ(error_of("status", json()).first, 0);                     // absent params are fine
}

TEST_F(ControlErrors, BadParamsNameTheMember) {
    const std::vector<std::tuple<std::string, json, std::string>> cases = {
        {"lun.add", json::object(), "missing 'spec'"},
        {"lun.add", {{"spec", ""}}, "missing 'spec'"},
        {"lun.add", {{"spec", 5}}, "'spec' must be a string"},
        {"lun.add", {{"spec", "mem:1M"}, {"lun", 16384}}, "'lun' must be a whole number from 0 to 16383"},
        {"lun.add", {{"spec", "mem:1M"}, {"lun", -1}}, "'lun' must be a whole number from 0 to 16383"},
        {"lun.add", {{"spec", "mem:1M"}, {"lun", 1.5}}, "'lun' must be a whole number from 0 to 16383"},
        {"lun.add", {{"spec", "mem:1M"}, {"target", 7}}, "'target' must be a string"},
        {"lun.add", {{"spec", "mem:1M,lun=3"}, {"lun", 2}}, "'lun' and the spec's lun= differ"},
        {"lun.remove", json::object(), "missing 'lun'"},
        {"lun.remove", {{"lun", 0}, {"force", "yes"}}, "'force' must be true or false"},
        {"lun.resize", {{"lun", 0}}, "missing 'size'"},
        {"lun.resize", {{"lun", 0}, {"size", "lots"}}, "bad size 'lots' (e.g. 2G, 512M)"},
        {"lun.resize", {{"lun", 0}, {"size", "1000"}}, "size 1000 is not a multiple of the block size 512"},
        {"lun.set_ro", {{"lun", 0}}, "missing 'read_only' (true or false)"},
        {"lun.set_ro", {{"lun", 0}, {"read_only", "yes"}}, "missing 'read_only' (true or false)"},
        {"lun.eject", {{"lun", "0"}}, "'lun' must be a whole number from 0 to 16383"},
        {"lun.sanitize", {{"lun", 0}, {"method", "shred"}}, "'method' must be overwrite, block-erase or crypto-erase"},
        {"lun.progress", json::object(), "missing 'lun'"},
        {"target.add", json::object(), "missing 'name'"},
        {"target.add", {{"name", "iqn.2026-12.org.vstor:b"}, {"allow", "iqn.2026-12.org.vstor:i"}},
         "'allow' must be a list of initiator names"},
        {"target.add", {{"name", "iqn.2026-12.org.vstor:b"}, {"allow", json::array({1})}},
         "'allow' must be a list of initiator names"},
        {"target.add", {{"name", "iqn.2026-12.org.vstor:b"}, {"alias", false}}, "'alias' must be a string"},
        {"target.remove", {{"name", kErrorsIqn}, {"force", 1}}, "'force' must be true or false"},
        {"acl.allow", json::object(), "missing 'initiator'"},
        {"acl.deny", {{"initiator", json::array()}}, "'initiator' must be a string"},
        {"chap.set", json::object(), "missing 'chap'"},
        {"chap.set", {{"clear", "yes"}}, "'clear' must be true or false"},
        {"chap.set", {{"discovery", true}, {"target", kErrorsIqn}}, "'discovery' and 'target' exclude each other"},
        {"chap.set", {{"chap", "user"}}, "chap 'user': expected USER:SECRET"},
        {"save", json::object(), "serve was started without --config: give a path to save to"},
        {"save", {{"path", 3}}, "'path' must be a string"},
    };
    for (const auto& [method, params, message] : cases)
        EXPECT_EQ(error_of(method, params), std::make_pair(rpc_code::invalid_params, message))
            << method << " " << params.dump();
}

TEST_F(ControlErrors, RefusalsNameWhatIsInTheWay) {
    const std::vector<std::tuple<std::string, json, std::string>> cases = {
        {"lun.remove", {{"lun", 7}}, std::string("no LUN 7 on target ") + kErrorsIqn},
        {"lun.resize", {{"lun", 9}, {"size", "8M"}}, std::string("no LUN 9 on target ") + kErrorsIqn},
        {"lun.add", {{"spec", "mem:1M"}, {"target", "iqn.2026-12.org.vstor:nope"}}, "no target iqn.2026-12.org.vstor:nope"},
        {"lun.add", {{"spec", "mem:1M"}, {"lun", 0}}, std::string("LUN 0 of ") + kErrorsIqn + " already exists"},
        {"lun.resize", {{"lun", 0}, {"size", "1M"}},
         "shrinking LUN 0 from 4194304 to 1048576 bytes discards data (use force)"},
        {"lun.eject", {{"lun", 0}}, "LUN 0 is not removable"},
        {"target.remove", {{"name", "iqn.2026-12.org.vstor:nope"}}, "no target iqn.2026-12.org.vstor:nope"},
        {"target.add", {{"name", kErrorsIqn}}, std::string("target ") + kErrorsIqn + " already exists"},
        {"acl.deny", {{"initiator", "iqn.2026-12.org.test:absent"}},
         std::string("iqn.2026-12.org.test:absent is not in the ACL of ") + kErrorsIqn},
    };
    for (const auto& [method, params, message] : cases)
        EXPECT_EQ(error_of(method, params), std::make_pair(rpc_code::failed, message)) << method << " " << params.dump();
}

// A member the method does not take is refused, not ignored. Before: a misspelt "allow" added a
// target that admitted every initiator, and a misspelt "mutual_chap" left mutual CHAP off.
TEST_F(ControlErrors, UnknownMembersAreRefused) {
    const auto before = service->call("status", json()).dump();
    EXPECT_EQ(error_of("target.add", {{"name", "iqn.2026-12.org.vstor:b"}, {"allowed", json::array({"iqn.2026-12.org.test:i"})}}),
              std::make_pair(rpc_code::invalid_params,
                             std::string("unknown member 'allowed' (target.add takes name, alias, chap, allow)")));
    EXPECT_EQ(error_of("chap.set", {{"chap", "user:long-enough-secret"}, {"mutal_chap", "tgt:long-enough-secret"}}),
              std::make_pair(rpc_code::invalid_params,
                             std::string("unknown member 'mutal_chap' (chap.set takes target, discovery, clear, chap, "
                                         "mutual_chap)")));
    EXPECT_EQ(error_of("status", {{"verbose", true}}),
              std::make_pair(rpc_code::invalid_params, std::string("unknown member 'verbose' (status takes none)")));
    EXPECT_EQ(error_of("lun.remove", {{"lun", 0}, {"forced", true}}).first, rpc_code::invalid_params);
    EXPECT_EQ(service->call("status", json()).dump(), before);
    // What `vstor ctl` sends is taken as before.
    EXPECT_EQ(error_of("lun.add", {{"spec", "mem:1M"}, {"lun", 3}, {"target", kErrorsIqn}}).first, 0);
    EXPECT_EQ(error_of("lun.remove", {{"lun", 3}, {"force", true}, {"target", kErrorsIqn}}).first, 0);
}

// Through the JSON-RPC text layer as a client sees it.
TEST_F(ControlErrors, ErrorsReachTheClientVerbatim) {
    const auto reply = json::parse(handle_rpc_text(*service, R"({"jsonrpc":"2.0","id":1,"method":"lun.frob"})"));
    EXPECT_EQ(reply["error"]["code"], rpc_code::method_not_found);
    EXPECT_EQ(reply["error"]["message"], "unknown method 'lun.frob'");
    const auto bad = json::parse(
        handle_rpc_text(*service, R"({"jsonrpc":"2.0","id":2,"method":"lun.remove","params":{"lun":"x"}})"));
    EXPECT_EQ(bad["error"]["code"], rpc_code::invalid_params);
    EXPECT_EQ(bad["error"]["message"], "'lun' must be a whole number from 0 to 16383");
}

}  // namespace
}  // namespace vstor::control
