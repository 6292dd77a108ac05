// A bare iSCSI initiator for tests that must misbehave or watch the PDUs: raw Login Requests
// (stalled or half-done logins, chosen TSIH/CID), hand-built SCSI Command / Data-Out PDUs
// (half-sent writes, R2Ts, MaxCmdSN), Text Requests in parts, and raw bytes (malformed headers).
// One blocking connection, 5 s read timeouts; digests once set_digests() says they were negotiated.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "iscsi/pdu.hpp"
#include "iscsi/text_keys.hpp"
#include "util/endian.hpp"

namespace vstor::iscsi::test {

// Login Response fields.
inline std::uint16_t login_status(const Pdu& r) { return util::load_be16(&r.bhs[36]); }
inline std::uint16_t login_tsih(const Pdu& r) { return util::load_be16(&r.bhs[14]); }

class RawInitiator {
public:
    // `rcvbuf`: a small receive buffer (SO_RCVBUF) makes the target's sends wait for the reader.
    explicit RawInitiator(std::uint16_t port, int rcvbuf = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        // With a timeout a blocking read is not restarted after an interruption: it fails with
        // EINTR, which needs no signal (task work the kernel queues for this thread, e.g. from an
        // io_uring ring an earlier test in the process submitted to), so the reads retry on EINTR.
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~RawInitiator() {
        if (fd_ >= 0) ::close(fd_);
    }
    RawInitiator(const RawInitiator&) = delete;
    RawInitiator& operator=(const RawInitiator&) = delete;

    // One Login Request carrying `text` (NUL-separated key=value pairs) as it is: CSG `csg`, and
    // T=1 with NSG `nsg` when `transit`. The response is left for next().
    bool send_login(const std::string& text, int csg, int nsg, bool transit) {
        Pdu p = login_request(1, 0, 0);
        p.bhs[1] = static_cast<std::uint8_t>((transit ? 0x80 : 0) | (csg << 2) | (transit ? nsg : 0));
        p.data.assign(text.begin(), text.end());
        return send(p);
    }

    // One immediate Text Request carrying `text` as it is: F, or C when `more` follows; Target
    // Transfer Tag `ttt` (0xffffffff to start, the target's to fetch the next part of an answer).
    bool send_text(std::uint32_t itt, std::uint32_t ttt, const std::string& text, bool more = false) {
        Pdu p;
        const auto t = p.init<TextRequestBhs>();
        t.set_opcode(op::text_request, true);
        t.set_final(!more);
        t.set_continue(more);
        t.set_itt(itt);
        t.set_ttt(ttt);
        t.set_cmdsn(cmdsn_);
        t.set_exp_statsn(exp_statsn_);
        p.data.assign(text.begin(), text.end());
        return send(p);
    }

    // Writes `bytes` as they are: a header whose lengths lie, an unknown opcode, a PDU out of turn.
    bool send_raw(const std::vector<std::uint8_t>& bytes) { return write_all(bytes); }

    // Login of a normal session, leading unless `tsih` names a session to add a connection to;
    // `keys` are added to the mandatory ones. Returns the login response (see login_status and
    // login_tsih) or nullopt if nothing came back.
    std::optional<Pdu> login(const std::string& target, const std::vector<std::pair<std::string, std::string>>& keys,
                             std::uint8_t isid_last = 1, std::uint16_t tsih = 0, std::uint16_t cid = 0) {
        if (!connected_) return std::nullopt;
        Pdu p = login_request(isid_last, tsih, cid);
        p.bhs[1] = 0x80 | (1 << 2) | 3;  // T, CSG operational, NSG full feature
        append_text(p.data, "InitiatorName", "iqn.2026-11.org.test:raw");
        append_text(p.data, "TargetName", target);
        append_text(p.data, "SessionType", "Normal");
        for (const auto& [k, v] : keys) append_text(p.data, k, v);
        if (!send(p)) return std::nullopt;
        return next();
    }

    // WRITE(10) of `blocks` 512-byte blocks at `lba` with `immediate` leading bytes of `data` in
    // the command PDU. F is set when no unsolicited Data-Out follows.
    // `attr`: the task attribute (1 SIMPLE, 2 ORDERED, 3 HEAD OF QUEUE).
    bool write10(std::uint32_t itt, std::uint32_t lba, const std::vector<std::uint8_t>& data, std::size_t immediate,
                 bool final_bit = true, std::uint8_t attr = 1) {
        Pdu p;
        p.bhs[0] = op::scsi_command;
        p.bhs[1] = static_cast<std::uint8_t>((final_bit ? 0x80 : 0) | 0x20 | attr);  // W
        util::store_be32(&p.bhs[16], itt);
        util::store_be32(&p.bhs[20], static_cast<std::uint32_t>(data.size()));
        util::store_be32(&p.bhs[24], cmdsn_++);
        util::store_be32(&p.bhs[28], exp_statsn_);
        const auto blocks = static_cast<std::uint16_t>(data.size() / 512);
        p.bhs[32] = 0x2a;
        util::store_be32(&p.bhs[34], lba);
        util::store_be16(&p.bhs[39], blocks);
        p.data.assign(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(immediate));
        return send(p);
    }

    std::optional<std::vector<std::uint8_t>> read10(std::uint32_t itt, std::uint32_t lba, std::uint32_t bytes) {
        if (!send_read10(itt, lba, bytes)) return std::nullopt;
        return collect_read(itt, bytes);
    }

    // READ(10) of bytes/512 blocks at `lba`, Expected Data Transfer Length `edtl` (default
    // `bytes`); the answer is left for collect_read().
    bool send_read10(std::uint32_t itt, std::uint32_t lba, std::uint32_t bytes, std::uint8_t attr = 1,
                     std::optional<std::uint32_t> edtl = std::nullopt) {
        Pdu p;
        p.bhs[0] = op::scsi_command;
        p.bhs[1] = static_cast<std::uint8_t>(0x80 | 0x40 | attr);
        util::store_be32(&p.bhs[16], itt);
        util::store_be32(&p.bhs[20], edtl.value_or(bytes));
        util::store_be32(&p.bhs[24], cmdsn_++);
        util::store_be32(&p.bhs[28], exp_statsn_);
        p.bhs[32] = 0x28;
        util::store_be32(&p.bhs[34], lba);
        util::store_be16(&p.bhs[39], static_cast<std::uint16_t>(bytes / 512));
        return send(p);
    }

    // The Data-In of read `itt` (room for `bytes`) until its status: the data if GOOD, else
    // nullopt. Checks that the Data-In PDUs come in order (DataSN, offsets) without gaps and
    // that the status sees the residual `residual` (underflow).
    std::optional<std::vector<std::uint8_t>> collect_read(std::uint32_t itt, std::uint32_t bytes,
                                                          std::uint32_t residual = 0) {
        std::vector<std::uint8_t> out(bytes);
        std::uint32_t next_off = 0, datasn = 0;
        for (;;) {
            auto r = recv();
            if (!r) return std::nullopt;
            note_sn(*r);
            if (r->opcode() == op::data_in && r->itt() == itt) {
                const auto off = util::load_be32(&r->bhs[40]);
                if (off != next_off || util::load_be32(&r->bhs[36]) != datasn++) return std::nullopt;
                if (off + r->data.size() > bytes) return std::nullopt;
                std::memcpy(out.data() + off, r->data.data(), r->data.size());
                next_off += static_cast<std::uint32_t>(r->data.size());
                if (r->bhs[1] & 0x01) return status_ok(*r, residual) && next_off + residual == bytes ? std::optional(out) : std::nullopt;
            } else if (r->opcode() == op::scsi_response && r->itt() == itt) {
                return status_ok(*r, residual) && next_off + residual == bytes ? std::optional(out) : std::nullopt;
            }
        }
    }

    // A SCSI command with its CDB (6 to 16 bytes) to `lun`; with `read_len` a READ-type command
    // expecting that many bytes. The answer is left for next().
    bool command(std::uint32_t itt, std::uint16_t lun, const std::vector<std::uint8_t>& cdb, std::uint32_t read_len = 0) {
        Pdu p;
        p.bhs[0] = op::scsi_command;
        p.bhs[1] = static_cast<std::uint8_t>(0x80 | (read_len ? 0x40 : 0) | 1);  // F, R, SIMPLE
        util::store_be16(&p.bhs[8], lun);  // single-level LUN (SAM-5 4.7.3), peripheral addressing
        util::store_be32(&p.bhs[16], itt);
        util::store_be32(&p.bhs[20], read_len);
        util::store_be32(&p.bhs[24], cmdsn_++);
        util::store_be32(&p.bhs[28], exp_statsn_);
        std::copy(cdb.begin(), cdb.end(), p.bhs.begin() + 32);
        return send(p);
    }

    // An immediate Task Management Function Request (`function`: 1 ABORT TASK, 2 ABORT TASK
    // SET, 5 LOGICAL UNIT RESET) for LUN 0; the response is left for next().
    bool tmf(std::uint32_t itt, std::uint8_t function, std::uint32_t ref_itt = kReservedTag) {
        Pdu p;
        const auto t = p.init<TmfRequestBhs>();
        t.set_opcode(op::tmf_request, true);
        t.set_function(function);
        t.set_itt(itt);
        t.set_referenced_task_tag(ref_itt);
        t.set_cmdsn(cmdsn_);
        t.set_exp_statsn(exp_statsn_);
        return send(p);
    }

    // Header and data digests (CRC32C) on, as the login negotiated.
    void set_digests(bool header, bool data) {
        header_digest_ = header;
        data_digest_ = data;
    }

    // Data-Out carrying data[offset, offset+len) in PDUs of at most `seg` bytes, answering the R2T
    // `ttt` (or unsolicited with kReservedTag). DataSN counts from `datasn`.
    bool data_out(std::uint32_t itt, std::uint32_t ttt, const std::vector<std::uint8_t>& data, std::uint32_t offset,
                  std::uint32_t len, std::uint32_t seg = 65536, std::uint32_t datasn = 0) {
        for (std::uint32_t done = 0; done < len;) {
            const std::uint32_t n = std::min(seg, len - done);
            Pdu p;
            p.bhs[0] = op::data_out;
            if (done + n == len) p.bhs[1] = 0x80;
            util::store_be32(&p.bhs[16], itt);
            util::store_be32(&p.bhs[20], ttt);
            util::store_be32(&p.bhs[28], exp_statsn_);
            util::store_be32(&p.bhs[36], datasn++);
            util::store_be32(&p.bhs[40], offset + done);
            p.data.assign(data.begin() + offset + done, data.begin() + offset + done + n);
            if (!send(p)) return false;
            done += n;
        }
        return true;
    }

    // Next PDU from the target (nullopt on timeout or close); tracks StatSN and MaxCmdSN.
    std::optional<Pdu> next() {
        auto r = recv();
        if (r) note_sn(*r);
        return r;
    }

    // True if nothing arrives within `ms` milliseconds.
    bool quiet(int ms) {
        pollfd p{fd_, POLLIN, 0};
        return ::poll(&p, 1, ms) == 0;
    }

    // True when the target closes the connection within `timeout` (what it sends first is skipped).
    bool closed_within(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
            std::uint8_t buf[4096];
            const ssize_t r = ::read(fd_, buf, sizeof buf);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return true;
        }
    }

    std::uint32_t cmdsn() const { return cmdsn_; }
    std::uint32_t max_cmdsn() const { return max_cmdsn_; }
    bool connected() const { return connected_; }

private:
    // A Login Request header without its stage bits: ISID of random type ending in `isid_last`.
    Pdu login_request(std::uint8_t isid_last, std::uint16_t tsih, std::uint16_t cid) {
        Pdu p;
        p.bhs[0] = op::login_request | 0x40;
        const std::uint8_t isid[6] = {0x80, 0, 0, 0, 0, isid_last};
        std::memcpy(&p.bhs[8], isid, 6);
        util::store_be16(&p.bhs[14], tsih);
        util::store_be32(&p.bhs[16], next_itt_++);
        util::store_be16(&p.bhs[20], cid);
        util::store_be32(&p.bhs[24], cmdsn_);
        util::store_be32(&p.bhs[28], exp_statsn_);
        return p;
    }
    // GOOD, and the residual count (underflow) the test expects.
    static bool status_ok(const Pdu& r, std::uint32_t residual) {
        return r.bhs[3] == 0 && util::load_be32(&r.bhs[44]) == residual && ((r.bhs[1] & 0x02) != 0) == (residual != 0);
    }
    bool send(Pdu& p) {
        std::vector<std::uint8_t> bytes;
        encode(p, header_digest_, data_digest_, bytes);
        return write_all(bytes);
    }
    bool write_all(const std::vector<std::uint8_t>& bytes) {
        std::size_t off = 0;
        while (off < bytes.size()) {
            const ssize_t n = ::write(fd_, bytes.data() + off, bytes.size() - off);
            if (n < 0 && errno == EINTR) continue;  // see the note at the socket's timeout
            if (n <= 0) return false;
            off += static_cast<std::size_t>(n);
        }
        return true;
    }
    bool read_exact(std::uint8_t* p, std::size_t n) {
        while (n) {
            const ssize_t r = ::read(fd_, p, n);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return false;
            p += r;
            n -= static_cast<std::size_t>(r);
        }
        return true;
    }
    std::optional<Pdu> recv() {
        Pdu p;
        if (!read_exact(p.bhs.data(), kBhsLength)) return std::nullopt;
        std::vector<std::uint8_t> rest(rest_length(p.bhs, header_digest_, data_digest_));
        if (!read_exact(rest.data(), rest.size())) return std::nullopt;
        if (decode_rest(p, rest, header_digest_, data_digest_, 1u << 24) != DecodeError::none) return std::nullopt;
        return p;
    }
    void note_sn(const Pdu& r) {
        if (r.opcode() == op::scsi_response || r.opcode() == op::login_response || r.opcode() == op::text_response ||
            (r.opcode() == op::data_in && (r.bhs[1] & 0x01)))
            exp_statsn_ = util::load_be32(&r.bhs[24]) + 1;
        const std::uint32_t max = util::load_be32(&r.bhs[32]);
        if (static_cast<std::int32_t>(max - max_cmdsn_) > 0 || !seen_max_) max_cmdsn_ = max;
        seen_max_ = true;
    }

    int fd_ = -1;
    bool connected_ = false;
    bool header_digest_ = false, data_digest_ = false;
    std::uint32_t next_itt_ = 0x1000;
    std::uint32_t cmdsn_ = 1;
    std::uint32_t exp_statsn_ = 0;
    std::uint32_t max_cmdsn_ = 0;
    bool seen_max_ = false;
};

}  // namespace vstor::iscsi::test
