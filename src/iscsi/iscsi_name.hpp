// iSCSI names (RFC 7143 4.2.7, RFC 3720 3.2.6, RFC 3722): the one check every place that takes a
// target or initiator name from an operator uses (`serve --target/--allow/--mask`, the TOML file,
// `vstor ctl`), so a mistyped name is refused instead of silently never matching a login.
#pragma once

#include <string>
#include <string_view>

namespace vstor::iscsi {

inline constexpr std::size_t kMaxIscsiNameBytes = 223;  // RFC 7143 4.2.7.1

// "" when `name` is a valid iSCSI name in its canonical (lower-case) form:
//   iqn.YYYY-MM.reversed.domain[:anything]   e.g. iqn.2026-11.org.vstor:disk0
//   eui. + 16 hex digits                      e.g. eui.02004567a425678d
//   naa. + 16 or 32 hex digits                e.g. naa.52004567ba64678d
// made of a-z, 0-9, '-', '.' and ':' and at most 223 bytes. Otherwise what is wrong, as a phrase
// for "NAME: <problem>". Names are compared byte for byte, so upper case (which stringprep would
// map to lower case) is refused with the lower-case spelling to use; non-ASCII names (which
// stringprep allows) are not accepted by vstor.
std::string iscsi_name_problem(std::string_view name);

}  // namespace vstor::iscsi
