// The write buffer budget: bytes of write data held in memory for commands that have not yet
// received all their data (docs/iscsi.md "Write buffer budget"). One WriteBudget per server
// process holds the global limit; each iSCSI session and each NBD connection opens an Account
// with the per-session limit. Thread-safe: accounts live on different event loops.
//
// Two kinds of bytes:
//  - granted: the front end asked before letting the data come (R2Ts, reading an NBD payload).
//    A grant is all or nothing and may have to wait.
//  - forced: data the peer may send before the target can say no (immediate and unsolicited
//    iSCSI data). Counted, never refused; the front end bounds it (FirstBurstLength, window).
//
// Progress rule (no deadlock, even when a limit is smaller than one command): a grant that does
// not fit is still given when its account holds no granted bytes (per-account limit) and, for the
// global limit, when no account holds any. So some command can always move, and each limit is
// exceeded by at most one command's bytes plus forced bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

namespace vstor::util {

class WriteBudget : public std::enable_shared_from_this<WriteBudget> {
public:
    static constexpr std::uint64_t kUnlimited = UINT64_MAX;
    // Defaults of --write-buffer-per-session and --write-buffer-total (docs/iscsi.md says why).
    static constexpr std::uint64_t kDefaultPerSession = 256ull << 20;
    static constexpr std::uint64_t kDefaultTotal = 1ull << 30;

    class Account;

    // 0 for either limit means unlimited.
    static std::shared_ptr<WriteBudget> create(std::uint64_t per_account, std::uint64_t total);

    std::shared_ptr<Account> open_account();
    std::uint64_t per_account_limit() const { return per_account_; }
    std::uint64_t total_limit() const { return total_; }
    std::uint64_t used() const;  // all bytes held, granted and forced

private:
    WriteBudget(std::uint64_t per_account, std::uint64_t total);
    friend class Account;
    struct Waiter {
        const Account* account;
        std::function<void()> wake;
    };

    const std::uint64_t per_account_, total_;
    mutable std::mutex mu_;  // guards everything below and every Account's counters
    std::uint64_t used_ = 0, granted_ = 0;
    std::map<const void*, Waiter> waiters_;  // by the key the waiter registered with
};

class WriteBudget::Account {
public:
    explicit Account(std::shared_ptr<WriteBudget> budget) : budget_(std::move(budget)) {}
    ~Account();
    Account(const Account&) = delete;
    Account& operator=(const Account&) = delete;

    // Grants `n` bytes if they fit both limits (or the progress rule allows them). Otherwise
    // registers `wake` under `key` (replacing an earlier one with that key) and returns false;
    // `wake` then runs once, on the thread that next gives bytes back: it must only post.
    bool try_grant(std::uint64_t n, const void* key, std::function<void()> wake);
    void force(std::uint64_t n);
    void give_back(std::uint64_t granted, std::uint64_t forced);  // wakes every waiter
    void forget_waiter(const void* key);

    // How many more commands may be let in if each may bring `per_command` forced bytes before
    // the target can refuse them: 0 when the budget is used up or a grant is waiting (the CmdSN
    // window stops opening), UINT32_MAX when there is no limit to respect.
    std::uint32_t room_for(std::uint64_t per_command) const;

    std::uint64_t used() const;
    std::uint64_t granted() const;
    bool waiting() const;  // a grant of this account waits
    bool idle() const;     // holds nothing and nothing waits

    WriteBudget& budget() { return *budget_; }

private:
    const std::shared_ptr<WriteBudget> budget_;
    std::uint64_t used_ = 0, granted_ = 0;  // guarded by budget_->mu_
};

// A command's share of an account: given back when released or destroyed.
class WriteHold {
public:
    WriteHold() = default;
    explicit WriteHold(std::shared_ptr<WriteBudget::Account> account) : account_(std::move(account)) {}
    ~WriteHold() { release(); }
    WriteHold(const WriteHold&) = delete;
    WriteHold& operator=(const WriteHold&) = delete;
    WriteHold(WriteHold&& o) noexcept { *this = std::move(o); }
    WriteHold& operator=(WriteHold&& o) noexcept;

    bool try_grant(std::uint64_t n, const void* key, std::function<void()> wake);
    void force(std::uint64_t n);
    void release();
    std::uint64_t granted() const { return granted_; }
    std::uint64_t forced() const { return forced_; }
    WriteBudget::Account* account() const { return account_.get(); }

private:
    std::shared_ptr<WriteBudget::Account> account_;
    std::uint64_t granted_ = 0, forced_ = 0;
};

}  // namespace vstor::util
