// Running external tools (mkfs.*, debootstrap, systemd-nspawn) where no library exists. Output is captured so
// a failure carries the tool's own words.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace opdbus::sys {

struct CommandResult {
  int exit_code = 0;   // 128+N when killed by signal N
  std::string output;  // stdout and stderr interleaved
};

struct RunOptions {
  std::string stdin_data;                                // written to the child's stdin, then closed
  std::function<void(const std::string& line)> on_line;  // called per output line as it arrives (progress)
  std::vector<std::string> env;                          // extra "NAME=value" entries
};

// Runs argv[0] (looked up in PATH) and waits. Throws Error(NotSupported) if the program is missing.
CommandResult run(const std::vector<std::string>& argv, const RunOptions& options = {});

// As run(), but a non-zero exit throws Error(BackendError) with the command line, exit code and the last
// lines of output.
std::string run_checked(const std::vector<std::string>& argv, const RunOptions& options = {});

// Shell-style quoting for messages: {"a b", "c"} -> "'a b' c".
std::string quote_command(const std::vector<std::string>& argv);

}  // namespace opdbus::sys
