// `op-dbus sandbox`, as a list of passes:
//   check input      the state is validated on the host first, so a bad document fails in a second
//   image            the cached Debian rootfs, built once per (suite, mirror, package list)
//   container        a copy-on-write root with op-dbus and the state inside, booted with systemd-nspawn
//   run              --exec commands, or validate -> plan -> apply -> plan (which must be empty)
//   verdict          one line (or one JSON object) on stdout; the container is removed unless --keep
#include "app/sandbox.h"

#include <unistd.h>

#include <csignal>

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "app/sandbox_container.h"
#include "app/sandbox_image.h"
#include "app/sandbox_support.h"
#include "error.h"

namespace opdbus {
namespace {

namespace fs = std::filesystem;
using sandbox::ChildOptions;
using sandbox::ChildResult;
using sandbox::Container;
using sandbox::Reporter;

constexpr int kBootTimeoutSeconds = 60;

struct Step {
  std::string name;     // "validate", "plan", "apply", "plan again", "exec"
  std::string command;  // as a person would type it
  int exit_code = 0;
  bool ok = false;
  std::string output;
};

struct Verdict {
  std::vector<Step> steps;
  std::string result = "error";  // "pass", "fail" or "error"
  std::string failed_step;
  std::string reason;
  std::optional<size_t> changes;
  int exit_code = 1;
  // Set when --keep left the container running.
  std::string container_name, container_root;
  pid_t nspawn_pid = 0, leader = 0;
};

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    fs::path candidate = fs::path(dirs.substr(start, end - start)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

std::string last_line(const std::string& text) {
  std::string t = sandbox::last_lines(text, 1);
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t;
}

// Actions `apply` would run, from `plan --json`; nullopt when the output is not the plan object we know.
std::optional<size_t> count_actions(const std::string& plan_json) {
  rapidjson::Document d;
  d.Parse(plan_json.c_str(), plan_json.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("actions") || !d["actions"].IsArray())
    return std::nullopt;
  size_t n = 0;
  for (const auto& a : d["actions"].GetArray()) {
    bool observe = a.IsObject() && a.HasMember("observe") && a["observe"].IsBool() && a["observe"].GetBool();
    if (!observe) ++n;
  }
  return n;
}

class SandboxRun {
 public:
  SandboxRun(const SandboxOptions& options, Verdict& verdict)
      : o_(options), v_(verdict), report_(options.color, options.verbosity) {}

  int run() {
    if (!o_.state_file.empty() && !fs::exists(o_.state_file)) {
      throw Error(ErrorKind::InvalidArgument, o_.state_file + ": no such file");
    }
    self_exe_ = resolve_self();
    if (!o_.state_file.empty() && !o_.prepare_only && !validate_on_host()) return v_.exit_code;
    check_host();
    if (!o_.nat.empty() && !sandbox::valid_nat_name(o_.nat)) {
      throw Error(ErrorKind::InvalidArgument,
                  "--nat '" + o_.nat +
                      "': expected a lower-case letter, then letters, digits or "
                      "'-' (at most 15 characters: it names a network interface)");
    }
    std::vector<sandbox::BindRo> binds;
    for (const auto& b : o_.bind_ro) binds.push_back(sandbox::parse_bind(b));

    sandbox::ImageSpec spec = sandbox::image_spec(self_exe_, report_, o_.include);
    fs::path image = sandbox::ensure_image(spec, report_);
    sandbox::throw_if_interrupted();
    if (o_.prepare_only) {
      if (o_.json) {
        print_json_prepare(spec, image);
      } else {
        std::printf("%s\n", image.c_str());
      }
      v_.result = "pass";
      return v_.exit_code = 0;
    }

    sandbox::ContainerConfig config;
    config.image = image;
    config.self_exe = self_exe_;
    config.state_file = o_.state_file;
    config.keep = o_.keep;
    config.binds = binds;
    config.nat = o_.nat;
    sandbox::remove_stale_run_dirs(report_);

    Container container(config, report_);
    container.create();
    container.boot(kBootTimeoutSeconds);
    sandbox::throw_if_interrupted();

    if (!o_.exec.empty()) {
      run_exec(container);
    } else if (!o_.state_file.empty()) {
      run_default(container);
    } else {
      v_.result = "pass";
      v_.reason = "the container booted";
      v_.exit_code = 0;
    }
    sandbox::throw_if_interrupted();

    if (o_.shell) {
      report_.stage("opening a shell in " + container.name() + "; leave it with 'exit'" +
                    (o_.keep ? "" : " (the container is removed afterwards)"));
      ChildOptions attached;
      attached.attached = true;
      attached.interactive = true;
      container.exec({"/bin/bash", "-l"}, attached);
    }
    if (o_.keep) {
      container.detach();
      v_.container_name = container.name();
      v_.container_root = container.root().string();
      v_.nspawn_pid = container.nspawn_pid();
      v_.leader = container.leader();
    }
    return v_.exit_code;
  }

  const Reporter& reporter() const { return report_; }

 private:
  fs::path resolve_self() {
    fs::path exe = o_.self_exe.empty() ? fs::read_symlink("/proc/self/exe") : fs::path(o_.self_exe);
    std::error_code ec;
    fs::path abs = fs::canonical(exe, ec);
    if (ec)
      throw Error(ErrorKind::InvalidArgument, "the op-dbus binary " + exe.string() + ": " + ec.message());
    return abs;
  }

  // A bad document fails here, before anything is built or booted.
  bool validate_on_host() {
    Step step{"validate", "op-dbus validate " + o_.state_file, 0, false, ""};
    ChildResult r = sandbox::run_child({self_exe_.string(), "validate", o_.state_file});
    sandbox::throw_if_interrupted();
    step.exit_code = r.exit_code;
    step.output = r.output;
    step.ok = r.exit_code == 0;
    if (step.ok) {
      report_.stage(o_.state_file + " is valid");
      return true;
    }
    v_.steps.push_back(step);
    if (!o_.json) print_step(step, "not booted: the state is invalid");
    fail("validate", "the state is invalid (checked on the host; nothing was booted)");
    return false;
  }

  void check_host() {
    if (::geteuid() != 0) {
      throw Error(ErrorKind::PermissionError,
                  "op-dbus sandbox needs root (debootstrap, overlay mounts and systemd-nspawn)");
    }
    std::vector<const char*> tools = {"debootstrap", "systemd-nspawn", "nsenter"};
    if (!o_.nat.empty()) tools.insert(tools.end(), {"ip", "nft"});
    for (const char* tool : tools) {
      if (!on_path(tool)) {
        throw Error(ErrorKind::NotSupported,
                    std::string(tool) + " is not installed (scripts/install-deps.sh installs " +
                        "debootstrap, systemd-container, util-linux, iproute2 and " + "nftables)");
      }
    }
  }

  void run_exec(Container& container) {
    v_.result = "pass";
    v_.exit_code = 0;
    for (const auto& cmd : o_.exec) {
      report_.stage("exec: " + cmd);
      ChildOptions opts;
      opts.attached = !o_.json;  // streamed straight to our stdout/stderr; captured for the JSON report
      ChildResult r = container.exec({"/bin/bash", "-c", cmd}, opts);
      sandbox::throw_if_interrupted();
      v_.steps.push_back(Step{"exec", cmd, r.exit_code, r.exit_code == 0, r.output});
      if (r.exit_code != 0) {
        v_.result = "fail";
        v_.failed_step = "exec";
        v_.reason = "exec: '" + cmd + "' exited with status " + std::to_string(r.exit_code) +
                    (&cmd == &o_.exec.back() ? "" : "; the remaining commands were skipped");
        v_.exit_code = r.exit_code;
        return;
      }
    }
  }

  // validate -> plan -> apply -> plan: the second plan must be empty, or apply did not converge.
  void run_default(Container& container) {
    const std::string state = Container::kStateInside;
    if (!inside(container, "validate", {"validate", state}, {0}, "")) return;
    if (!inside(container, "plan", {"plan", state}, {0, 2}, "")) return;
    if (v_.steps.back().exit_code == 0) {
      v_.changes = 0;
    } else {
      ChildResult js = container.exec({"op-dbus", "plan", "--json", state});
      v_.changes = count_actions(js.output);
    }
    if (!inside(container, "apply", {"apply", state}, {0}, "")) return;
    if (!inside(container, "plan again", {"plan", state}, {0},
                "the second plan is not empty: apply did not converge")) {
      return;
    }
    v_.result = "pass";
    v_.exit_code = 0;
    std::string n =
        v_.changes ? std::to_string(*v_.changes) + (*v_.changes == 1 ? " change" : " changes") : "the plan";
    v_.reason = "applied " + n + ", second plan empty";
  }

  // One op-dbus command inside; records and prints it. Returns false (after recording the failure) when its
  // exit status is not one of `ok_codes`.
  bool inside(Container& container, const std::string& name, std::vector<std::string> args,
              std::vector<int> ok_codes, const std::string& why_failed) {
    report_.stage("running op-dbus " + args.front() + " inside");
    std::vector<std::string> argv{"op-dbus"};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildResult r = container.exec(argv);
    sandbox::throw_if_interrupted();
    Step step;
    step.name = name;
    step.command = "op-dbus";
    for (const auto& a : args) step.command += " " + a;
    step.exit_code = r.exit_code;
    step.output = r.output;
    for (int c : ok_codes) step.ok = step.ok || c == r.exit_code;
    v_.steps.push_back(step);
    std::string note;
    if (name.rfind("plan", 0) == 0) {
      note = r.exit_code == 0 ? "in sync" : r.exit_code == 2 ? "changes to make" : "error";
    }
    if (!o_.json) print_step(v_.steps.back(), note);
    if (!step.ok) {
      std::string reason = why_failed;
      if (reason.empty()) {
        reason = "exit status " + std::to_string(r.exit_code);
        std::string last = last_line(r.output);
        if (!last.empty()) reason += ": " + last;
      }
      fail(name, reason);
      return false;
    }
    return true;
  }

  void fail(const std::string& step, const std::string& reason) {
    v_.result = "fail";
    v_.failed_step = step;
    v_.reason = reason;
    v_.exit_code = 1;
  }

  void print_step(const Step& step, const std::string& note) {
    std::string status = step.ok ? report_.paint("32", "ok") : report_.paint("1;31", "FAILED");
    std::string head = report_.paint("1", step.name) + ": " + step.command + "  (exit " +
                       std::to_string(step.exit_code) + (note.empty() ? "" : ", " + note) + ") " + status +
                       "\n";
    std::fputs(head.c_str(), stdout);
    std::fputs(sandbox::indent_lines(step.output, "    ").c_str(), stdout);
    std::fflush(stdout);
  }

  void print_json_prepare(const sandbox::ImageSpec& spec, const fs::path& image) {
    rapidjson::StringBuffer buf;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.SetIndent(' ', 2);
    w.StartObject();
    w.Key("image");
    w.String(image.c_str());
    w.Key("key");
    w.String(spec.key().c_str());
    w.Key("suite");
    w.String(spec.suite.c_str());
    w.Key("mirror");
    w.String(spec.mirror.c_str());
    w.Key("packages");
    w.StartArray();
    for (const auto& p : spec.packages) w.String(p.c_str());
    w.EndArray();
    w.Key("include");
    w.StartArray();
    for (const auto& p : spec.extra_packages) w.String(p.c_str());
    w.EndArray();
    w.EndObject();
    std::printf("%s\n", buf.GetString());
  }

  const SandboxOptions& o_;
  Verdict& v_;
  Reporter report_;
  fs::path self_exe_;
};

void print_verdict_json(const Verdict& v, const SandboxOptions& o) {
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  w.SetIndent(' ', 2);
  auto str = [&](const std::string& s) { w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size())); };
  w.StartObject();
  w.Key("verdict");
  str(v.result);
  w.Key("exit_code");
  w.Int(v.exit_code);
  w.Key("state");
  if (o.state_file.empty())
    w.Null();
  else
    str(o.state_file);
  w.Key("failed_step");
  if (v.failed_step.empty())
    w.Null();
  else
    str(v.failed_step);
  w.Key("reason");
  str(v.reason);
  w.Key("changes");
  if (v.changes)
    w.Uint64(*v.changes);
  else
    w.Null();
  w.Key("steps");
  w.StartArray();
  for (const auto& s : v.steps) {
    w.StartObject();
    w.Key("name");
    str(s.name);
    w.Key("command");
    str(s.command);
    w.Key("exit_code");
    w.Int(s.exit_code);
    w.Key("ok");
    w.Bool(s.ok);
    w.Key("output");
    str(s.output);
    w.EndObject();
  }
  w.EndArray();
  if (!v.container_name.empty()) {
    w.Key("container");
    w.StartObject();
    w.Key("name");
    str(v.container_name);
    w.Key("pid");
    w.Int(v.nspawn_pid);
    w.Key("leader");
    w.Int(v.leader);
    w.Key("root");
    str(v.container_root);
    w.Key("enter");
    str("nsenter -t " + std::to_string(v.leader) + " -a bash");
    w.Key("stop");
    str("kill " + std::to_string(v.nspawn_pid));
    w.EndObject();
  }
  w.EndObject();
  std::printf("%s\n", buf.GetString());
  std::fflush(stdout);
}

void print_verdict_text(const Verdict& v, const SandboxOptions& o, const Reporter& report) {
  std::string line;
  if (!o.exec.empty() && v.result != "error") {
    // --exec prints the commands' own output; the verdict is the exit status.
    if (v.result == "fail") report.stage(v.reason);
  } else if (v.result == "pass") {
    line = report.paint("1;32", "sandbox: PASS") + " \u2014 " + v.reason + "\n";
  } else if (v.result == "fail") {
    line = report.paint("1;31", "sandbox: FAIL") + " at " + v.failed_step + ": " + v.reason + "\n";
  }
  if (!v.container_name.empty()) {
    line += "sandbox: kept " + v.container_name + " running (systemd-nspawn PID " +
            std::to_string(v.nspawn_pid) + ", container PID 1 = " + std::to_string(v.leader) + ")\n" +
            "  enter: nsenter -t " + std::to_string(v.leader) + " -a bash\n" + "  stop:  kill " +
            std::to_string(v.nspawn_pid) + "   (the run directory is removed once it stops)\n" +
            "  root:  " + v.container_root + "\n";
  }
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace

int run_sandbox(const SandboxOptions& options) {
  sandbox::SignalScope signals;
  Verdict verdict;
  SandboxRun run(options, verdict);
  try {
    run.run();
  } catch (const Error& e) {
    verdict.result = "error";
    verdict.reason = e.what();
    verdict.exit_code = 1;
  } catch (const std::exception& e) {
    verdict.result = "error";
    verdict.reason = std::string("internal error: ") + e.what();
    verdict.exit_code = 1;
  }
  if (int sig = sandbox::pending_signal(); sig != 0) {
    verdict.result = "error";
    verdict.reason = "interrupted by " +
                     std::string(sig == SIGINT    ? "SIGINT"
                                 : sig == SIGTERM ? "SIGTERM"
                                                  : "a signal") +
                     "; everything it started was stopped and removed";
    verdict.exit_code = 128 + sig;
  }
  if (verdict.result == "error") {
    std::string line = run.reporter().paint("1;31", "sandbox: error:") + " " + verdict.reason + "\n";
    std::fputs(line.c_str(), stderr);
  }
  if (!options.prepare_only || verdict.result == "error") {
    if (options.json) {
      print_verdict_json(verdict, options);
    } else if (verdict.result != "error") {
      print_verdict_text(verdict, options, run.reporter());
    }
  }
  return verdict.exit_code;
}

}  // namespace opdbus
