// Slows down CHAP secret guessing (issue 13 §5). Failed CHAP responses are counted per peer
// address and per initiator name; after `free_failures` of them, the answer to every further
// CHAP response from that address or initiator (right or wrong, so a guesser learns nothing
// sooner) waits first_delay, doubling with each failure up to max_delay:
//   failures so far  0-2  3      4      5     6     7+
//   answer delayed   0    250ms  500ms  1s    2s    4s
// A successful CHAP login forgets both counts; a count also lapses after `forget_after` without
// a failure. Each table holds at most `max_entries` names (least recently failed go first), so
// a peer cycling through made-up initiator names cannot grow it. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace vstor::iscsi {

class AuthThrottle {
public:
    using Clock = std::chrono::steady_clock;
    struct Policy {
        unsigned free_failures = 3;
        std::chrono::milliseconds first_delay{250};
        std::chrono::milliseconds max_delay{4000};
        std::chrono::seconds forget_after{60};
        std::size_t max_entries = 4096;
    };

    AuthThrottle() : AuthThrottle(Policy{}) {}
    explicit AuthThrottle(Policy policy) : policy_(policy) {}

    // How long to hold the answer to a CHAP response from `address` as `initiator`.
    std::chrono::milliseconds delay(const std::string& address, const std::string& initiator, Clock::time_point now);
    // Records a wrong response; returns the larger of the two failure counts afterwards.
    unsigned record_failure(const std::string& address, const std::string& initiator, Clock::time_point now);
    void record_success(const std::string& address, const std::string& initiator);

    // The delay after `failures` recorded failures (the table above).
    std::chrono::milliseconds delay_after(unsigned failures) const;

    // Names tracked now (each table is bounded by Policy::max_entries).
    std::size_t tracked_addresses();
    std::size_t tracked_initiators();

private:
    // Failure counts by name, most recently failed first.
    class Table {
    public:
        unsigned count(const std::string& key, Clock::time_point now, std::chrono::seconds forget_after);
        unsigned add(const std::string& key, Clock::time_point now, std::chrono::seconds forget_after,
                     std::size_t max_entries);
        void erase(const std::string& key);
        std::size_t size() const { return index_.size(); }

    private:
        struct Entry {
            std::string key;
            unsigned failures;
            Clock::time_point last;
        };
        std::list<Entry> order_;
        std::unordered_map<std::string, std::list<Entry>::iterator> index_;
    };

    const Policy policy_;
    std::mutex mu_;
    Table by_address_, by_initiator_;
};

}  // namespace vstor::iscsi
