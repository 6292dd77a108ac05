#include "cli/commands.hpp"

#include <CLI/CLI.hpp>

#include "cli/serve.hpp"

namespace vstor::cli {

int run(int argc, char** argv) {
    CLI::App app{"vstor: a virtual SCSI storage adapter (iSCSI target)"};
    app.require_subcommand(1);
    ServeOptions serve;
    add_serve_command(app, serve);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    if (app.got_subcommand("serve")) return run_serve(serve);
    return 2;
}

}  // namespace vstor::cli
