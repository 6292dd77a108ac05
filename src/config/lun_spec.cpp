#include "config/lun_spec.hpp"

#include <charconv>
#include <sstream>
#include <vector>

namespace vstor::cli {

std::optional<std::uint64_t> parse_size(const std::string& s) {
    if (s.empty()) return std::nullopt;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p == s.data()) return std::nullopt;
    std::string suffix(p, s.data() + s.size());
    unsigned shift = 0;
    if (suffix.empty() || suffix == "B") shift = 0;
    else if (suffix == "K" || suffix == "k" || suffix == "KiB") shift = 10;
    else if (suffix == "M" || suffix == "MiB") shift = 20;
    else if (suffix == "G" || suffix == "GiB") shift = 30;
    else if (suffix == "T" || suffix == "TiB") shift = 40;
    else return std::nullopt;
    if (shift && v > (~std::uint64_t{0} >> shift)) return std::nullopt;
    return v << shift;
}

namespace {

// plugin: and python: pass the keys that are not vstor's own to the plugin's config(), in order.
bool is_plugin_kind(const std::string& kind) { return kind == "plugin" || kind == "python"; }

// The argument after KIND: (a size, a file path, POOL/IMAGE).
bool parse_kind_argument(LunSpec& spec, const std::string& arg, const std::string& text, std::string& error) {
    if (spec.kind == "mem" || spec.kind == "null") {
        auto size = parse_size(arg);
        if (!size || *size == 0) {
            error = "--lun '" + text + "': bad size '" + arg + "'";
            return false;
        }
        spec.size_bytes = *size;
    } else if (spec.kind == "file" || is_plugin_kind(spec.kind)) {
        spec.path = arg;
    } else if (spec.kind == "rbd") {
        const auto slash = arg.find('/');
        if (slash == 0 || slash == std::string::npos || slash + 1 == arg.size() ||
            arg.find('/', slash + 1) != std::string::npos) {
            error = "--lun '" + text + "': expected rbd:POOL/IMAGE";
            return false;
        }
        spec.path = arg;
    } else {
        error = "--lun '" + text + "': unknown backend '" + spec.kind + "' (mem, null, file, rbd, plugin, python)";
        return false;
    }
    return true;
}

// rbd's own options: conf=PATH, id=NAME, stall_ms=N, forget_ms=N.
enum class OptionParse { not_mine, taken, bad };

// A whole number of milliseconds in [min, max] for rbd option `key`, or `error` saying what it is.
bool parse_rbd_ms(const std::string& key, const std::string& val, std::uint32_t min, std::uint32_t max,
                  const char* what, const std::string& text, std::uint32_t& out, std::string& error) {
    std::uint32_t ms = 0;
    auto [p, ec] = std::from_chars(val.data(), val.data() + val.size(), ms);
    if (ec == std::errc() && p == val.data() + val.size() && !val.empty() && ms >= min && ms <= max) {
        out = ms;
        return true;
    }
    error = "--lun '" + text + "': " + key + " is the milliseconds " + what + ", " + std::to_string(min) + " to " +
            std::to_string(max) + ", not '" + val + "'";
    return false;
}

OptionParse parse_rbd_option(LunSpec& spec, const std::string& key, const std::string& val, const std::string& text,
                      std::string& error) {
    if (spec.kind != "rbd") return OptionParse::not_mine;
    if ((key == "conf" || key == "id") && !val.empty()) {
        (key == "conf" ? spec.rbd_conf : spec.rbd_id) = val;
        return OptionParse::taken;
    }
    bool ok = true;
    if (key == "stall_ms")
        ok = parse_rbd_ms(key, val, kRbdStallMinMs, kRbdStallMaxMs,
                          "of stalled writes before a lock holder is taken for dead", text, spec.rbd_stall_ms, error);
    else if (key == "forget_ms")
        ok = parse_rbd_ms(key, val, kRbdForgetMinMs, kRbdForgetMaxMs,
                          "a dead gateway's port group stays listed before it is removed", text, spec.rbd_forget_ms,
                          error);
    else
        return OptionParse::not_mine;
    return ok ? OptionParse::taken : OptionParse::bad;
}

}  // namespace

std::optional<LunSpec> parse_lun_spec(const std::string& text, std::string& error) {
    const auto colon = text.find(':');
    if (colon == std::string::npos) {
        error = "--lun '" + text + "': expected KIND:ARG (mem:1G, null:1G, file:/path/disk.img[,size=8G], rbd:POOL/IMAGE)";
        return std::nullopt;
    }
    LunSpec spec;
    spec.kind = text.substr(0, colon);
    std::vector<std::string> parts;
    std::stringstream ss(text.substr(colon + 1));
    std::string item;
    while (std::getline(ss, item, ',')) parts.push_back(item);
    if (parts.empty() || parts[0].empty()) {
        error = "--lun '" + text + "': missing argument after '" + spec.kind + ":'";
        return std::nullopt;
    }
    if (!parse_kind_argument(spec, parts[0], text, error)) return std::nullopt;
    for (std::size_t i = 1; i < parts.size(); ++i) {
        const auto& opt = parts[i];
        const auto eq = opt.find('=');
        const std::string key = opt.substr(0, eq);
        const std::string val = eq == std::string::npos ? "" : opt.substr(eq + 1);
        if (key == "ro" && eq == std::string::npos) spec.read_only = true;
        else if (key == "removable" && eq == std::string::npos) spec.removable = true;
        else if (key == "thick" && eq == std::string::npos) spec.thick = true;
        else if (key == "size" && !is_plugin_kind(spec.kind)) {
            auto size = parse_size(val);
            if (!size || *size == 0) {
                error = "--lun '" + text + "': bad size '" + val + "'";
                return std::nullopt;
            }
            spec.size_bytes = *size;
        } else if (key == "bs") {
            if (val != "512" && val != "4096") {
                error = "--lun '" + text + "': block size must be 512 or 4096, not '" + val + "'";
                return std::nullopt;
            }
            spec.block_size = static_cast<std::uint32_t>(std::stoul(val));
        } else if (key == "pbs") {
            const auto v = parse_size(val);
            if (!v || *v > 65536 || (*v & (*v - 1))) {
                error = "--lun '" + text + "': physical block size must be a power of two up to 64K, not '" + val + "'";
                return std::nullopt;
            }
            spec.physical_block_size = static_cast<std::uint32_t>(*v);
        } else if (key == "sanitize_rate") {
            const auto v = parse_size(val);
            if (!v || *v == 0) {
                error = "--lun '" + text + "': sanitize_rate is bytes per second (e.g. 64M), not '" + val + "'";
                return std::nullopt;
            }
            spec.sanitize_rate = *v;
        } else if (const auto rbd = parse_rbd_option(spec, key, val, text, error); rbd != OptionParse::not_mine) {
            if (rbd == OptionParse::bad) return std::nullopt;
        } else if (key == "name" && !val.empty()) {
            spec.name = val;
        } else if (key == "lun") {
            std::uint16_t n = 0;
            auto [p, ec] = std::from_chars(val.data(), val.data() + val.size(), n);
            if (ec != std::errc() || p != val.data() + val.size() || val.empty() || n >= 16384) {
                error = "--lun '" + text + "': LUN number must be 0..16383, not '" + val + "'";
                return std::nullopt;
            }
            spec.lun = n;
        } else if (is_plugin_kind(spec.kind) && eq != std::string::npos && !key.empty() && key != "name") {
            spec.plugin_params.emplace_back(key, val);  // not vstor's: the plugin's config() decides
        } else {
            error = "--lun '" + text + "': unknown option '" + opt + "' (ro, removable, thick, size=, bs=, pbs=, sanitize_rate=, name=, lun=; rbd: conf=, id=, stall_ms=, forget_ms=)";
            return std::nullopt;
        }
    }
    if (spec.size_bytes % spec.block_size) {
        error = "--lun '" + text + "': size is not a multiple of the block size " + std::to_string(spec.block_size);
        return std::nullopt;
    }
    if (spec.kind == "rbd" && (spec.size_bytes || spec.thick || spec.removable)) {
        error = "--lun '" + text + "': an rbd LUN has its image's size (resize: vstor ctl lun resize) and is thin";
        return std::nullopt;
    }
    if ((spec.kind == "mem" || is_plugin_kind(spec.kind)) && spec.thick) {
        error = "--lun '" + text + "': 'thick' applies to file LUNs only";
        return std::nullopt;
    }
    return spec;
}

std::string format_size(std::uint64_t bytes) {
    static const char* suffix[] = {"", "K", "M", "G", "T"};
    unsigned i = 0;
    while (i < 4 && bytes && bytes % 1024 == 0) {
        bytes /= 1024;
        ++i;
    }
    return std::to_string(bytes) + suffix[i];
}

std::string format_lun_spec(const LunSpec& s) {
    std::string out = s.kind + ":";
    if (s.kind == "file") {
        out += s.path;
        if (s.size_bytes) out += ",size=" + format_size(s.size_bytes);
    } else if (s.kind == "rbd") {
        out += s.path;  // the size is the image's own
        if (!s.rbd_conf.empty()) out += ",conf=" + s.rbd_conf;
        if (!s.rbd_id.empty()) out += ",id=" + s.rbd_id;
        if (s.rbd_stall_ms) out += ",stall_ms=" + std::to_string(s.rbd_stall_ms);
        if (s.rbd_forget_ms) out += ",forget_ms=" + std::to_string(s.rbd_forget_ms);
    } else if (is_plugin_kind(s.kind)) {
        out += s.path;
        for (const auto& kv : s.plugin_params) out += "," + kv.first + "=" + kv.second;
    } else {
        out += format_size(s.size_bytes);
    }
    if (s.read_only) out += ",ro";
    if (s.removable) out += ",removable";
    if (s.thick) out += ",thick";
    if (s.block_size != 512) out += ",bs=" + std::to_string(s.block_size);
    if (s.physical_block_size) out += ",pbs=" + std::to_string(s.physical_block_size);
    if (s.sanitize_rate) out += ",sanitize_rate=" + format_size(s.sanitize_rate);
    if (!s.name.empty()) out += ",name=" + s.name;
    if (s.lun) out += ",lun=" + std::to_string(*s.lun);
    return out;
}

}  // namespace vstor::cli
