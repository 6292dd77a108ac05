// `vstor` command line entry point.
#include "cli/commands.hpp"

int main(int argc, char** argv) { return vstor::cli::run(argc, argv); }
