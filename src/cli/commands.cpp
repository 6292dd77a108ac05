#include "cli/commands.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

namespace vstor::cli {

int run(int argc, char** argv) {
    CLI::App app{"vstor: a virtual SCSI storage adapter"};
    app.require_subcommand(1);
    auto* serve = app.add_subcommand("serve", "serve LUNs to initiators");
    (void)serve;
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    fmt::print(stderr, "vstor: serve is not available yet (the iSCSI front end is in progress)\n");
    return 2;
}

}  // namespace vstor::cli
