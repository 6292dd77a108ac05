#include "iscsi/login.hpp"

#include <algorithm>
#include <cstring>

#include "iscsi/chap.hpp"

namespace vstor::iscsi {

Login::Login(ChapCredentials discovery_chap, std::shared_ptr<const TargetList> targets, std::uint16_t portal_group_tag)
    : discovery_chap_(std::move(discovery_chap)), targets_(std::move(targets)), tpgt_(portal_group_tag) {}

Pdu Login::make_response(bool transit, Stage csg, Stage nsg, std::uint16_t status) {
    Pdu r;
    const auto h = r.init<LoginResponseBhs>();
    h.set_stages(transit, false, static_cast<std::uint8_t>(csg), static_cast<std::uint8_t>(nsg));
    h.set_version_max(0x00);
    h.set_version_active(0x00);
    h.set_isid(isid_);
    h.set_tsih(tsih_);
    h.set_itt(itt_);
    h.set_statsn(statsn_);
    h.set_exp_cmdsn(cmdsn_);
    h.set_max_cmdsn(cmdsn_ + TargetLimits::cmd_window - 1);
    h.set_status(status);
    return r;
}

Login::Step Login::fail(std::uint16_t status) {
    return {Outcome::fail, make_response(false, csg_, csg_, status)};
}

const ChapCredentials* Login::required_chap() const {
    if (keys_.session_type == SessionType::discovery)
        return discovery_chap_.enabled() ? &discovery_chap_ : nullptr;
    return target_ && target_->chap.enabled() ? &target_->chap : nullptr;
}

// Security stage (RFC 7143 12.1): AuthMethod, then the CHAP exchange when credentials are set.
std::string Login::authenticate(const KeyValues& in, KeyValues& out, bool& done) {
    const ChapCredentials* creds = required_chap();
    done = false;
    if (auth_ == AuthState::start) {
        auto methods = find_key(in, "AuthMethod");
        if (!methods) {
            if (creds) return "authentication required";
            auth_ = AuthState::done;
            done = true;
            return {};
        }
        bool offers_chap = false, offers_none = false;
        std::size_t pos = 0;
        const std::string& m = *methods;
        while (pos <= m.size()) {
            const auto end = std::min(m.find(',', pos), m.size());
            const auto item = m.substr(pos, end - pos);
            offers_chap |= item == "CHAP";
            offers_none |= item == "None";
            pos = end + 1;
        }
        if (creds) {
            if (!offers_chap) return "authentication required";
            out.emplace_back("AuthMethod", "CHAP");
            use_chap_ = true;
            auth_ = AuthState::wait_chap_a;
            return {};
        }
        if (!offers_none) {
            out.emplace_back("AuthMethod", "Reject");
            return "no acceptable AuthMethod";
        }
        out.emplace_back("AuthMethod", "None");
        auth_ = AuthState::done;
        done = true;
        return {};
    }
    if (auth_ == AuthState::wait_chap_a) {
        auto algs = find_key(in, "CHAP_A");
        if (!algs) return "expected CHAP_A";
        bool md5 = false;
        std::size_t pos = 0;
        while (pos <= algs->size()) {
            const auto end = std::min(algs->find(',', pos), algs->size());
            md5 |= algs->substr(pos, end - pos) == "5";
            pos = end + 1;
        }
        if (!md5) {
            out.emplace_back("CHAP_A", "Reject");
            return "CHAP algorithm MD5 (5) not offered";
        }
        chap_id_ = chap::random_id();
        chap_challenge_ = chap::random_challenge();
        out.emplace_back("CHAP_A", "5");
        out.emplace_back("CHAP_I", std::to_string(chap_id_));
        out.emplace_back("CHAP_C", chap::encode_hex(chap_challenge_));
        auth_ = AuthState::wait_chap_response;
        return {};
    }
    if (auth_ == AuthState::wait_chap_response) {
        auto name = find_key(in, "CHAP_N");
        auto resp = find_key(in, "CHAP_R");
        if (!name || !resp) return "expected CHAP_N and CHAP_R";
        auto got = chap::decode_binary(*resp);
        if (!got || *name != creds->user || *got != chap::response(chap_id_, creds->secret, chap_challenge_)) {
            chap_check_ = ChapCheck::failed;
            return "CHAP authentication failed for user '" + *name + "'";
        }
        chap_check_ = ChapCheck::passed;
        // Mutual CHAP: the initiator challenges the target back.
        auto id = find_key(in, "CHAP_I");
        auto challenge = find_key(in, "CHAP_C");
        if (id || challenge) {
            if (!id || !challenge || creds->mutual_user.empty()) return "mutual CHAP not configured";
            auto n = parse_number(*id);
            auto c = chap::decode_binary(*challenge);
            if (!n || *n > 255 || !c || c->empty()) return "bad mutual CHAP challenge";
            // A reflected challenge would let an attacker use us as an oracle (RFC 7143 12.1.3).
            if (*c == chap_challenge_) return "reflected CHAP challenge";
            out.emplace_back("CHAP_N", creds->mutual_user);
            out.emplace_back("CHAP_R", chap::encode_hex(chap::response(static_cast<std::uint8_t>(*n),
                                                                        creds->mutual_secret, *c)));
        } else if (!creds->mutual_user.empty()) {
            return "target requires mutual CHAP";
        }
        auth_ = AuthState::done;
        done = true;
        return {};
    }
    done = true;
    return {};
}

Login::Step Login::on_pdu(const Pdu& req) {
    chap_check_ = ChapCheck::none;
    Step s = step(req);
    s.chap = chap_check_;
    return s;
}

Login::Step Login::step(const Pdu& req) {
    const auto h = req.as<LoginRequestBhs>();
    const bool transit = h.transit();
    const bool cont = h.continue_bit();
    const auto csg = static_cast<Stage>(h.csg());
    const auto nsg = static_cast<Stage>(h.nsg());
    if (first_pdu_) {
        std::memcpy(isid_, h.isid(), sizeof isid_);
        tsih_ = h.tsih();
        cid_ = h.cid();
        cmdsn_ = h.cmdsn();
        csg_ = csg;
        if (h.version_min() != 0x00) return fail(login_status::unsupported_version);  // version-min must be 0
    }
    itt_ = h.itt();
    statsn_ = h.exp_statsn();  // each login response carries the StatSN the initiator expects
    if (transit && cont) return fail(login_status::initiator_error);  // RFC 7143 11.12.2
    if (csg == Stage::full_feature || csg != csg_ ||
        (transit && (nsg == Stage::security || static_cast<int>(nsg) == 2 ||
                     static_cast<int>(nsg) <= static_cast<int>(csg))))
        return fail(login_status::initiator_error);
    if (req.immediate() == false && !first_pdu_) {
        // Login PDUs are always immediate; tolerate initiators that do not set the bit.
    }

    if (pending_text_.size() + req.data.size() > kMaxRequestText) {
        // Class 2 (initiator error): the request, not the target, is at fault (RFC 7143 11.13.5).
        failure_ = "login text longer than " + std::to_string(kMaxRequestText) + " bytes";
        return fail(login_status::initiator_error);
    }
    pending_text_.insert(pending_text_.end(), req.data.begin(), req.data.end());
    if (cont) {  // more text follows: acknowledge with an empty response
        first_pdu_ = false;
        return {Outcome::respond, make_response(false, csg, csg, login_status::success)};
    }
    KeyValues in;
    if (!parse_text(pending_text_, in).empty()) return fail(login_status::initiator_error);
    pending_text_.clear();

    KeyValues out;
    if (auto err = negotiate_keys(in, out, params_, keys_, csg == Stage::operational); !err.empty())
        return fail(login_status::initiator_error);
    if (first_pdu_) {
        first_pdu_ = false;
        if (keys_.initiator_name.empty()) return fail(login_status::missing_parameter);
        if (keys_.session_type == SessionType::normal) {
            if (keys_.target_name.empty()) return fail(login_status::missing_parameter);
            for (const auto& t : *targets_)
                if (t->name == keys_.target_name) target_ = t;
            if (!target_) return fail(login_status::not_found);
            if (!target_->admits(keys_.initiator_name)) return fail(login_status::authorization_failure);
        }
    } else if (!keys_.target_name.empty() && target_ && keys_.target_name != target_->name) {
        return fail(login_status::initiator_error);  // declarative key changed mid-login
    }

    bool may_transit = true;
    if (csg == Stage::security) {
        bool done = false;
        if (auto err = authenticate(in, out, done); !err.empty()) {
            failure_ = std::move(err);
            return fail(login_status::authentication_failure);
        }
        may_transit = done;
    } else if (auth_ != AuthState::done) {
        // Skipping the security stage is only allowed when no authentication is required.
        if (required_chap()) return fail(login_status::authentication_failure);
        auth_ = AuthState::done;
    }
    if (keys_.session_type == SessionType::normal && target_ && !tpgt_sent_) {
        out.emplace_back("TargetPortalGroupTag", std::to_string(tpgt_));
        if (!target_->alias.empty()) out.emplace_back("TargetAlias", target_->alias);
        tpgt_sent_ = true;
    }

    const bool will_transit = transit && may_transit;
    Pdu r = make_response(will_transit, csg, nsg, login_status::success);
    for (const auto& [k, v] : out) append_text(r.data, k, v);
    if (will_transit) {
        csg_ = nsg;
        if (nsg == Stage::full_feature) {
            final_nsg_ = nsg;
            pending_response_ = std::move(r);
            return {Outcome::ready_to_bind, {}};
        }
    }
    return {Outcome::respond, std::move(r)};
}

Pdu Login::finish(std::uint16_t tsih, std::uint16_t status) {
    if (status != login_status::success) return make_response(false, Stage::operational, Stage::operational, status);
    tsih_ = tsih;
    Pdu r = std::move(pending_response_);
    r.as<LoginResponseBhs>().set_tsih(tsih_);
    return r;
}

}  // namespace vstor::iscsi
