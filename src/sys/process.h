// Running external tools (mkfs.*, debootstrap, systemd-nspawn) where no library exists. Output is captured so
// a failure carries the tool's own words.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace opdbus::sys {

struct CommandResult {
  int exit_code = 0;   // 128+N when killed by signal N
  std::string output;  // stdout and stderr interleaved
};

struct RunOptions {
  std::string stdin_data;                                // written to the child's stdin (else /dev/null)
  std::function<void(const std::string& line)> on_line;  // called per output line as it arrives (progress)
  std::vector<std::string> env;                          // extra "NAME=value" entries
  // The child shares our stdin/stdout/stderr and nothing is captured (interactive shells, streamed output).
  bool attached = false;
  // The child leads a new process group, so a signal sent to -pid reaches everything it started.
  bool own_process_group = false;
  // Called right after the child is spawned, before waiting (e.g. to forward our signals to it).
  std::function<void(pid_t pid)> on_started;
};

// Runs argv[0] (looked up in PATH) and waits. The child starts with default signal dispositions and an
// empty signal mask whatever the caller set up. Throws Error(NotSupported) if the program is missing.
CommandResult run(const std::vector<std::string>& argv, const RunOptions& options = {});

// As run(), but a non-zero exit throws Error(BackendError) with the command line, exit code and the last
// lines of output.
std::string run_checked(const std::vector<std::string>& argv, const RunOptions& options = {});

// "CMD exited with status N:\n<last lines of output>", the text run_checked() throws.
std::string describe_failure(const std::vector<std::string>& argv, const CommandResult& result);

// Shell-style quoting for messages: {"a b", "c"} -> "'a b' c".
std::string quote_command(const std::vector<std::string>& argv);

}  // namespace opdbus::sys
