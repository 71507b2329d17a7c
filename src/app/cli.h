#pragma once

namespace opdbus {

// The whole command line. Returns the process exit code: 0 ok / in sync, 1 error, 2 plan has changes.
int run_cli(int argc, char** argv);

}  // namespace opdbus
