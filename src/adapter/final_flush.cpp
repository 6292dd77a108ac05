// Adapter::flush_all and flush_all_within: the flush an orderly shutdown ends with. Every LUN's
// flush starts at once (a shutdown with several LUNs on a slow store waits for the slowest, not
// the sum), and the wait may be bounded: a backend whose store stopped answering (an RBD image
// whose cluster is gone) must not hold a shutdown forever.
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "adapter/adapter_impl.hpp"
#include "scsi/logical_unit.hpp"

namespace vstor::adapter {

namespace {

struct FlushAnswer {
    IoStatus status;
    std::string why;  // the backend's message
};

// What the flushes answered, one per LUN (none yet: nullopt). Shared with their callbacks, which
// may run after the wait ended.
struct FlushAnswers {
    std::mutex mu;
    std::condition_variable_any cv;
    std::vector<std::optional<FlushAnswer>> of;
    std::size_t left = 0;
};

}  // namespace

bool AdapterImpl::flush_all() { return flush_all_within(std::chrono::milliseconds::max(), {}); }

bool AdapterImpl::flush_all_within(std::chrono::milliseconds limit, std::stop_token stop) {
    std::vector<std::shared_ptr<scsi::LogicalUnit>> all;
    {
        std::lock_guard lk(mu_);
        for (const auto& [id, t] : targets_)
            for (auto& lu : t->luns()) all.push_back(lu);
    }
    auto answers = std::make_shared<FlushAnswers>();
    answers->of.resize(all.size());
    answers->left = all.size();
    const auto started = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < all.size(); ++i)
        all[i]->backend().flush([answers, i](IoStatus st, std::string_view why) {
            std::lock_guard lk(answers->mu);
            answers->of[i] = FlushAnswer{st, std::string(why)};
            --answers->left;
            answers->cv.notify_all();
        });

    std::unique_lock lk(answers->mu);
    const auto answered = [&] { return answers->left == 0; };
    // No limit: a time_point that far ahead would overflow the clock's nanoseconds.
    if (limit >= std::chrono::hours(24 * 365)) answers->cv.wait(lk, stop, answered);
    else answers->cv.wait_until(lk, stop, started + limit, answered);

    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    bool all_flushed = true;
    for (std::size_t i = 0; i < all.size(); ++i) {
        const auto& lu = *all[i];
        const auto& answer = answers->of[i];
        if (!answer) {
            all_flushed = false;
            spdlog::error("{} LUN {}: the final flush has not finished after {} ms{}: writes acknowledged from its "
                          "cache may be lost",
                          lu.target().name(), lu.lun(), waited.count(),
                          stop.stop_requested() ? " (asked not to wait any longer)" : "");
            continue;
        }
        if (answer->status == IoStatus::ok) continue;
        all_flushed = false;
        spdlog::error("{} LUN {}: the final flush failed ({}{}{}): data written before it may not be durable",
                      lu.target().name(), lu.lun(), to_string(answer->status), answer->why.empty() ? "" : ": ",
                      answer->why);
    }
    return all_flushed;
}

}  // namespace vstor::adapter
