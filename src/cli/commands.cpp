#include "cli/commands.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/ctl.hpp"
#include "cli/image.hpp"
#include "cli/serve.hpp"

namespace vstor::cli {

int run(int argc, char** argv) {
    CLI::App app{"vstor: a virtual SCSI storage adapter (iSCSI and NBD target)"};
    app.require_subcommand(1);
    ServeOptions serve;
    add_serve_command(app, serve);
    CtlOptions ctl;
    add_ctl_command(app, ctl);
    ImageOptions image;
    add_image_command(app, image);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help
        // Every bad command line: one line naming the problem and exit 2 (CLI11's own codes are
        // 100-127, e.g. 104 for `--loops -1`, which scripts cannot tell from a crash).
        fmt::print(stderr, "vstor: {}\n", e.what());
        return 2;
    }
    if (app.got_subcommand("serve")) return run_serve(serve);
    if (app.got_subcommand("ctl")) return run_ctl(ctl);
    if (app.got_subcommand("image")) return run_image_create(image);
    return 2;
}

}  // namespace vstor::cli
