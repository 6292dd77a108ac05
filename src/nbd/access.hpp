// Who an NBD client is and what it may see (docs/nbd.md "Access control"). NBD has no login: a
// client's identity is what TLS proved (a PSK identity, or the CN of a client certificate that
// chains to ca=), mapped to an initiator name; the target's AccessRules (the same rules
// iSCSI logins obey) then decide, and the mask they give goes to Adapter::open_nexus as it does
// for an iSCSI session. Pure: no sockets, so unit tests drive it directly.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nbd/handshake.hpp"
#include "nbd/server.hpp"

namespace vstor::nbd {

struct AccessDecision {
    bool allowed = false;
    std::optional<std::vector<std::uint16_t>> visible_luns;  // for Adapter::open_nexus
    std::string why;                                          // when refused, for the log
};

class AccessPolicy {
public:
    explicit AccessPolicy(AccessConfig cfg) : cfg_(std::move(cfg)) {}

    // The initiator name a TLS identity stands for.
    std::string initiator_for(const std::string& tls_identity) const;
    // May a client (initiator nullopt: no authenticated identity) use LUN `lun` of the target?
    AccessDecision decide(const std::optional<std::string>& initiator, std::uint16_t target_id,
                          std::uint16_t lun) const;

private:
    AccessConfig cfg_;
};

// One client's view of the server's exports: NBD_OPT_LIST, INFO, GO, EXPORT_NAME and the meta
// context options only ever see exports the client may use, so a hidden export is reported
// exactly like one that does not exist.
class ClientCatalog final : public ExportCatalog {
public:
    ClientCatalog(const ExportCatalog& all, const AccessPolicy& policy) : all_(all), policy_(policy) {}
    // Set once the TLS handshake proved who the client is.
    void set_initiator(std::string initiator) { initiator_ = std::move(initiator); }
    const std::optional<std::string>& initiator() const { return initiator_; }

    std::optional<ExportInfo> lookup(std::string_view name) const override;
    std::vector<ExportInfo> list() const override;

private:
    const ExportCatalog& all_;
    const AccessPolicy& policy_;
    std::optional<std::string> initiator_;
};

}  // namespace vstor::nbd
