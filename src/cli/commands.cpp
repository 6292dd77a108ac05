#include "cli/commands.hpp"

#include <CLI/CLI.hpp>

#include "cli/ctl.hpp"
#include "cli/serve.hpp"

namespace vstor::cli {

int run(int argc, char** argv) {
    CLI::App app{"vstor: a virtual SCSI storage adapter (iSCSI and NBD target)"};
    app.require_subcommand(1);
    ServeOptions serve;
    add_serve_command(app, serve);
    CtlOptions ctl;
    add_ctl_command(app, ctl);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    if (app.got_subcommand("serve")) return run_serve(serve);
    if (app.got_subcommand("ctl")) return run_ctl(ctl);
    return 2;
}

}  // namespace vstor::cli
