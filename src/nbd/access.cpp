#include "nbd/access.hpp"

namespace vstor::nbd {

std::string AccessPolicy::initiator_for(const std::string& tls_identity) const {
    for (const auto& [id, initiator] : cfg_.identities)
        if (id == tls_identity) return initiator;
    return tls_identity;
}

AccessDecision AccessPolicy::decide(const std::optional<std::string>& initiator, std::uint16_t target_id,
                                    std::uint16_t lun) const {
    const auto rules = cfg_.rules ? cfg_.rules(target_id) : std::nullopt;
    if (!rules || !rules->guarded()) return {true, std::nullopt, {}};
    if (!initiator) {
        if (cfg_.insecure_unauthenticated) return {true, std::nullopt, {}};
        return {false, std::nullopt, "the target is guarded and the client has no TLS identity"};
    }
    if (!rules->admits(*initiator)) return {false, std::nullopt, *initiator + " is not allowed on the target"};
    if (!rules->sees(*initiator, lun))
        return {false, std::nullopt, "LUN " + std::to_string(lun) + " is masked for " + *initiator};
    return {true, rules->visible_luns(*initiator), {}};
}

std::optional<ExportInfo> ClientCatalog::lookup(std::string_view name) const {
    auto e = all_.lookup(name);
    if (!e || !policy_.decide(initiator_, e->target_id, e->lun).allowed) return std::nullopt;
    return e;
}

std::vector<ExportInfo> ClientCatalog::list() const {
    auto all = all_.list();
    std::erase_if(all, [&](const ExportInfo& e) { return !policy_.decide(initiator_, e.target_id, e.lun).allowed; });
    return all;
}

}  // namespace vstor::nbd
