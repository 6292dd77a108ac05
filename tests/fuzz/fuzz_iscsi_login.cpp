// libFuzzer target: the login state machine and key negotiation (security, CHAP, operational
// stages) fed with a sequence of arbitrary login PDUs.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "iscsi/login.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vstor::iscsi;
    static const ServerConfig config = [] {
        ServerConfig c;
        TargetConfig open;
        open.name = "iqn.2026-11.org.vstor:open";
        open.adapter_target_id = 0;
        TargetConfig chap = open;
        chap.name = "iqn.2026-11.org.vstor:chap";
        chap.chap = ChapCredentials{"user", "secretsecret12", "tgt", "mutualsecret12"};
        chap.allowed_initiators = {"iqn.2026-11.org.test:allowed"};
        c.targets = {open, chap};
        c.portals.push_back(PortalConfig{});
        return c;
    }();
    static const auto targets = [] {
        auto l = std::make_shared<TargetList>();
        for (const auto& t : config.targets) l->push_back(std::make_shared<const TargetConfig>(t));
        return std::shared_ptr<const TargetList>(l);
    }();
    Login login(config, targets, 1);
    std::size_t pos = 0;
    // Each PDU: a 2-byte data length, 48 BHS bytes, then that much data.
    while (pos + 2 + kBhsLength <= size) {
        const std::size_t len = (std::size_t{data[pos]} << 8 | data[pos + 1]) & 0x1fff;
        pos += 2;
        Pdu pdu;
        std::memcpy(pdu.bhs.data(), data + pos, kBhsLength);
        pos += kBhsLength;
        const std::size_t n = std::min(len, size - pos);
        pdu.data.assign(data + pos, data + pos + n);
        pos += n;
        const auto step = login.on_pdu(pdu);
        if (step.outcome == Login::Outcome::fail) break;
        if (step.outcome == Login::Outcome::ready_to_bind) {
            (void)login.finish(1, login_status::success);
            break;
        }
    }
    return 0;
}
