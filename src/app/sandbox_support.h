// Plumbing shared by the sandbox parts: progress output, child processes that a signal can interrupt, and
// mount-aware removal of the temporary trees the sandbox creates.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace opdbus::sandbox {

// Progress goes to stderr, so stdout carries only the verdict (or the --exec commands' own output).
class Reporter {
 public:
  Reporter(bool color, int verbosity) : color_(color), verbosity_(verbosity) {}

  void stage(std::string_view text) const;   // "sandbox: booting ..."; not with -q (verbosity < 0)
  void detail(std::string_view line) const;  // a tool's own line; shown only with -v (verbosity > 0)
  void warn(std::string_view text) const;    // always shown
  bool verbose() const { return verbosity_ > 0; }
  bool color() const { return color_; }
  // `text` wrapped in an SGR code when colour is on: paint("1;32", "PASS").
  std::string paint(std::string_view sgr, std::string_view text) const;

 private:
  bool color_;
  int verbosity_;
};

struct ChildResult {
  int exit_code = 0;   // 128+N when killed by signal N
  std::string output;  // stdout and stderr interleaved; empty when attached
};

struct ChildOptions {
  // Attached: the child shares our stdin/stdout/stderr (streamed --exec commands, the interactive shell).
  // Otherwise its output is captured and stdin is /dev/null.
  bool attached = false;
  // For the interactive shell: Ctrl-C belongs to the shell, so we ignore SIGINT/SIGQUIT while it runs.
  bool interactive = false;
  std::function<void(const std::string& line)> on_line;  // per captured line, as it arrives
};

// Runs argv (PATH lookup) and waits. While it runs, SIGINT/SIGTERM to us are forwarded to it as SIGTERM.
// Throws Error(NotSupported) when the program is missing.
ChildResult run_child(const std::vector<std::string>& argv, const ChildOptions& options = {});

// Like run_child but a non-zero exit throws Error(BackendError) with the command and its last output lines.
std::string run_child_checked(const std::vector<std::string>& argv, const ChildOptions& options = {});

// SIGINT/SIGTERM/SIGHUP handling for the duration of one sandbox run: a signal sets a flag (checked between
// steps and in wait loops) and is forwarded to the running foreground child, so cleanup always runs.
class SignalScope {
 public:
  SignalScope();
  ~SignalScope();
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;
};
int pending_signal();         // 0 when none arrived
void throw_if_interrupted();  // throws Error(Conflict, "interrupted by SIGINT") once a signal arrived

// Sleeps, returning early when a signal arrives.
void sleep_ms(int ms);

// Unmounts every mount at or below `path` (deepest first, lazily if busy). Returns false if some remain.
bool unmount_tree(const std::filesystem::path& path);

// Removes `path` recursively, but only after unmount_tree succeeded: never delete through a mount into the
// host (a leftover bind of /dev or /proc). Returns false, leaving the tree, when that is not possible.
bool remove_tree(const std::filesystem::path& path);

// The last `n` lines of a file (for error messages quoting the container console).
std::string tail_lines(const std::filesystem::path& file, size_t n);

// The last `n` non-empty lines of `text`, carriage returns and colour codes removed.
std::string last_lines(std::string_view text, size_t n);

// Text with every line prefixed by `indent`; a trailing newline is not turned into an empty line.
std::string indent_lines(std::string_view text, std::string_view indent);

// Process start time (field 22 of /proc/PID/stat), 0 when the process does not exist; with the PID it names a
// process unambiguously.
unsigned long long process_start_time(pid_t pid);

}  // namespace opdbus::sandbox
