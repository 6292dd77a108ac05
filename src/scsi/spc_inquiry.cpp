// SPC-5 6.7 INQUIRY: standard data and the vital product data pages.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "scsi/command_table.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/families.hpp"
#include "scsi/target.hpp"
#include "scsi/vpd.hpp"
#include "util/endian.hpp"

namespace vstor::scsi {

using util::load_be16;
using util::store_be16;

namespace {

void put_padded(std::uint8_t* dst, const std::string& s, std::size_t n) {
    std::memset(dst, ' ', n);
    std::memcpy(dst, s.data(), std::min(n, s.size()));
}

std::vector<std::uint8_t> standard_inquiry(const Task& t) {
    std::vector<std::uint8_t> d(96, 0);
    if (!t.lu) {
        d[0] = 0x7f;  // peripheral qualifier 011b: no LUN here; device type unknown
    } else {
        d[0] = 0x00;  // direct access block device
        d[1] = t.lu->removable() ? 0x80 : 0x00;
    }
    d[2] = 0x06;  // SPC-4: the newest version code current initiators (libiscsi 1.19) accept
    d[3] = 0x02 | 0x10;  // response data format 2, HISUP
    d[4] = static_cast<std::uint8_t>(d.size() - 5);
    // 3PC: EXTENDED COPY is supported. TPGS 01b (implicit ALUA) on a shared LUN, else 00b.
    d[5] = static_cast<std::uint8_t>(0x08 | (t.lu && t.lu->alua() ? 0x10 : 0x00));
    d[6] = 0x00;
    d[7] = 0x02;  // CMDQUE
    const std::string vendor = t.lu ? t.lu->vendor() : "VSTOR";
    put_padded(&d[8], vendor, 8);
    put_padded(&d[16], t.lu ? t.lu->product() : "NO-LUN", 16);
    put_padded(&d[32], "0001", 4);
    // Version descriptors (SPC-5 table 150): SAM-5, SPC-4, SPC-5, SBC-3, SBC-4, iSCSI.
    const std::uint16_t versions[] = {0x00a0, 0x0460, 0x05c0, 0x04c0, 0x0600, 0x0960};
    for (std::size_t i = 0; i < std::size(versions); ++i) store_be16(&d[58 + 2 * i], versions[i]);
    return d;
}

std::vector<std::uint8_t> vpd_supported(const Task&);

std::vector<std::uint8_t> vpd_serial(const Task& t) {
    const std::string s = t.lu->serial();
    std::vector<std::uint8_t> d(4 + s.size());
    std::memcpy(&d[4], s.data(), s.size());
    vpd_header(d, 0x80);
    return d;
}

std::vector<std::uint8_t> vpd_device_id(const Task& t) {
    std::vector<std::uint8_t> d(4, 0);
    auto add = [&](std::uint8_t code_set, std::uint8_t piv_assoc_type, const std::vector<std::uint8_t>& id) {
        d.push_back(code_set);
        d.push_back(piv_assoc_type);
        d.push_back(0);
        d.push_back(static_cast<std::uint8_t>(id.size()));
        d.insert(d.end(), id.begin(), id.end());
    };
    // NAA, binary, associated with the logical unit.
    std::vector<std::uint8_t> naa(8);
    util::store_be64(naa.data(), t.lu->naa_id());
    add(0x01, 0x03, naa);
    // T10 vendor id: vendor (8) + serial, ASCII.
    std::vector<std::uint8_t> t10(8, ' ');
    const auto& v = t.lu->vendor();
    std::copy_n(v.begin(), std::min<std::size_t>(8, v.size()), t10.begin());
    const auto serial = t.lu->serial();
    t10.insert(t10.end(), serial.begin(), serial.end());
    add(0x02, 0x01, t10);
    // Relative target port identifier (PIV=1, association = target port).
    std::vector<std::uint8_t> rel(4, 0);
    store_be16(&rel[2], t.nexus ? t.nexus->relative_port() : 1);
    add(0x91, 0x14, rel);
    // Target port group (also without TPGS the group is identified).
    std::vector<std::uint8_t> tpg(4, 0);
    store_be16(&tpg[2], t.nexus ? t.nexus->port_group() : 1);
    add(0x91, 0x15, tpg);
    // SCSI name string of the target device (UTF-8, null-terminated, padded to 4).
    std::string name = t.target->name();
    std::vector<std::uint8_t> nm(name.begin(), name.end());
    nm.push_back(0);
    while (nm.size() % 4) nm.push_back(0);
    add(0x93, 0x28, nm);  // PIV=1, association = target device, type 8
    vpd_header(d, 0x83);
    return d;
}

using PageFn = std::vector<std::uint8_t> (*)(const Task&);
struct VpdPage {
    std::uint8_t code;
    PageFn fn;
};

}  // namespace

// Other VPD pages (86, B0, B1, B2) live with the SBC code that knows their content.
std::vector<std::uint8_t> vpd_extended_inquiry(const Task& t);
std::vector<std::uint8_t> vpd_block_limits(const Task& t);
std::vector<std::uint8_t> vpd_block_characteristics(const Task& t);
std::vector<std::uint8_t> vpd_logical_block_provisioning(const Task& t);

namespace {
const VpdPage kPages[] = {
    {0x00, vpd_supported},
    {0x80, vpd_serial},
    {0x83, vpd_device_id},
    {0x86, vpd_extended_inquiry},
    {0xb0, vpd_block_limits},
    {0xb1, vpd_block_characteristics},
    {0xb2, vpd_logical_block_provisioning},
};

std::vector<std::uint8_t> vpd_supported(const Task&) {
    std::vector<std::uint8_t> d(4);
    for (const auto& p : kPages) d.push_back(p.code);
    vpd_header(d, 0x00);
    return d;
}

Outcome inquiry(const TaskPtr& t) {
    const std::uint8_t* cdb = t->cdb();
    const bool evpd = cdb[1] & 0x01;
    const std::uint16_t alloc = load_be16(cdb + 3);
    if (!evpd) {
        if (cdb[2] != 0) return Outcome::check(sense::invalid_field_in_cdb(2, 7));
        auto d = standard_inquiry(*t);
        d.resize(std::min<std::size_t>(d.size(), alloc));
        return reply_data(*t, d);
    }
    if (!t->lu) return Outcome::check(sense::invalid_lun());
    for (const auto& p : kPages) {
        if (p.code != cdb[2]) continue;
        auto d = p.fn(*t);
        d[0] = 0x00;
        d.resize(std::min<std::size_t>(d.size(), alloc));
        return reply_data(*t, d);
    }
    return Outcome::check(sense::invalid_field_in_cdb(2, 7));
}

}  // namespace

void register_spc_inquiry(CommandTable& tab) {
    using namespace cmd_flag;
    tab.add({0x12, std::nullopt, "INQUIRY", 6, {0x12, 0x01, 0xff, 0xff, 0xff, 0}, inquiry,
             no_unit_attention | no_lun_needed | reservation_any | allowed_while_sanitizing});
}

}  // namespace vstor::scsi
