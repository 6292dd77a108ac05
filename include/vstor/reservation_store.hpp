// Where the persistent reservations of a logical unit live when more than one gateway serves it
// (vstor/shared_lun.hpp): registrations, the reservation and APTPL must be one state for every
// gateway, or two initiators could each believe they hold the disk. A backend whose data other
// gateways serve offers a store (SharedLun::reservation_store, e.g. an object in the Ceph
// cluster); the engine keeps the state there and a copy in memory for the per-command checks.
//
// The state is opaque bytes to the store (the engine's versioned format). Changes are
// compare-and-set on a version the store keeps, so two gateways changing it at once cannot
// both win: the loser reads again and recomputes its change.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#pragma GCC visibility push(default)  // the public API: exported from libvstor.so

namespace vstor {

class ReservationStore {
public:
    virtual ~ReservationStore() = default;

    enum class Result : std::uint8_t {
        ok,
        conflict,  // compare_and_set: the version moved on (another gateway changed the state)
        error,     // the store could not be reached or refused; `error` says why
    };

    struct Snapshot {
        std::vector<std::uint8_t> state;  // empty: nothing stored yet
        std::uint64_t version = 0;        // what compare_and_set expects to replace this state
    };

    // The stored state and its version. Blocks (bounded by the store's own timeouts): the engine
    // calls it on its worker threads, and from inside the `changed` callback, never on a loop.
    virtual Result load(Snapshot& out, std::string& error) = 0;
    // Replaces the state if its version is still `expected_version` (ok), else leaves it alone
    // (conflict). On ok, every gateway that watches has been told (or the notification timed out)
    // before it returns, so their copies are current when the command completes. Blocks likewise.
    virtual Result compare_and_set(std::uint64_t expected_version, const std::vector<std::uint8_t>& state,
                                   std::string& error) = 0;
    // From now on call `changed` when the state may have changed (another gateway's write, or a
    // lost watch that was re-established), on a thread of the store's own that may block: the
    // engine calls load() from it. An empty function stops the calls: watch({}) returns once no
    // call is running any more.
    virtual void watch(std::function<void()> changed) = 0;
};

}  // namespace vstor

#pragma GCC visibility pop
