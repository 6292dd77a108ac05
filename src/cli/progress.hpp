// Progress of long work for a person at a terminal (a redrawn bar) or a log (a line per 10%).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace vstor::cli {

class Progress {
public:
    Progress(std::string what, std::uint64_t total, std::FILE* out = stderr);
    void update(std::uint64_t done);  // cheap to call often: redraws only on visible change
    void finish();

private:
    std::string what_;
    std::uint64_t total_;
    std::FILE* out_;
    bool tty_;
    int last_shown_ = -1;  // per-mille on a TTY, tens of percent otherwise
};

}  // namespace vstor::cli
