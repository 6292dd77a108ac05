#include "config/config_schema.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace vstor::cli {

namespace {

std::string_view type_name(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a number with a fraction";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "a list";
        case toml::node_type::date:
        case toml::node_type::time:
        case toml::node_type::date_time: return "a date/time";
        default: return "nothing";
    }
}

std::string expected(const ConfigKey& k) {
    switch (k.type) {
        case ConfigType::string: return "a string";
        case ConfigType::string_list: return "a list of strings";
        case ConfigType::boolean: return "true or false";
        case ConfigType::integer: return fmt::format("a whole number from {} to {}", k.min, k.max);
        case ConfigType::table: return fmt::format("a table ([{}])", k.name);
        case ConfigType::table_list: return fmt::format("a list of tables ([[{}]])", k.name);
    }
    return "?";
}

// Levenshtein distance, for "did you mean" on a misspelt key.
std::size_t distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string unknown_key_hint(std::string_view key, std::span<const ConfigKey> keys) {
    const ConfigKey* best = nullptr;
    std::size_t best_d = 3;  // at most two edits away counts as a typo
    for (const auto& k : keys) {
        const auto d = distance(key, k.name);
        if (d < best_d) best = &k, best_d = d;
    }
    if (best) return fmt::format("did you mean '{}'?", best->name);
    std::string all;
    for (const auto& k : keys) all += (all.empty() ? "" : ", ") + std::string(k.name);
    return "expected one of: " + all;
}

std::string prefix(const std::string& file, const toml::node& n, const std::string& where) {
    const auto line = n.source().begin.line;
    std::string p = line ? fmt::format("{}:{}", file, line) : file;
    return where.empty() ? p : p + ": " + where;
}

bool check_value(const toml::node& v, const ConfigKey& k, const std::string& file, const std::string& where,
                 std::string& error) {
    auto wrong = [&] {
        error = fmt::format("{}: '{}' must be {}, not {}", prefix(file, v, where), k.name, expected(k), type_name(v));
        return false;
    };
    switch (k.type) {
        case ConfigType::string:
            return v.is_string() || wrong();
        case ConfigType::boolean:
            return v.is_boolean() || wrong();
        case ConfigType::integer: {
            if (!v.is_integer()) return wrong();
            const auto n = v.as_integer()->get();
            if (n < k.min || n > k.max) {
                error = fmt::format("{}: '{}' = {} is out of range ({} to {})", prefix(file, v, where), k.name, n,
                                    k.min, k.max);
                return false;
            }
            return true;
        }
        case ConfigType::string_list: {
            const auto* arr = v.as_array();
            if (!arr) return wrong();
            for (const auto& item : *arr) {
                if (!item.is_string()) {
                    error = fmt::format("{}: '{}' must be {}, but holds {}", prefix(file, item, where), k.name,
                                        expected(k), type_name(item));
                    return false;
                }
            }
            return true;
        }
        case ConfigType::table: {
            const auto* t = v.as_table();
            if (!t) return wrong();
            return check_config_keys(*t, k.fields, file, fmt::format("[{}]", k.name), error);
        }
        case ConfigType::table_list: {
            const auto* arr = v.as_array();
            if (!arr) return wrong();
            for (std::size_t i = 0; i < arr->size(); ++i) {
                const auto* t = (*arr)[i].as_table();
                const std::string item = fmt::format("{} {}", k.name, i + 1);
                if (!t) {
                    error = fmt::format("{}: must be a table ([[{}]])", prefix(file, (*arr)[i], item), k.name);
                    return false;
                }
                if (!check_config_keys(*t, k.fields, file, item, error)) return false;
            }
            return true;
        }
    }
    return wrong();
}

}  // namespace

bool check_config_keys(const toml::table& t, std::span<const ConfigKey> keys, const std::string& file,
                       const std::string& where, std::string& error) {
    for (const auto& entry : t) {
        // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
        const auto& name = entry.first;
        const auto& value = entry.second;
        const auto it = std::find_if(keys.begin(), keys.end(), [&](const ConfigKey& k) { return k.name == name.str(); });
        if (it == keys.end()) {
            const auto line = name.source().begin.line ? name.source().begin.line : value.source().begin.line;
            std::string p = line ? fmt::format("{}:{}", file, line) : file;
            if (!where.empty()) p += ": " + where;
            error = fmt::format("{}: unknown key '{}' ({})", p, name.str(), unknown_key_hint(name.str(), keys));
            return false;
        }
        if (!check_value(value, *it, file, where, error)) return false;
    }
    return true;
}

}  // namespace vstor::cli
