// iSCSI name rules (RFC 7143 4.2.7, RFC 3720 3.2.6): the one validator behind --target, --allow,
// --mask, the TOML file and `vstor ctl`.
#include <gtest/gtest.h>

#include "iscsi/iscsi_name.hpp"

namespace vstor::iscsi {
namespace {

TEST(IscsiName, ValidForms) {
    for (const char* name : {
             "iqn.2026-11.org.vstor:disk0",
             "iqn.1993-08.org.debian:01:host1",
             "iqn.1991-05.com.microsoft:host-1.example.com",
             "iqn.2001-04.com.example",  // no ':' suffix
             "iqn.2001-04.com.example:storage:diskarrays-sn-a8675309",
             "eui.02004567a425678d",
             "naa.52004567ba64678d",
             "naa.62004567ba64678d0123456789abcdef",
         })
        EXPECT_EQ(iscsi_name_problem(name), "") << name;
    EXPECT_EQ(iscsi_name_problem("iqn.2026-11.org.vstor:" + std::string(223 - 22, 'x')), "");
}

// One row per rule, with the exact message an operator sees after "NAME: ".
TEST(IscsiName, InvalidFormsSayWhy) {
    const std::pair<std::string, std::string> rows[] = {
        {"", "an empty iSCSI name"},
        {"iqn.2026-11.org.vstor:" + std::string(202, 'x'), "224 bytes long; iSCSI names are at most 223 (RFC 7143 4.2.7.1)"},
        {"iqn.2026-11.org.vstor:Disk0", "iSCSI names are lower case (RFC 3722); write 'iqn.2026-11.org.vstor:disk0'"},
        {"eui.02004567A425678D", "iSCSI names are lower case (RFC 3722); write 'eui.02004567a425678d'"},
        {"iqn.2026-11.org.vstor:disk 0", "byte 0x20 at position 27: iSCSI names hold only a-z, 0-9, '-', '.' and ':'"},
        {"iqn.2026-11.org.vstor:disk_0", "'_' at position 27: iSCSI names hold only a-z, 0-9, '-', '.' and ':'"},
        {"iqn.2026-11.org.vstor:d\xc3\xa9", "byte 0xc3 at position 24: iSCSI names hold only a-z, 0-9, '-', '.' and ':'"},
        {"iqn.2026-11.org.vstor:a,b", "',' at position 24: iSCSI names hold only a-z, 0-9, '-', '.' and ':'"},
        {"disk0", "iSCSI names start with 'iqn.', 'eui.' or 'naa.' (RFC 7143 4.2.7.1)"},
        {"iqn:2026-11.org.vstor", "iSCSI names start with 'iqn.', 'eui.' or 'naa.' (RFC 7143 4.2.7.1)"},
        {"iqn.x", "'iqn.' must be followed by a date YYYY-MM and a reversed domain name, e.g. "
                  "iqn.2026-11.org.example:disk0 (RFC 3720 3.2.6.3.1)"},
        {"iqn.2026-13.org.vstor:d", "'iqn.' must be followed by a date YYYY-MM and a reversed domain name, e.g. "
                                    "iqn.2026-11.org.example:disk0 (RFC 3720 3.2.6.3.1)"},
        {"iqn.26-11.org.vstor:d", "'iqn.' must be followed by a date YYYY-MM and a reversed domain name, e.g. "
                                  "iqn.2026-11.org.example:disk0 (RFC 3720 3.2.6.3.1)"},
        {"iqn.2026-11.:d", "the naming authority after 'iqn.YYYY-MM.' must be a reversed domain name (empty label)"},
        {"iqn.2026-11.org..vstor:d", "the naming authority after 'iqn.YYYY-MM.' must be a reversed domain name (empty label)"},
        {"iqn.2026-11.org.vstor:", "nothing follows the ':'"},
        {"eui.02004567a425678", "'eui.' must be followed by 16 hex digits (RFC 7143 4.2.7.2)"},
        {"eui.02004567a425678g", "'eui.' must be followed by 16 hex digits (RFC 7143 4.2.7.2)"},
        {"naa.52004567ba64678d00", "'naa.' must be followed by 16 or 32 hex digits (RFC 7143 4.2.7.2)"},
        {"naa.", "'naa.' must be followed by 16 or 32 hex digits (RFC 7143 4.2.7.2)"},
    };
    for (const auto& [name, why] : rows) EXPECT_EQ(iscsi_name_problem(name), why) << name;
}

}  // namespace
}  // namespace vstor::iscsi
