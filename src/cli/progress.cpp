#include "cli/progress.hpp"

#include <unistd.h>

#include <fmt/format.h>

namespace vstor::cli {

Progress::Progress(std::string what, std::uint64_t total, std::FILE* out)
    : what_(std::move(what)), total_(total ? total : 1), out_(out), tty_(::isatty(::fileno(out)) == 1) {}

void Progress::update(std::uint64_t done) {
    const double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
    if (tty_) {
        const int permille = static_cast<int>(frac * 1000);
        if (permille == last_shown_) return;
        last_shown_ = permille;
        constexpr int kWidth = 30;
        const int filled = static_cast<int>(frac * kWidth);
        fmt::print(out_, "\r{} [{}{}] {:5.1f}%", what_, std::string(static_cast<std::size_t>(filled), '#'),
                   std::string(static_cast<std::size_t>(kWidth - filled), ' '), frac * 100);
    } else {
        const int tens = static_cast<int>(frac * 10);
        if (tens == last_shown_) return;
        last_shown_ = tens;
        fmt::print(out_, "{}: {}%\n", what_, tens * 10);
    }
    std::fflush(out_);
}

void Progress::finish() {
    update(total_);
    if (tty_) fmt::print(out_, "\n");
    std::fflush(out_);
}

}  // namespace vstor::cli
