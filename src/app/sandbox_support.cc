#include "app/sandbox_support.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>

#include "error.h"
#include "sys/process.h"

namespace opdbus::sandbox {
namespace {

std::atomic<int> g_signal{0};
std::atomic<pid_t> g_foreground{0};

// A captured child runs in a process group of its own (g_foreground = -pgid), so a signal stops the whole
// tool (debootstrap is a shell script with pipelines); an attached one shares our terminal's group
// (g_foreground = pid).
void on_signal(int sig) {
  g_signal.store(sig);
  pid_t child = g_foreground.load();
  if (child != 0) ::kill(child, SIGTERM);
}

const int kHandled[] = {SIGINT, SIGTERM, SIGHUP};

std::string signal_name(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
  }
  return "signal " + std::to_string(sig);
}

// Mount points as the kernel lists them; octal escapes (\040 for a space) decoded.
std::vector<std::string> mount_points() {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, point;
    if (!(fields >> id >> parent >> devno >> root >> point)) continue;
    std::string decoded;
    for (size_t i = 0; i < point.size(); ++i) {
      if (point[i] == '\\' && i + 3 < point.size() &&
          std::isdigit(static_cast<unsigned char>(point[i + 1]))) {
        decoded += static_cast<char>(std::stoi(point.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        decoded += point[i];
      }
    }
    out.push_back(decoded);
  }
  return out;
}

std::vector<std::string> mounts_under(const std::filesystem::path& path) {
  std::string base = path.lexically_normal().string();
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::vector<std::string> found;
  for (const auto& p : mount_points()) {
    if (p == base ||
        (p.size() > base.size() && p.compare(0, base.size(), base) == 0 && p[base.size()] == '/')) {
      found.push_back(p);
    }
  }
  return found;
}

}  // namespace

void Reporter::stage(std::string_view text) const {
  if (verbosity_ < 0) return;
  std::string line = paint("1", "sandbox:") + " " + std::string(text) + "\n";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

void Reporter::detail(std::string_view line) const {
  if (verbosity_ <= 0) return;
  std::string out = paint("2", "  | " + std::string(line)) + "\n";
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
}

void Reporter::warn(std::string_view text) const {
  std::string line = paint("1;33", "sandbox: warning:") + " " + std::string(text) + "\n";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

std::string Reporter::paint(std::string_view sgr, std::string_view text) const {
  if (!color_) return std::string(text);
  return "\033[" + std::string(sgr) + "m" + std::string(text) + "\033[0m";
}

ChildResult run_child(const std::vector<std::string>& argv, const ChildOptions& options) {
  // For the interactive shell, Ctrl-C belongs to the shell: ignore SIGINT/SIGQUIT while it runs.
  struct sigaction ignore {
  }, old_int{}, old_quit{};
  if (options.interactive) {
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGINT, &ignore, &old_int);
    ::sigaction(SIGQUIT, &ignore, &old_quit);
  }
  auto restore = [&] {
    g_foreground.store(0);
    if (options.interactive) {
      ::sigaction(SIGINT, &old_int, nullptr);
      ::sigaction(SIGQUIT, &old_quit, nullptr);
    }
  };
  sys::RunOptions run;
  run.attached = options.attached;
  run.own_process_group = !options.attached;  // a captured child's whole tree gets our forwarded signals
  run.on_line = options.on_line;
  run.on_started = [&](pid_t pid) {
    const pid_t target = options.attached ? pid : -pid;
    g_foreground.store(target);
    // A signal that arrived before the child existed still has to reach it.
    if (g_signal.load() != 0) ::kill(target, SIGTERM);
  };
  try {
    sys::CommandResult r = sys::run(argv, run);
    restore();
    return ChildResult{r.exit_code, std::move(r.output)};
  } catch (...) {
    restore();
    throw;
  }
}

std::string run_child_checked(const std::vector<std::string>& argv, const ChildOptions& options) {
  ChildResult r = run_child(argv, options);
  if (r.exit_code != 0) {
    throw Error(ErrorKind::BackendError,
                sys::describe_failure(argv, sys::CommandResult{r.exit_code, r.output}));
  }
  return r.output;
}

SignalScope::SignalScope() {
  g_signal.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking waits return EINTR and look at the flag
  for (int s : kHandled) ::sigaction(s, &sa, nullptr);
  // A reader that went away (`op-dbus sandbox ... | head`) must not kill us before the container is removed.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ::sigaction(SIGPIPE, &ignore, nullptr);
  // Processes that nsenter started inside a container outlive an interrupted nsenter; as a subreaper we get
  // them (instead of the host's init, which may collect them late) and can reap them before the container
  // stops.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
}

SignalScope::~SignalScope() {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (int s : kHandled) ::sigaction(s, &sa, nullptr);
  ::sigaction(SIGPIPE, &sa, nullptr);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

int pending_signal() {
  return g_signal.load();
}

void throw_if_interrupted() {
  int sig = g_signal.load();
  if (sig != 0) throw Error(ErrorKind::Conflict, "interrupted by " + signal_name(sig));
}

void sleep_ms(int ms) {
  struct timespec ts {};
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = static_cast<long>(ms % 1000) * 1000000L;
  ::nanosleep(&ts, nullptr);  // EINTR is the early return we want
}

bool unmount_tree(const std::filesystem::path& path) {
  for (int round = 0; round < 3; ++round) {
    auto found = mounts_under(path);
    if (found.empty()) return true;
    // Deepest first, so a bind inside the tree goes before the tree's own mount.
    std::sort(found.begin(), found.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const auto& p : found) {
      if (::umount2(p.c_str(), UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT) {
        ::umount2(p.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
      }
    }
  }
  return mounts_under(path).empty();
}

bool remove_tree(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec))) return true;
  if (!unmount_tree(path)) return false;
  std::filesystem::remove_all(path, ec);
  return !ec;
}

std::string last_lines(std::string_view text, size_t n) {
  std::deque<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    // Console output carries carriage returns and colour codes; keep the text readable.
    std::string clean;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\033' && i + 1 < line.size() && line[i + 1] == '[') {
        i += 2;
        while (i < line.size() && !std::isalpha(static_cast<unsigned char>(line[i]))) ++i;
        continue;
      }
      if (line[i] == '\r') continue;
      clean += line[i];
    }
    if (clean.find_first_not_of(" \t") == std::string::npos) continue;
    lines.push_back(std::move(clean));
    if (lines.size() > n) lines.pop_front();
  }
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::string tail_lines(const std::filesystem::path& file, size_t n) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return last_lines(text.str(), n);
}

std::string indent_lines(std::string_view text, std::string_view indent) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) {
      out += indent;
      out += text.substr(start, end - start);
    }
    out += '\n';
    start = end + 1;
  }
  return out;
}

unsigned long long process_start_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return 0;
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return 0;
  }
  return std::stoull(field);
}

}  // namespace opdbus::sandbox
