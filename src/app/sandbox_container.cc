#include "app/sandbox_container.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include "error.h"
#include "sys/fs.h"
#include "sys/process.h"
#include "text.h"

namespace opdbus::sandbox {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kRunPrefix = "op-dbus-sandbox-";
constexpr const char* kRunParent = "/var/tmp";
// How long the keeper lets nspawn shut the container down cleanly before SIGKILL (a clean poweroff takes
// about a second).
constexpr int kShutdownGraceSeconds = 15;

std::string random_hex(size_t digits) {
  std::random_device rd;
  std::string out;
  static const char* hex = "0123456789abcdef";
  while (out.size() < digits) out += hex[rd() & 15];
  return out;
}

// The container's PID 1 as the host sees it: nspawn's child that is PID 1 in its own PID namespace.
pid_t find_leader(pid_t nspawn) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "status");
    std::string line;
    pid_t ppid = -1;
    std::vector<std::string> nspid;
    while (std::getline(in, line)) {
      if (line.rfind("PPid:", 0) == 0) ppid = static_cast<pid_t>(std::atol(line.c_str() + 5));
      if (line.rfind("NSpid:", 0) == 0) {
        std::istringstream ids(line.substr(6));
        std::string id;
        while (ids >> id) nspid.push_back(id);
      }
    }
    if (ppid == nspawn && nspid.size() >= 2 && nspid.back() == "1")
      return static_cast<pid_t>(std::atol(name.c_str()));
  }
  return 0;
}

std::string pid_namespace(pid_t pid) {
  std::error_code ec;
  return fs::read_symlink("/proc/" + std::to_string(pid) + "/ns/pid", ec).string();
}

// Processes that nsenter put into the container have their parent outside it. When that parent dies first
// they are re-parented to the host's init, and the container's shutdown then waits its full timeout for them:
// so they are killed before the container is asked to stop. Their own children are the container init's to
// reap.
std::vector<pid_t> entered_processes(pid_t leader) {
  std::vector<pid_t> found;
  const std::string ns = pid_namespace(leader);
  if (ns.empty()) return found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::atol(name.c_str()));
    if (pid == leader || pid_namespace(pid) != ns) continue;
    std::ifstream in(entry.path() / "status");
    std::string line;
    pid_t ppid = 0;
    while (std::getline(in, line)) {
      if (line.rfind("PPid:", 0) == 0) ppid = static_cast<pid_t>(std::atol(line.c_str() + 5));
    }
    if (ppid > 0 && pid_namespace(ppid) != ns) found.push_back(pid);
  }
  return found;
}

void kill_entered_processes(pid_t leader) {
  for (pid_t pid : entered_processes(leader)) ::kill(pid, SIGKILL);
}

}  // namespace

bool has_entered_processes(pid_t leader) {
  return !entered_processes(leader).empty();
}

namespace {

// "PID STARTTIME" of a process, so a later reader can tell whether that very process still exists.
std::string process_tag(pid_t pid) {
  return std::to_string(pid) + " " + std::to_string(process_start_time(pid));
}

bool tag_alive(const std::string& tag) {
  std::istringstream in(tag);
  long pid = 0;
  unsigned long long start = 0;
  if (!(in >> pid >> start) || pid <= 0 || start == 0) return false;
  return process_start_time(static_cast<pid_t>(pid)) == start;
}

// The owner and keeper tags of a run directory ("" for a missing file); nothing when they cannot be read.
struct RunTags {
  std::string owner, keeper;
};
std::optional<RunTags> read_run_tags(const fs::path& dir) {
  try {
    return RunTags{sys::read_file(dir / "owner").value_or(""), sys::read_file(dir / "keeper").value_or("")};
  } catch (const Error&) {
    return std::nullopt;
  }
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string one_decimal(double v) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(1);
  out << v;
  return out.str();
}

// Everything the keeper needs, prepared before fork() so the child does no allocation before it execs nspawn.
struct KeeperPlan {
  std::vector<std::string> argv;
  pid_t parent = 0;
  int null_fd = -1, log_fd = -1, report_fd = -1;
  sigset_t handled;
  fs::path run_dir;
};

[[noreturn]] void keeper_main(const KeeperPlan& plan, bool die_with_parent) {
  ::setsid();
  bool stop_requested = false;
  if (die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != plan.parent) stop_requested = true;  // op-dbus died before prctl took effect
  }
  ::dup2(plan.null_fd, 0);
  ::dup2(plan.log_fd, 1);
  ::dup2(plan.log_fd, 2);
  ::dup2(plan.report_fd, 3);
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  // Nothing of op-dbus's (the cache lock, a caller's pipe) may stay open for the container's lifetime.
  ::close_range(4, ~0U, 0);

  std::vector<char*> args;
  for (const auto& a : plan.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t nspawn = ::fork();
  if (nspawn == 0) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::sigaction(s, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "op-dbus sandbox: cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  ssize_t ignored = ::write(3, &nspawn, sizeof nspawn);
  (void)ignored;
  ::close(3);

  if (nspawn > 0) {
    // Stopping: SIGTERM to nspawn (a clean poweroff of the container); after the grace period SIGKILL to the
    // container's PID 1, which ends its whole PID namespace; after that, SIGKILL to nspawn itself.
    bool term_sent = false;
    int kills_sent = 0;
    struct timespec term_at {};
    pid_t leader = 0;
    unsigned long long leader_start = 0;
    for (;;) {
      if (leader == 0 && (leader = find_leader(nspawn)) != 0) leader_start = process_start_time(leader);
      if (stop_requested && !term_sent) {
        ::kill(nspawn, SIGTERM);
        ::clock_gettime(CLOCK_MONOTONIC, &term_at);
        term_sent = true;
      }
      if (term_sent) {
        struct timespec now {};
        ::clock_gettime(CLOCK_MONOTONIC, &now);
        long waited = now.tv_sec - term_at.tv_sec;
        if (kills_sent == 0 && waited >= kShutdownGraceSeconds) {
          if (leader != 0 && process_start_time(leader) == leader_start) ::kill(leader, SIGKILL);
          kills_sent = 1;
        } else if (kills_sent == 1 && waited >= kShutdownGraceSeconds + 5) {
          ::kill(nspawn, SIGKILL);
          kills_sent = 2;
        }
      }
      int status = 0;
      if (::waitpid(nspawn, &status, WNOHANG) == nspawn) break;
      struct timespec tick {
        0, 250000000
      };
      siginfo_t info;
      int sig = ::sigtimedwait(&plan.handled, &info, &tick);
      if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) stop_requested = true;
    }
    // nspawn gone but its container still there (nspawn was SIGKILLed): end the container too, so the root
    // is not unmounted under a running system.
    if (leader != 0 && process_start_time(leader) == leader_start) {
      ::kill(leader, SIGKILL);
      for (int i = 0; i < 100 && process_start_time(leader) == leader_start; ++i) sleep_ms(50);
    }
  }
  // With op-dbus still there, it removes the run directory itself (after reading the console log).
  if (::getppid() != plan.parent) {
    release_nat(plan.run_dir);
    remove_tree(plan.run_dir);
  }
  _exit(0);
}

// ---- --nat NAME: a veth pair to the host and masquerading through an nft table of the sandbox's own.
// The run directory's "nat" file records what was set up ("name NAME", "forward 1" when net.ipv4.ip_forward
// was switched on for it), written before anything is created, so that every exit path (stop(), the keeper
// after op-dbus died, a later run's stale-directory sweep) can undo exactly that.
constexpr const char* kNatFile = "nat";
constexpr const char* kIpForward = "/proc/sys/net/ipv4/ip_forward";

// A command whose output nobody reads (cleanup); its exit status.
int run_quiet(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    int fd = ::open("/dev/null", O_RDWR);
    if (fd >= 0) {
      ::dup2(fd, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A sysctl (a /proc file is written in place, not replaced).
void write_sysctl(const char* path, const char* value) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorKind::BackendError, std::string("open ") + path + ": " + std::strerror(errno));
  ssize_t n = ::write(fd, value, std::strlen(value));
  int err = errno;
  ::close(fd);
  if (n < 0) throw Error(ErrorKind::BackendError, std::string("write ") + path + ": " + std::strerror(err));
}

struct NatRecord {
  std::string name;
  bool forward = false;
};

std::optional<NatRecord> read_nat_record(const fs::path& run_dir) {
  std::optional<std::string> text;
  try {
    text = sys::read_file(run_dir / kNatFile);
  } catch (const Error&) {
    return std::nullopt;
  }
  if (!text) return std::nullopt;
  NatRecord r;
  for (const auto& line : split(*text, '\n')) {
    if (starts_with(line, "name ")) r.name = line.substr(5);
    if (line == "forward 1") r.forward = true;
  }
  if (r.name.empty()) return std::nullopt;
  return r;
}

// Another sandbox, still running, that switched ip_forward on (or inherited doing so).
bool other_forwarding_sandbox(const fs::path& mine) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(kRunParent, ec)) {
    if (entry.path() == mine || entry.path().filename().string().rfind(kRunPrefix, 0) != 0) continue;
    auto rec = read_nat_record(entry.path());
    if (!rec || !rec->forward) continue;
    auto tags = read_run_tags(entry.path());
    if (tags && (tag_alive(tags->owner) || tag_alive(tags->keeper))) return true;
  }
  return false;
}

}  // namespace

bool valid_nat_name(const std::string& name) {
  if (name.empty() || name.size() > 15 || !(name[0] >= 'a' && name[0] <= 'z')) return false;
  return name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
}

void release_nat(const fs::path& run_dir) noexcept {
  try {
    auto rec = read_nat_record(run_dir);
    if (!rec) return;
    run_quiet({"nft", "delete", "table", "ip", rec->name});
    // The veth pair goes with the container's network namespace; this is for a container that is still up.
    std::error_code ec;
    if (fs::exists("/sys/class/net/" + rec->name, ec)) run_quiet({"ip", "link", "delete", rec->name});
    if (rec->forward && !other_forwarding_sandbox(run_dir)) write_sysctl(kIpForward, "0\n");
    fs::remove(run_dir / kNatFile, ec);
  } catch (...) {
  }
}

namespace {}  // namespace

std::string BindRo::nspawn_arg() const {
  return "--bind-ro=" + host.string() + (dest.empty() ? "" : ":" + dest);
}

BindRo parse_bind(const std::string& spec) {
  BindRo b;
  size_t colon = spec.find(':');
  std::string host = spec.substr(0, colon);
  if (colon != std::string::npos) b.dest = spec.substr(colon + 1);
  if (host.empty())
    throw Error(ErrorKind::InvalidArgument, "--bind-ro '" + spec + "': the host path is empty");
  std::error_code ec;
  b.host = fs::absolute(host, ec).lexically_normal();
  if (!fs::exists(b.host, ec)) {
    throw Error(ErrorKind::InvalidArgument,
                "--bind-ro '" + spec + "': " + b.host.string() + " does not exist");
  }
  if (colon != std::string::npos && (b.dest.empty() || b.dest[0] != '/')) {
    throw Error(
        ErrorKind::InvalidArgument,
        "--bind-ro '" + spec + "': the path inside the container must be absolute, found '" + b.dest + "'");
  }
  return b;
}

Container::Container(ContainerConfig config, const Reporter& report)
    : config_(std::move(config)), report_(report), name_("opdbus-" + random_hex(8)) {}

Container::~Container() {
  stop();
}

void Container::create() {
  std::string templ = std::string(kRunParent) + "/" + kRunPrefix + "XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    throw Error(errno == EACCES ? ErrorKind::PermissionError : ErrorKind::BackendError,
                "create a run directory under " + std::string(kRunParent) + ": " + std::strerror(errno));
  }
  run_dir_ = templ;
  sys::atomic_write(run_dir_ / "owner", process_tag(::getpid()) + "\n");
  setup_root();
  write_files();
}

void Container::setup_root() {
  fs::create_directories(run_dir_ / "upper");
  fs::create_directories(run_dir_ / "work");
  fs::create_directories(root());
  // overlayfs separates its options with ',' and layers with ':', so such paths cannot be passed.
  const std::string lower = config_.image.string();
  if (lower.find_first_of(",:\\") == std::string::npos) {
    std::string opts = "lowerdir=" + lower + ",upperdir=" + (run_dir_ / "upper").string() +
                       ",workdir=" + (run_dir_ / "work").string();
    if (::mount("overlay", root().c_str(), "overlay", 0, opts.c_str()) == 0) {
      overlay_ = true;
      return;
    }
    report_.warn(std::string("overlayfs mount failed (") + std::strerror(errno) +
                 "); copying the image instead, which is slower");
  }
  run_child_checked({"cp", "-a", "--reflink=auto", lower + "/.", root().string()});
}

void Container::write_files() {
  const fs::path r = root();
  std::error_code ec;
  fs::create_directories(r / "usr/local/bin", ec);
  fs::copy_file(config_.self_exe, r / "usr/local/bin/op-dbus", fs::copy_options::overwrite_existing, ec);
  if (ec) {
    throw Error(ErrorKind::BackendError,
                "copy " + config_.self_exe.string() + " into the container: " + ec.message());
  }
  fs::permissions(r / "usr/local/bin/op-dbus", fs::perms(0755), ec);
  if (!config_.state_file.empty()) {
    auto content = sys::read_file(config_.state_file);
    if (!content) throw Error(ErrorKind::InvalidArgument, config_.state_file + ": no such file");
    sys::atomic_write(r / "root/state.json", *content, 0600);
  }
  // A machine-id of its own per run (journald, D-Bus), and the machine name as hostname.
  sys::atomic_write(r / "etc/machine-id", random_hex(32) + "\n", 0444);
  sys::atomic_write(r / "etc/hostname", name_ + "\n");
  sys::atomic_write(r / "etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\t" + name_ +
                                         "\n::1\tlocalhost ip6-localhost ip6-loopback\n");
  if (!config_.nat.empty()) {
    // The host's name servers: the container's traffic leaves through the host.
    auto resolv = sys::read_file("/etc/resolv.conf");
    if (!resolv) throw Error(ErrorKind::NotSupported, "--nat: the host has no /etc/resolv.conf to copy in");
    std::error_code rm;
    fs::remove(r / "etc/resolv.conf", rm);  // possibly a symlink into the image's /run
    sys::atomic_write(r / "etc/resolv.conf", *resolv);
  }
}

void Container::setup_nat() {
  const std::string& n = config_.nat;
  if (!valid_nat_name(n)) {
    throw Error(ErrorKind::InvalidArgument,
                "--nat '" + n + "': expected a lower-case letter, then letters, digits or '-' (at most 15)");
  }
  std::error_code ec;
  if (fs::exists("/sys/class/net/" + n, ec)) {
    throw Error(ErrorKind::Conflict,
                "--nat " + n + ": the host already has a network interface of that name (another sandbox?)");
  }
  if (run_child({"nft", "list", "table", "ip", n}).exit_code == 0) {
    throw Error(ErrorKind::Conflict,
                "--nat " + n + ": the host already has an nft table 'ip " + n + "' (another sandbox?)");
  }
  // A /30 in 172.31.0.0/16 that no host address is in.
  const std::string addresses = run_child_checked({"ip", "-4", "-o", "addr", "show"});
  std::string prefix;
  std::random_device rd;
  for (int tries = 0; tries < 64 && prefix.empty(); ++tries) {
    std::string p = "172.31." + std::to_string(rd() % 256) + ".";
    if (addresses.find(" " + p) == std::string::npos) prefix = p;
  }
  if (prefix.empty()) throw Error(ErrorKind::Conflict, "--nat: no free /30 in 172.31.0.0/16");
  const std::string host = prefix + "1", guest = prefix + "2", net = prefix + "0/30";

  const bool forward_off = trim(sys::read_file(kIpForward).value_or("0")) == "0";
  const bool forward_ours = forward_off || other_forwarding_sandbox(run_dir_);
  // Recorded first: from here on every exit path undoes it (release_nat).
  sys::atomic_write(run_dir_ / kNatFile, "name " + n + "\nforward " + (forward_ours ? "1" : "0") + "\n");
  report_.stage("--nat: veth " + n + " (" + host + ") <-> eth0 (" + guest + ") in " + name_ +
                ", masquerading through the nft table 'ip " + n + "'");
  const std::string leader = std::to_string(leader_);
  run_child_checked({"ip", "link", "add", n, "type", "veth", "peer", "name", "eth0", "netns", leader});
  run_child_checked({"ip", "addr", "add", host + "/30", "dev", n});
  run_child_checked({"ip", "link", "set", n, "up"});
  run_child_checked({"nsenter", "-t", leader, "-n", "ip", "addr", "add", guest + "/30", "dev", "eth0"});
  run_child_checked({"nsenter", "-t", leader, "-n", "ip", "link", "set", "eth0", "up"});
  run_child_checked({"nsenter", "-t", leader, "-n", "ip", "route", "replace", "default", "via", host});
  const fs::path rules = run_dir_ / "nat.nft";
  sys::atomic_write(rules, "table ip " + n + " {\n  chain postrouting {\n" +
                               "    type nat hook postrouting priority srcnat; policy accept;\n" +
                               "    ip saddr " + net + " oifname != \"" + n + "\" masquerade\n  }\n}\n");
  run_child_checked({"nft", "-f", rules.string()});
  if (forward_off) write_sysctl(kIpForward, "1\n");
}

void Container::start_keeper() {
  KeeperPlan plan;
  plan.argv = {"systemd-nspawn",
               "--register=no",
               "--keep-unit",
               "--quiet",
               "--private-network",
               "--console=read-only",
               "-D",
               root().string(),
               "-M",
               name_,
               "--boot"};
  for (const auto& b : config_.binds) plan.argv.push_back(b.nspawn_arg());
  report_.detail(sys::quote_command(plan.argv));
  plan.parent = ::getpid();
  plan.run_dir = run_dir_;
  const fs::path console = run_dir_ / "console.log";
  plan.log_fd = ::open(console.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  plan.null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  int report[2];
  if (plan.log_fd < 0 || plan.null_fd < 0 || ::pipe2(report, O_CLOEXEC) != 0) {
    int err = errno;
    if (plan.log_fd >= 0) ::close(plan.log_fd);
    if (plan.null_fd >= 0) ::close(plan.null_fd);
    throw Error(ErrorKind::BackendError,
                "prepare to start systemd-nspawn: " + std::string(std::strerror(err)));
  }
  plan.report_fd = report[1];
  sigemptyset(&plan.handled);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&plan.handled, s);

  // Blocked across fork, so a signal cannot hit the keeper before it waits for signals itself.
  sigset_t old;
  ::sigprocmask(SIG_BLOCK, &plan.handled, &old);
  pid_t pid = ::fork();
  if (pid == 0) keeper_main(plan, /*die_with_parent=*/!config_.keep);
  int fork_err = errno;
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  ::close(plan.log_fd);
  ::close(plan.null_fd);
  ::close(report[1]);
  if (pid < 0) {
    ::close(report[0]);
    throw Error(ErrorKind::BackendError, std::string("fork: ") + std::strerror(fork_err));
  }
  keeper_pid_ = pid;
  pid_t nspawn = 0;
  ssize_t n;
  while ((n = ::read(report[0], &nspawn, sizeof nspawn)) < 0 && errno == EINTR) {
  }
  ::close(report[0]);
  if (n != static_cast<ssize_t>(sizeof nspawn) || nspawn <= 0) {
    throw Error(ErrorKind::BackendError, "could not start systemd-nspawn");
  }
  nspawn_pid_ = nspawn;
  sys::atomic_write(run_dir_ / "keeper", process_tag(keeper_pid_) + "\n");
}

// Processes nsenter left behind are re-parented to us (we are a child subreaper while the sandbox runs): reap
// them, so the container's shutdown does not wait for zombies it cannot collect.
void Container::reap_orphans() {
  for (int round = 0; round < 20; ++round) {
    sleep_ms(25);
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(-1, &status, WNOHANG);
      if (r <= 0) break;
      if (r == keeper_pid_) keeper_pid_ = 0;
    }
    if (!has_entered_processes(leader_)) return;
  }
}

bool Container::keeper_exited() {
  if (keeper_pid_ <= 0) return true;
  int status = 0;
  pid_t r = ::waitpid(keeper_pid_, &status, WNOHANG);
  if (r == keeper_pid_ || (r < 0 && errno == ECHILD)) {
    keeper_pid_ = 0;
    return true;
  }
  return false;
}

std::string Container::console_tail(size_t lines) const {
  std::string text = tail_lines(run_dir_ / "console.log", lines);
  return text.empty() ? "  (no console output)\n" : indent_lines(text, "  ");
}

std::string Container::system_state() {
  ChildResult r =
      run_child({"nsenter", "-t", std::to_string(leader_), "-a", "systemctl", "is-system-running"});
  std::string out = trim(r.output);
  size_t nl = out.rfind('\n');
  return nl == std::string::npos ? out : out.substr(nl + 1);
}

void Container::boot(int timeout_seconds) {
  report_.stage("booting " + name_ + " (systemd-nspawn, private network" +
                (config_.nat.empty() ? std::string(")") : ", --nat " + config_.nat + ")"));
  const auto started = Clock::now();
  start_keeper();
  std::string state;
  for (;;) {
    throw_if_interrupted();
    if (keeper_exited()) {
      throw Error(ErrorKind::BackendError,
                  "the container stopped while booting; its console ended with:\n" + console_tail(25));
    }
    if (leader_ == 0) leader_ = find_leader(nspawn_pid_);
    if (leader_ != 0) {
      state = system_state();
      if (state == "running" || state == "degraded") break;
      if (state == "maintenance" || state == "stopping") {
        throw Error(ErrorKind::BackendError, "systemd inside the container entered '" + state +
                                                 "' while booting; its console ended with:\n" +
                                                 console_tail(25));
      }
    }
    if (seconds_since(started) > timeout_seconds) {
      throw Error(ErrorKind::BackendError, "systemd inside the container did not finish booting within " +
                                               std::to_string(timeout_seconds) +
                                               " s (state: " + (state.empty() ? "no PID 1 yet" : state) +
                                               "); its console ended with:\n" + console_tail(25));
    }
    sleep_ms(200);
  }
  report_.stage(name_ + " is up (" + state + ") after " + one_decimal(seconds_since(started)) + " s");
  if (!config_.nat.empty()) setup_nat();
  if (state == "degraded") {
    ChildResult failed = exec({"systemctl", "--failed", "--no-legend", "--plain"});
    report_.warn("failed units inside the container:\n" + indent_lines(trim(failed.output), "  "));
  }
}

ChildResult Container::exec(const std::vector<std::string>& argv, const ChildOptions& options) {
  if (leader_ == 0) throw Error(ErrorKind::Bug, "exec before the container booted");
  std::vector<std::string> full = {"nsenter",
                                   "-t",
                                   std::to_string(leader_),
                                   "-a",
                                   "/usr/bin/env",
                                   "-i",
                                   "-C",
                                   "/root",
                                   "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                   "HOME=/root",
                                   "USER=root",
                                   "LOGNAME=root",
                                   "SHELL=/bin/bash",
                                   "LANG=C.UTF-8"};
  const char* term = std::getenv("TERM");
  if (options.attached && term && *term) full.push_back(std::string("TERM=") + term);
  if (!config_.state_file.empty()) full.push_back(std::string("OPDBUS_STATE=") + kStateInside);
  full.insert(full.end(), argv.begin(), argv.end());
  return run_child(full, options);
}

void Container::stop() noexcept {
  if (kept_ || run_dir_.empty()) return;
  try {
    if (keeper_pid_ > 0 && !keeper_exited()) {
      report_.stage("stopping " + name_);
      if (leader_ != 0) {
        kill_entered_processes(leader_);
        reap_orphans();
      }
      if (keeper_pid_ > 0) ::kill(keeper_pid_, SIGTERM);
      const auto asked = Clock::now();
      // The keeper escalates to SIGKILL itself after its grace period; this is the backstop if it cannot.
      while (!keeper_exited()) {
        if (seconds_since(asked) > kShutdownGraceSeconds + 10) {
          report_.warn("the container did not stop; killing it");
          if (leader_ != 0) ::kill(leader_, SIGKILL);
          ::kill(nspawn_pid_, SIGKILL);
          ::kill(keeper_pid_, SIGKILL);
          while (::waitpid(keeper_pid_, nullptr, 0) < 0 && errno == EINTR) {
          }
          keeper_pid_ = 0;
          break;
        }
        sleep_ms(100);
      }
    }
    release_nat(run_dir_);
    if (!remove_tree(run_dir_)) {
      report_.warn("could not remove " + run_dir_.string() + ": something is still mounted below it");
    }
  } catch (const std::exception& e) {
    report_.warn(std::string("cleanup of ") + run_dir_.string() + " failed: " + e.what());
  }
  run_dir_.clear();
}

void remove_stale_run_dirs(const Reporter& report) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(kRunParent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kRunPrefix, 0) != 0 || !entry.is_directory(ec)) continue;
    auto tags = read_run_tags(entry.path());
    if (!tags) continue;
    const auto& [owner, keeper] = *tags;
    if (owner.empty() && keeper.empty()) {
      // Created by a run that died within its first moments; give a live one plenty of time.
      auto age = fs::file_time_type::clock::now() - fs::last_write_time(entry.path(), ec);
      if (ec || age < std::chrono::hours(1)) continue;
    } else if (tag_alive(owner) || tag_alive(keeper)) {
      continue;
    }
    report.stage("removing the stale run directory " + entry.path().string());
    release_nat(entry.path());
    if (!remove_tree(entry.path())) report.warn("could not remove " + entry.path().string());
  }
}

}  // namespace opdbus::sandbox
