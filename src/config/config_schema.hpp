// Every key a `vstor serve --config` file may hold, with its type and range, in one table.
// load_config_file() checks the whole document against it before reading anything, so a typo
// (`cahp = ...`), a wrong type (`loops = "two"`) or an out-of-range value is refused with one
// line naming the key instead of being ignored. To add a key: add a line to the section's table
// here, read it in config_file.cpp, document it in docs/config.md.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "config/serve_plan.hpp"

namespace vstor::cli {

enum class ConfigType { string, string_list, boolean, integer, table, table_list };

struct ConfigKey {
    std::string_view name;
    ConfigType type;
    std::int64_t min = 0;  // integer only: the accepted range
    std::int64_t max = 0;
    std::span<const ConfigKey> fields = {};  // table / table_list: the keys inside
};

inline constexpr ConfigKey kPortalKeys[] = {
    {"listen", ConfigType::string},
};

inline constexpr ConfigKey kTargetKeys[] = {
    {"name", ConfigType::string},        {"alias", ConfigType::string},     {"chap", ConfigType::string},
    {"mutual_chap", ConfigType::string}, {"allow", ConfigType::string_list}, {"masks", ConfigType::string_list},
    {"luns", ConfigType::string_list},   {"nbd", ConfigType::boolean},
};

inline constexpr ConfigKey kNbdKeys[] = {
    {"listen", ConfigType::string_list},
    {"tls", ConfigType::string},
    {"identities", ConfigType::string_list},
    {"insecure_unauthenticated", ConfigType::boolean},
    {"handshake_timeout", ConfigType::integer, 1, 3600},
};

inline constexpr ConfigKey kTopLevelKeys[] = {
    {"loops", ConfigType::integer, 0, kMaxEventLoops},
    {"login_timeout", ConfigType::integer, 1, iscsi::kMaxLoginTimeout},
    {"discovery_chap", ConfigType::string},
    {"discovery_mutual_chap", ConfigType::string},
    {"write_buffer_per_session", ConfigType::string},  // sizes: "256M", "1G", "0" = no limit
    {"write_buffer_total", ConfigType::string},
    {"max_connections", ConfigType::integer, 0, util::kMaxConnectionLimit},
    {"max_connections_per_address", ConfigType::integer, 0, util::kMaxConnectionLimit},
    {"port_group", ConfigType::integer, 1, 65535},     // ALUA target port group of this gateway
    {"relative_port", ConfigType::integer, 1, 65535},  // relative target port id of the first portal
    {"portal", ConfigType::table_list, 0, 0, kPortalKeys},
    {"target", ConfigType::table_list, 0, 0, kTargetKeys},
    {"nbd", ConfigType::table, 0, 0, kNbdKeys},
};

// Checks `t` (and every table below it) against `keys`. On the first unknown key, wrong type or
// out-of-range integer: false, and `error` is "FILE:LINE: WHERE: the problem naming the key".
bool check_config_keys(const toml::table& t, std::span<const ConfigKey> keys, const std::string& file,
                       const std::string& where, std::string& error);

}  // namespace vstor::cli
