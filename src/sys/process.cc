#include "sys/process.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "error.h"

extern char** environ;

namespace opdbus::sys {

std::string quote_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

CommandResult run(const std::vector<std::string>& argv, const RunOptions& options) {
  if (argv.empty()) throw Error(ErrorKind::Bug, "run: empty command");
  const bool feed = !options.attached && !options.stdin_data.empty();
  int out_pipe[2] = {-1, -1}, in_pipe[2] = {-1, -1};
  auto close_fd = [](int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  };
  if (!options.attached && ::pipe2(out_pipe, O_CLOEXEC) != 0) {
    throw Error(ErrorKind::BackendError, std::string("pipe: ") + std::strerror(errno));
  }
  if (feed && ::pipe2(in_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    close_fd(out_pipe[0]);
    close_fd(out_pipe[1]);
    throw Error(ErrorKind::BackendError, std::string("pipe: ") + std::strerror(err));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (!options.attached) {
    if (feed)
      posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
    else
      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 2);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults, empty;
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD}) sigaddset(&defaults, sig);
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  if (options.own_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr, 0);
  }
  posix_spawnattr_setflags(&attr, flags);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
  for (const auto& e : options.env) env_store.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, argv[0].c_str(), &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close_fd(out_pipe[1]);
  close_fd(in_pipe[0]);
  if (rc != 0) {
    close_fd(out_pipe[0]);
    close_fd(in_pipe[1]);
    throw Error(rc == ENOENT ? ErrorKind::NotSupported : ErrorKind::BackendError,
                "cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  if (options.on_started) options.on_started(pid);

  if (feed) {
    // Small inputs only (configs, scripts): written before reading, then closed.
    struct sigaction ign {
    }, old{};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ign, &old);
    std::string_view rest = options.stdin_data;
    while (!rest.empty()) {
      ssize_t n = ::write(in_pipe[1], rest.data(), rest.size());
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        break;
      }
      rest.remove_prefix(static_cast<size_t>(n));
    }
    close_fd(in_pipe[1]);
    ::sigaction(SIGPIPE, &old, nullptr);
  }

  CommandResult result;
  if (out_pipe[0] >= 0) {
    std::string pending;
    char buf[8192];
    for (;;) {
      ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      result.output.append(buf, static_cast<size_t>(n));
      if (options.on_line) {
        pending.append(buf, static_cast<size_t>(n));
        size_t pos;
        while ((pos = pending.find('\n')) != std::string::npos) {
          options.on_line(pending.substr(0, pos));
          pending.erase(0, pos + 1);
        }
      }
    }
    if (options.on_line && !pending.empty()) options.on_line(pending);
    close_fd(out_pipe[0]);
  }

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string describe_failure(const std::vector<std::string>& argv, const CommandResult& r) {
  // The tail of the output is where tools put their reason.
  std::string tail = r.output;
  constexpr size_t kMax = 2000;
  if (tail.size() > kMax) tail = "..." + tail.substr(tail.size() - kMax);
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  return quote_command(argv) + " exited with status " + std::to_string(r.exit_code) +
         (tail.empty() ? "" : ":\n" + tail);
}

std::string run_checked(const std::vector<std::string>& argv, const RunOptions& options) {
  CommandResult r = run(argv, options);
  if (r.exit_code != 0) throw Error(ErrorKind::BackendError, describe_failure(argv, r));
  return r.output;
}

}  // namespace opdbus::sys
