// NBD fixed-newstyle option haggling as a pure state machine over bytes: feed it what the
// client sent, it appends what to answer and says when transmission starts (or the connection
// must end). No sockets here, so unit tests and the fuzzer drive it directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vstor::nbd {

// One export as the handshake sees it: where it lives in the adapter and what it looks like.
struct ExportInfo {
    std::string name;
    std::string description;
    std::uint16_t target_id = 0;
    std::uint16_t lun = 0;
    std::uint64_t size_bytes = 0;
    std::uint32_t block_size = 512;
    bool read_only = false;
    bool thin = false;  // unmap supported, unmapped blocks read as zeroes (LBPRZ)
};

// Where exports come from (the server's table joined with the adapter's LUN list). Called on the
// connection's event loop; implementations are thread-safe.
class ExportCatalog {
public:
    virtual ~ExportCatalog() = default;
    // "" is the default export.
    virtual std::optional<ExportInfo> lookup(std::string_view name) const = 0;
    virtual std::vector<ExportInfo> list() const = 0;
};

// TLS as the handshake sees it (proto.md "TLS support"): off (NOTLS: STARTTLS is unsupported),
// offered (the client may upgrade) or required (FORCEDTLS: every option but STARTTLS and ABORT is
// answered NBD_REP_ERR_TLS_REQD until it does).
enum class TlsPolicy : std::uint8_t { off, offered, required };

// Transmission flags that tell the truth about an export (see docs/nbd.md).
std::uint16_t transmission_flags(const ExportInfo& e, bool structured_replies);

// What the handshake settled on.
struct Negotiated {
    ExportInfo exp;
    std::string requested_name;     // as the client spelled it ("" for the default export)
    bool structured = false;        // NBD_OPT_STRUCTURED_REPLY acknowledged
    bool base_allocation = false;   // base:allocation selected for this export
    std::uint16_t flags = 0;        // transmission flags sent
};

class Handshake {
public:
    enum class State {
        haggling,      // more options expected
        transmission,  // NBD_OPT_GO / EXPORT_NAME answered: result() is valid
        aborted,       // NBD_OPT_ABORT answered: close after sending the output
        failed,        // protocol violation or unknown EXPORT_NAME: hard disconnect (error())
        starttls,      // NBD_OPT_STARTTLS acknowledged: run the TLS handshake, then tls_started()
    };

    explicit Handshake(const ExportCatalog& catalog, TlsPolicy tls = TlsPolicy::off)
        : catalog_(catalog), tls_policy_(tls) {}

    // The TLS handshake after `starttls` succeeded: haggling goes on, encrypted.
    void tls_started();
    bool tls_active() const { return tls_active_; }

    // The server's opening bytes (NBDMAGIC, IHAVEOPT, handshake flags).
    static void greeting(std::vector<std::uint8_t>& out);

    // Consumes client bytes and appends answers to `out`. Returns how many bytes were consumed:
    // stops early once the state leaves `haggling` (any bytes after that belong to the
    // transmission phase).
    std::size_t feed(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out);

    State state() const { return state_; }
    const std::string& error() const { return error_; }
    const Negotiated& result() const { return result_; }
    std::size_t options_seen() const { return options_seen_; }

private:
    enum class Step { client_flags, option_header, option_data, skip_data };

    void on_client_flags();
    void on_option(std::vector<std::uint8_t>& out);
    void reply(std::vector<std::uint8_t>& out, std::uint32_t type, std::span<const std::uint8_t> data = {});
    void reply_error(std::vector<std::uint8_t>& out, std::uint32_t type, std::string_view msg);
    void on_export_name(std::vector<std::uint8_t>& out);
    void on_info_or_go(std::vector<std::uint8_t>& out, bool go);
    void on_list(std::vector<std::uint8_t>& out);
    void on_meta_context(std::vector<std::uint8_t>& out, bool set);
    void fail(std::string why);

    const ExportCatalog& catalog_;
    const TlsPolicy tls_policy_;
    bool tls_active_ = false;
    bool fixed_newstyle_ = false;
    State state_ = State::haggling;
    Step step_ = Step::client_flags;
    std::string error_;
    std::vector<std::uint8_t> acc_;  // bytes of the current unit (flags, header or option data)
    std::uint32_t option_ = 0;
    std::uint32_t option_len_ = 0;
    std::uint64_t skip_left_ = 0;
    bool no_zeroes_ = false;
    bool structured_ = false;
    bool meta_selected_ = false;       // base:allocation chosen by SET_META_CONTEXT
    std::string meta_export_;          // ... for this export name
    std::size_t options_seen_ = 0;
    Negotiated result_;
};

}  // namespace vstor::nbd
