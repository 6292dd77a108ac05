// `vstor ctl lun sanitize` and `lun progress`: SCSI commands the control plane sends to a LUN on
// a nexus of its own (SANITIZE, then REQUEST SENSE for its progress).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

#include "control/control_context.hpp"
#include "control/control_service.hpp"
#include "control/method_registry.hpp"
#include "control/params.hpp"
#include "util/endian.hpp"
#include "vstor/lun_address.hpp"
#include "vstor/sense.hpp"

namespace vstor::control {

using nlohmann::json;

namespace {
// Sense comes in fixed or descriptor format, whichever the LUN's D_SENSE bit says: always decode it.
bool is_unit_attention(std::span<const std::uint8_t> sense) {
    const auto s = scsi::decode_sense(sense);
    return s && s->key == scsi::sense_key::unit_attention;
}

// Runs one SCSI command on the LUN through the control plane's own I_T nexus and waits.
Completion run_command(ControlContext& ctx, const cli::TargetPlan& tp, std::uint16_t lun, std::vector<std::uint8_t> cdb,
                       std::vector<std::uint8_t>& data, DataDirection dir) {
    const auto nexus = ctx.control_nexus(tp);
    if (!nexus) refuse("target " + tp.config.name + " is gone");
    Command cmd;
    cmd.nexus = nexus;
    cmd.lun = encode_sam_lun(lun);
    std::copy(cdb.begin(), cdb.end(), cmd.cdb.begin());
    cmd.cdb_len = static_cast<std::uint8_t>(cdb.size());
    cmd.dir = dir;
    cmd.expected_length = static_cast<std::uint32_t>(data.size());
    cmd.data = std::as_writable_bytes(std::span(data));
    for (int attempt = 0; attempt < 4; ++attempt) {  // unit attentions are for initiators: pass them
        std::promise<Completion> done;
        ctx.adapter.submit(cmd, [&](const Completion& c) { done.set_value(c); });
        const auto c = done.get_future().get();
        if (c.status != scsi_status::check_condition || !is_unit_attention(c.sense_bytes())) return c;
    }
    refuse("the LUN keeps reporting unit attentions");
}

std::string describe_failure(const Completion& c) {
    if (c.status == scsi_status::reservation_conflict) return "another initiator holds a reservation on it";
    const auto s = c.status == scsi_status::check_condition ? scsi::decode_sense(c.sense_bytes()) : std::nullopt;
    if (!s) return fmt::format("SCSI status {:#04x}", c.status);
    if (s->key == scsi::sense_key::data_protect) return "it is write-protected";
    if (s->is(scsi::sense_key::not_ready, 0x04, 0x1b)) return "a SANITIZE is already running on it";
    if (s->key == scsi::sense_key::not_ready && s->asc == 0x3a) return "its medium is ejected";
    return fmt::format("sense key {:#x}, ASC/ASCQ {:02x}/{:02x}", s->key, s->asc, s->ascq);
}

json lun_sanitize(ControlContext& ctx, const json& p) {
    auto& tp = ctx.target_plan(p);
    const auto lun = req_lun(p);
    ctx.lun_plan(tp, lun);
    const auto method = opt_string(p, "method").value_or("block-erase");
    std::uint8_t sa = 0;
    if (method == "overwrite") sa = 0x01;
    else if (method == "block-erase") sa = 0x02;
    else if (method == "crypto-erase") sa = 0x03;
    else throw RpcError(rpc_code::invalid_params, "'method' must be overwrite, block-erase or crypto-erase");
    const auto info = ctx.lun_info(tp, lun);
    const std::uint32_t bs = info ? info->block_size : 512;
    std::vector<std::uint8_t> params;
    if (sa == 0x01) {  // one pass of zeroes (SBC-4 5.30.2.2)
        params.assign(4 + bs, 0);
        params[0] = 0x01;  // OWCOUNT
        util::store_be16(&params[2], static_cast<std::uint16_t>(bs));
    }
    std::vector<std::uint8_t> cdb(10, 0);
    cdb[0] = 0x48;
    cdb[1] = static_cast<std::uint8_t>(0x80 | sa);  // IMMED: progress shows in REQUEST SENSE
    util::store_be16(&cdb[7], static_cast<std::uint16_t>(params.size()));
    const auto dir = params.empty() ? DataDirection::none : DataDirection::write;
    const auto c = ctx.unlocked([&] { return run_command(ctx, tp, lun, cdb, params, dir); });
    if (c.status != scsi_status::good)
        refuse(fmt::format("SANITIZE of LUN {} refused: {}", lun, describe_failure(c)));
    spdlog::info("control: SANITIZE ({}) of LUN {} of {} started", method, lun, tp.config.name);
    return json{{"target", tp.config.name}, {"lun", lun}, {"method", method}};
}

json lun_progress(ControlContext& ctx, const json& p) {
    auto& tp = ctx.target_plan(p);
    const auto lun = req_lun(p);
    ctx.lun_plan(tp, lun);
    // REQUEST SENSE hands over a pending unit attention as its data (with GOOD status) before the
    // current condition: pass those too, as run_command does for CHECK CONDITION.
    std::optional<scsi::Sense> sense;
    for (int attempt = 0; attempt < 4 && (!sense || sense->key == scsi::sense_key::unit_attention); ++attempt) {
        std::vector<std::uint8_t> data(252, 0);
        const auto c = run_command(ctx, tp, lun, {0x03, 0, 0, 0, static_cast<std::uint8_t>(data.size()), 0}, data,
                                   DataDirection::read);
        if (c.status != scsi_status::good) refuse("REQUEST SENSE failed: " + describe_failure(c));
        sense = scsi::decode_sense(std::span(data).first(std::min<std::size_t>(c.data_in_len, data.size())));
        if (!sense) refuse("REQUEST SENSE returned no sense data");
    }
    if (sense->key == scsi::sense_key::unit_attention) refuse("the LUN keeps reporting unit attentions");
    // NOT READY, LOGICAL UNIT NOT READY, SANITIZE IN PROGRESS with the progress indication (SPC-5 4.4.1.7).
    const bool running = sense->is(scsi::sense_key::not_ready, 0x04, 0x1b);
    json out{{"target", tp.config.name}, {"lun", lun}, {"in_progress", running}};
    if (running && sense->progress) out["percent"] = *sense->progress * 100.0 / 65536.0;
    return out;
}

}  // namespace

void register_sanitize_methods(MethodRegistry& r) {
    using K = ParamKind;
    r.add("lun.sanitize", {{"target", K::text}, {"lun", K::lun, true}, {"method", K::text}}, lun_sanitize);
    r.add_reader("lun.progress", {{"target", K::text}, {"lun", K::lun, true}}, lun_progress);
}

}  // namespace vstor::control
