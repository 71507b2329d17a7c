#include "cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "bootstrap.h"
#include "engine.h"
#include "journal.h"
#include "lock.h"
#include "manifest.h"
#include "registry.h"
#include "render.h"
#include "run_dir.h"
#include "sandbox.h"
#include "schema.h"
#include "signals.h"
#include "state.h"
#include "sys/fs.h"
#include "sys/rootdir.h"

namespace opdbus {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitChanges = 2;

struct Flags {
  std::string root = "/";
  std::vector<std::string> plugins;
  bool json = false;
  bool allow_destructive = false;
  int verbose = 0;
  bool quiet = false;
  std::string color = "auto";
  std::string max_document_size = "64M";
  std::string max_value_size = "16M";
};

LoadLimits limits_of(const Flags& f) {
  return LoadLimits{parse_byte_size(f.max_document_size), parse_byte_size(f.max_value_size)};
}

bool use_color(const std::string& mode, int fd) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  return ::isatty(fd) && !std::getenv("NO_COLOR") && std::string_view(std::getenv("TERM") ?: "") != "dumb";
}

Options make_options(const Flags& f) {
  Options o;
  o.root = f.root.empty() ? "/" : f.root;
  o.allow_destructive = f.allow_destructive;
  o.json = f.json;
  o.color = use_color(f.color, STDOUT_FILENO);
  o.verbosity = f.quiet ? -1 : f.verbose;
  o.only_plugins = f.plugins;
  return o;
}

void print_error(const Flags& f, const std::string& message) {
  bool color = use_color(f.color, STDERR_FILENO);
  std::cerr << (color ? "\033[1;31mop-dbus: error:\033[0m " : "op-dbus: error: ") << message << "\n";
}

JsonValue diagnostic_json(const Diagnostic& d, JsonAlloc& a) {
  JsonValue o(rapidjson::kObjectType);
  o.AddMember("file", str_value(d.file, a), a);
  o.AddMember("pointer", str_value(d.pointer, a), a);
  if (d.line) {
    o.AddMember("line", d.line, a);
    o.AddMember("column", d.column, a);
  }
  o.AddMember("expected", str_value(d.expected, a), a);
  o.AddMember("found", str_value(d.found, a), a);
  o.AddMember("message", str_value(d.message, a), a);
  o.AddMember("text", str_value(d.format(), a), a);
  return o;
}

// Loads, schema-validates and semantically checks; throws ValidationFailed with every problem.
State load_checked(Engine& engine, const std::string& file, const LoadLimits& limits) {
  State state = load_state_file(file, limits);
  Diagnostics problems;
  engine.check(state, problems);
  if (!problems.empty()) throw ValidationFailed(std::move(problems));
  return state;
}

int report_failure(const Flags& f, const ValidationFailed& e) {
  if (f.json) {
    JsonDoc d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("valid", false, a);
    JsonValue errs(rapidjson::kArrayType);
    for (const auto& diag : e.diagnostics()) errs.PushBack(diagnostic_json(diag, a), a);
    d.AddMember("errors", errs, a);
    std::cout << to_pretty_json(d, false);
  }
  for (const auto& diag : e.diagnostics()) print_error(f, diag.format());
  if (e.diagnostics().size() > 1) std::cerr << e.diagnostics().size() << " problems; nothing was changed.\n";
  return kExitError;
}

// Runs a command body; turns every error into a message and exit code 1.
template <typename Fn>
int guarded(const Flags& f, Fn&& fn) {
  try {
    return fn();
  } catch (const ValidationFailed& e) {
    return report_failure(f, e);
  } catch (const Error& e) {
    print_error(f, e.what());
    return kExitError;
  } catch (const std::exception& e) {
    print_error(f, std::string("internal error: ") + e.what());
    return kExitError;
  }
}

int cmd_validate(const Flags& f, const std::vector<std::string>& files) {
  Context ctx(make_options(f));
  Engine engine(ctx, make_plugins());
  int rc = kExitOk;
  JsonDoc out(rapidjson::kArrayType);
  for (const auto& file : files) {
    int one = guarded(f, [&] {
      State s = load_checked(engine, file, limits_of(f));
      if (f.json) {
        JsonValue o(rapidjson::kObjectType);
        o.AddMember("file", str_value(file, out.GetAllocator()), out.GetAllocator());
        o.AddMember("valid", true, out.GetAllocator());
        out.PushBack(o, out.GetAllocator());
      } else if (!f.quiet) {
        std::string names;
        for (const auto& n : s.plugin_names()) names += (names.empty() ? "" : ", ") + n;
        std::cout << file << ": valid" << (names.empty() ? "" : " (plugins: " + names + ")") << "\n";
      }
      return kExitOk;
    });
    if (one != kExitOk) rc = one;
  }
  if (f.json && rc == kExitOk) std::cout << to_pretty_json(out, false);
  return rc;
}

int cmd_plan(const Flags& f, const std::string& file, const std::string& current_file) {
  return guarded(f, [&] {
    Context ctx(make_options(f));
    Engine engine(ctx, make_plugins());
    State state = load_checked(engine, file, limits_of(f));
    JsonDoc current;
    if (!current_file.empty()) {
      // A saved `show` export: validated like any state document so a stale or edited export is caught.
      State saved = load_state_file(current_file, limits_of(f));
      current.CopyFrom(saved.doc, current.GetAllocator());
    }
    Plan plan = engine.plan(state, current_file.empty() ? nullptr : &current);
    if (f.json) {
      std::cout << std::flush;
      write_plan_json(plan, stdout);  // streamed: no document, no string copy of a large plan
    } else {
      std::cout << render_plan(plan, {ctx.options().color, f.verbose > 0});
    }
    if (!plan.errors.empty()) return kExitError;
    return plan.actions.empty() ? kExitOk : kExitChanges;
  });
}

JsonDoc report_json(const ApplyReport& r) {
  Plan done, not_done, observed;
  done.actions = r.done;
  not_done.actions = r.not_done;
  observed.actions = r.observed;
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("ok", r.ok(), a);
  if (r.failure) {
    JsonValue err(rapidjson::kObjectType);
    err.AddMember("kind", str_value(to_string(r.failure->kind()), a), a);
    err.AddMember("message", str_value(r.failure->what(), a), a);
    err.AddMember("resource", str_value(r.failed_resource, a), a);
    d.AddMember("error", err, a);
  }
  auto actions_of = [&](const Plan& p) {
    JsonDoc pj = plan_to_json(p);
    JsonValue v;
    v.CopyFrom(pj["actions"], a);
    return v;
  };
  d.AddMember("done", actions_of(done), a);
  d.AddMember("not_done", actions_of(not_done), a);
  d.AddMember("observed", actions_of(observed), a);
  JsonValue rb(rapidjson::kArrayType);
  for (const auto& p : r.rolled_back) rb.PushBack(str_value(p, a), a);
  d.AddMember("rolled_back", rb, a);
  return d;
}

// `apply --confirm-timeout N` waits for `op-dbus confirm`, which drops a file next to the pending marker.
std::filesystem::path confirm_dir() {
  return runtime_dir();
}

bool wait_for_confirm(int seconds, bool quiet) {
  auto dir = confirm_dir();
  std::error_code ec;
  std::filesystem::remove(dir / "confirmed", ec);
  sys::atomic_write(dir / "pending-confirm", std::to_string(::getpid()) + "\n");
  if (!quiet) {
    std::cerr << "op-dbus: applied. Run `op-dbus confirm` within " << seconds
              << " s to keep the changes, or they are rolled back.\n";
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  bool confirmed = false;
  while (std::chrono::steady_clock::now() < deadline && !interrupted()) {
    if (std::filesystem::exists(dir / "confirmed")) {
      confirmed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::filesystem::remove(dir / "confirmed", ec);
  std::filesystem::remove(dir / "pending-confirm", ec);
  return confirmed;
}

int cmd_confirm(const Flags& f) {
  return guarded(f, [&] {
    auto dir = confirm_dir();
    auto pending = sys::read_file(dir / "pending-confirm");
    if (!pending) throw Error(ErrorKind::InvalidArgument, "no apply is waiting for confirmation");
    sys::atomic_write(dir / "confirmed", *pending);
    if (!f.quiet) std::cout << "confirmed (apply pid " << pending->substr(0, pending->find('\n')) << ")\n";
    return kExitOk;
  });
}

int cmd_apply(const Flags& f, const std::string& file, int confirm_timeout) {
  return guarded(f, [&] {
    Options options = make_options(f);
    options.confirm_timeout = confirm_timeout;
    Context ctx(options);
    Engine engine(ctx, make_plugins());
    State state = load_checked(engine, file, limits_of(f));
    if (!ctx.offline() && ::geteuid() != 0) {
      throw Error(ErrorKind::PermissionError,
                  "apply changes the live system and needs root (or use --root DIR for an offline tree; "
                  "`op-dbus plan` needs no privileges)");
    }
    // A --root that does not exist yet (a fresh target that the storage section mounts) is made first.
    if (ctx.offline()) {
      std::error_code ec;
      std::filesystem::create_directories(ctx.root(), ec);
      if (ec)
        throw Error(ErrorKind::BackendError,
                    "cannot make --root " + ctx.root().string() + ": " + ec.message());
    }
    // The tree's own lock (the journal appends under it), then the journal's tail is checked.
    ApplyLock lock{sys::RootDir(ctx.root())};
    Journal journal(ctx.root());
    journal.use_lock(lock);
    if (auto damaged = journal.open_for_append(journal.new_run_id())) print_error(f, *damaged);
    RenderOptions ro{ctx.options().color, f.verbose > 0};
    bool progress = !f.json && !f.quiet && ::isatty(STDERR_FILENO);
    ApplyEvents events;
    events.on_plugin_plan = [&](const std::string& plugin, const std::vector<Action>& actions) {
      if (f.json || f.quiet || actions.empty()) return;
      Plan p;
      p.plugins = {plugin};
      p.actions = actions;
      std::string text = render_plan(p, ro);
      // Drop the per-plan summary line: the final report has the totals.
      text = text.substr(0, text.rfind("Plan: "));
      std::cout << text << std::flush;
    };
    events.on_action_start = [&](const Action& a) {
      if (progress) std::cerr << "  ... " << a.resource() << ": " << a.summary << "\r" << std::flush;
    };
    events.on_action_done = [&](const Action& a, const Error* e) {
      if (progress) std::cerr << "\033[2K";
      if (!f.json && !f.quiet) {
        std::cerr << (e ? "  failed " : "  done   ") << a.resource() << ": " << a.summary << "\n";
      }
    };
    events.on_note = [&](const std::string& m) { std::cerr << "op-dbus: " << m << "\n"; };
    events.wait_for_confirm = [&](int seconds) { return wait_for_confirm(seconds, f.quiet || f.json); };
    InterruptGuard on_signal;  // SIGINT/SIGTERM stop between actions (signals.h)
    ApplyReport report = engine.apply(state, &journal, events);
    if (f.json) {
      std::cout << to_pretty_json(report_json(report), false);
    } else {
      std::cout << render_apply_report(report, ro);
    }
    if (interrupted() && report.ok()) print_error(f, interrupt_name() + " arrived after the last action");
    return report.ok() && !interrupted() ? kExitOk : kExitError;
  });
}

int cmd_show(const Flags& f) {
  return guarded(f, [&] {
    Context ctx(make_options(f));
    Engine engine(ctx, make_plugins());
    std::cout << to_pretty_json(engine.show());
    return kExitOk;
  });
}

int cmd_plugins(const Flags& f) {
  return guarded(f, [&] {
    Context ctx(make_options(f));
    Engine engine(ctx, make_plugins());
    JsonDoc out(rapidjson::kArrayType);
    auto& a = out.GetAllocator();
    for (const auto& p : engine.plugins()) {
      Probe probe = p->probe(ctx);
      std::string after;
      for (const auto& d : p->after()) after += (after.empty() ? "" : ",") + d;
      if (f.json) {
        JsonValue o(rapidjson::kObjectType);
        o.AddMember("name", str_value(p->name(), a), a);
        o.AddMember("summary", str_value(p->summary(), a), a);
        o.AddMember("implemented", p->implemented(), a);
        o.AddMember("available", probe.available, a);
        o.AddMember("detail", str_value(probe.detail, a), a);
        JsonValue deps(rapidjson::kArrayType);
        for (const auto& d : p->after()) deps.PushBack(str_value(d, a), a);
        o.AddMember("after", deps, a);
        out.PushBack(o, a);
      } else {
        std::printf("%-11s %-15s %s\n", std::string(p->name()).c_str(),
                    !p->implemented() ? "not-implemented"
                    : probe.available ? "available"
                                      : "unavailable",
                    std::string(p->summary()).c_str());
        if (f.verbose > 0 || (p->implemented() && !probe.available)) {
          std::printf("%-11s %-15s %s%s\n", "", "", probe.detail.c_str(),
                      after.empty() ? "" : ("; runs after " + after).c_str());
        }
      }
    }
    if (f.json) std::cout << to_pretty_json(out, false);
    return kExitOk;
  });
}

int cmd_schema(const Flags& f, const std::string& name) {
  return guarded(f, [&] {
    std::string which = name.empty() ? "state" : name;
    auto text = schema_text(which);
    if (!text) {
      std::string known;
      for (const auto& n : schema_names()) known += (known.empty() ? "" : ", ") + n;
      throw Error(ErrorKind::InvalidArgument, "no schema named '" + which + "'; known: " + known);
    }
    std::cout << *text;
    if (!text->empty() && text->back() != '\n') std::cout << "\n";
    return kExitOk;
  });
}

int cmd_log(const Flags& f) {
  return guarded(f, [&] {
    Context ctx(make_options(f));
    Journal journal(ctx.root());
    // One entry at a time: a journal of gigabytes is listed in the memory of one line.
    if (f.json) {
      bool first = true;
      journal.for_each_entry([&](const JournalEntry& e) {
        JsonDoc o(rapidjson::kObjectType);
        auto& a = o.GetAllocator();
        o.AddMember("seq", e.seq, a);
        o.AddMember("time", str_value(e.time, a), a);
        o.AddMember("run", str_value(e.run, a), a);
        o.AddMember("resource", str_value(e.resource, a), a);
        o.AddMember("op", str_value(e.op, a), a);
        o.AddMember("summary", str_value(e.summary, a), a);
        o.AddMember("result", str_value(e.result, a), a);
        if (!e.error.empty()) o.AddMember("error", str_value(e.error, a), a);
        // The same text as the whole array pretty-printed ("[{", "}, {", "}]"): members indented one level more.
        std::string text = to_pretty_json(o, false);
        text.pop_back();
        std::string indented;
        for (char c : text) {
          indented += c;
          if (c == '\n') indented += "  ";
        }
        std::cout << (first ? "[" : ", ") << indented;
        first = false;
      });
      std::cout << (first ? "[]\n" : "]\n");
      return kExitOk;
    }
    uint64_t n = journal.for_each_entry([&](const JournalEntry& e) {
      std::printf("%5llu  %s  %-6s  %-8s %s: %s%s\n", static_cast<unsigned long long>(e.seq), e.time.c_str(),
                  e.result.c_str(), e.op.c_str(), e.resource.c_str(), e.summary.c_str(),
                  e.error.empty() ? "" : ("  (" + e.error + ")").c_str());
    });
    if (n == 0) {
      std::cout << "The journal is empty (" << journal.file().string() << ").\n";
    }
    return kExitOk;
  });
}

int cmd_log_verify(const Flags& f) {
  return guarded(f, [&] {
    Context ctx(make_options(f));
    Journal journal(ctx.root());
    // Read one line at a time; as text, each problem is printed as it is found.
    std::vector<JournalProblem> problems;
    std::optional<JournalProblem> problem;
    uint64_t lines = journal.verify_each([&](const JournalProblem& p) {
      if (!problem) problem = p;
      if (f.json) {
        problems.push_back(p);
      } else {
        print_error(f, journal.file().string() + ": " + p.message);
      }
    });
    if (f.json) {
      JsonDoc d(rapidjson::kObjectType);
      auto& a = d.GetAllocator();
      d.AddMember("intact", !problem, a);
      if (problem) {
        d.AddMember("seq", problem->seq, a);
        d.AddMember("line", problem->line, a);
        d.AddMember("message", str_value(problem->message, a), a);
        JsonValue all(rapidjson::kArrayType);  // every problem, breaks included, in file order
        for (const auto& p : problems) {
          JsonValue o(rapidjson::kObjectType);
          o.AddMember("seq", p.seq, a);
          o.AddMember("line", p.line, a);
          o.AddMember("message", str_value(p.message, a), a);
          all.PushBack(o, a);
        }
        d.AddMember("problems", all, a);
      }
      std::cout << to_pretty_json(d, false);
    } else if (problem) {
      // Every problem, breaks included, was printed above: a break recorded by apply is reported for as long
      // as it exists.
    } else if (!f.quiet) {
      std::cout << journal.file().string() << ": intact (" << lines << " entries)\n";
    }
    return problem ? kExitError : kExitOk;
  });
}

const char* kFooter =
    R"(Exit codes: 0 success / in sync, 1 error (nothing changed if validation failed), 2 plan has changes.
Colour is used only on a terminal (--color to force; NO_COLOR is honoured).
Documentation: docs/cli.md, docs/state-format.md, docs/plugins/*.md)";

// One function per subcommand: its options and the callback that runs it. Option values live in storage
// owned by the callback, so they outlive parsing.
void add_global_flags(CLI::App& app, Flags& f) {
  app.add_option("--root", f.root,
                 "Act on the tree mounted at DIR instead of the live system (offline: unit files, symlinks,\n"
                 "config files; no D-Bus, no netlink)")
      ->type_name("DIR");
  app.add_option("--plugin", f.plugins, "Only this plugin (repeatable)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  app.add_flag("--json", f.json, "Machine-readable JSON on stdout");
  app.add_flag(
      "--allow-destructive", f.allow_destructive,
      "Permit actions marked DESTRUCTIVE (they also need the state's own flag, e.g. \"wipe\": true)");
  app.add_flag("-v,--verbose", f.verbose, "More detail (repeat for trace)");
  app.add_flag("-q,--quiet", f.quiet, "Only errors");
  app.add_option("--color", f.color, "Colour: auto (terminal only), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_option("--max-document-size", f.max_document_size,
                 "Refuse a state document larger than this (default 64M; K, M, G are binary units)")
      ->type_name("SIZE");
  app.add_option("--max-value-size", f.max_value_size,
                 "Refuse a document with a single string value larger than this (default 16M)")
      ->type_name("SIZE");
}

void add_validate(CLI::App& app, const Flags& f, int& rc) {
  auto files = std::make_shared<std::vector<std::string>>();
  auto* validate =
      app.add_subcommand("validate", "Check state documents against the schemas and semantic rules");
  validate->add_option("state", *files, "State file(s), '-' for stdin")->required()->type_name("FILE");
  validate->callback([&f, &rc, files] { rc = cmd_validate(f, *files); });
}

void add_plan(CLI::App& app, const Flags& f, int& rc) {
  struct Args {
    std::string file, current_file;
  };
  auto args = std::make_shared<Args>();
  auto* plan = app.add_subcommand(
      "plan",
      "Dry run: compare the state with the live system (or --current FILE) and print the changes.\n"
      "Exit 0 = in sync, 2 = changes pending, 1 = error: use it in CI to detect drift.");
  plan->add_option("state", args->file, "State file")->required()->type_name("FILE");
  plan->add_option(
          "--current", args->current_file,
          "Plan against a saved `op-dbus show` export instead of the live system (no privileges needed)")
      ->type_name("FILE");
  plan->callback([&f, &rc, args] { rc = cmd_plan(f, args->file, args->current_file); });
}

void add_apply(CLI::App& app, const Flags& f, int& rc) {
  struct Args {
    std::string file;
    int confirm_timeout = 0;
  };
  auto args = std::make_shared<Args>();
  auto* apply = app.add_subcommand(
      "apply",
      "Plan, apply in order (stopping at the first failure), then verify by querying again.\n"
      "Every action is recorded in <root>/var/lib/op-dbus/journal.jsonl. One apply at a time.");
  apply->add_option("state", args->file, "State file")->required()->type_name("FILE");
  apply
      ->add_option(
          "--confirm-timeout", args->confirm_timeout,
          "After applying, wait this long for `op-dbus confirm`; without it, plugins that can lock you\n"
          "out (network, firewall) roll back to their checkpoint")
      ->type_name("SECONDS")
      ->check(CLI::Range(0, 86400));
  apply->callback([&f, &rc, args] { rc = cmd_apply(f, args->file, args->confirm_timeout); });
}

void add_confirm(CLI::App& app, const Flags& f, int& rc) {
  auto* confirm =
      app.add_subcommand("confirm", "Keep the changes of an apply that is waiting (--confirm-timeout)");
  confirm->callback([&f, &rc] { rc = cmd_confirm(f); });
}

void add_show(CLI::App& app, const Flags& f, int& rc) {
  auto* show = app.add_subcommand(
      "show", "Print the live system as a state document (show > s.json; plan s.json is empty)");
  show->callback([&f, &rc] { rc = cmd_show(f); });
}

void add_plugins(CLI::App& app, const Flags& f, int& rc) {
  auto* plugins =
      app.add_subcommand("plugins", "List the plugins, whether they are implemented and available here");
  plugins->callback([&f, &rc] { rc = cmd_plugins(f); });
}

void add_schema(CLI::App& app, const Flags& f, int& rc) {
  auto name = std::make_shared<std::string>();
  auto* schema = app.add_subcommand("schema", "Print the JSON Schema of the state document or of one plugin");
  schema->add_option("plugin", *name, "Plugin name (default: the top-level state schema)")->type_name("NAME");
  schema->callback([&f, &rc, name] { rc = cmd_schema(f, *name); });
}

void add_log(CLI::App& app, const Flags& f, int& rc) {
  auto* log = app.add_subcommand("log", "List the journal of applied actions");
  auto* verify = log->add_subcommand(
      "verify", "Check the journal's hash chain; exit 1 naming the first altered or removed entry");
  verify->callback([&f, &rc] { rc = cmd_log_verify(f); });
  log->callback([&f, &rc, verify] {
    if (!verify->parsed()) rc = cmd_log(f);
  });
}

void add_sandbox(CLI::App& app, const Flags& f, int& rc) {
  auto sb = std::make_shared<SandboxOptions>();
  auto* sandbox = app.add_subcommand("sandbox",
                                     "Try a state in a throwaway container: a cached Debian 12 rootfs booted "
                                     "with systemd-nspawn (own network\n"
                                     "namespace, real systemd and system bus); runs plan -> apply -> plan "
                                     "(must be empty) and prints a verdict.");
  sandbox->add_option("state", sb->state_file, "State file")->type_name("FILE");
  sandbox->add_flag("--keep", sb->keep, "Leave the container running and print how to enter and stop it");
  sandbox->add_flag("--shell", sb->shell, "Open a shell inside the container after the run");
  // One value per occurrence, so a following positional (the state file) is not taken as another command.
  sandbox
      ->add_option("--exec", sb->exec,
                   "Run this shell command inside instead of plan/apply/plan (repeatable)")
      ->type_name("CMD")
      ->allow_extra_args(false);
  sandbox->add_option("--bind-ro", sb->bind_ro, "Bind a host path read-only into the container (HOST[:DEST])")
      ->type_name("PATH")
      ->allow_extra_args(false);
  sandbox
      ->add_option("--include", sb->include,
                   "Also install these Debian packages into the image (repeatable or comma-separated; a "
                   "separate cached image per set)")
      ->type_name("PKG")
      ->delimiter(',')
      ->allow_extra_args(false);
  sandbox
      ->add_option("--nat", sb->nat,
                   "Give the container a way out: a veth pair to the host (host side NAME, eth0 inside) "
                   "with NAT\nthrough an nft table 'ip NAME' of its own, both removed at exit; switches "
                   "net.ipv4.ip_forward on\nfor the run and copies the host's resolv.conf in")
      ->type_name("NAME")
      ->allow_extra_args(false);
  sandbox->add_flag("--prepare", sb->prepare_only,
                    "Only build (or reuse) the cached rootfs and print its path");
  sandbox->callback([&f, &rc, sb] {
    if (sb->state_file.empty() && sb->exec.empty() && !sb->prepare_only && !sb->shell) {
      throw CLI::ValidationError("state", "a state file is required (or --exec, --shell, --prepare)");
    }
    sb->json = f.json;
    sb->color = use_color(f.color, STDERR_FILENO);
    sb->verbosity = f.quiet ? -1 : f.verbose;
    rc = guarded(f, [&] { return run_sandbox(*sb); });
  });
}

void add_manifest(CLI::App& app, const Flags& f, int& rc) {
  auto o = std::make_shared<manifest::Options>();
  auto* cmd =
      app.add_subcommand("manifest",
                         "Write a package manifest for packagekit.manifest: NAMEs and their dependencies "
                         "resolved in Debian Packages indexes");
  cmd->add_option("names", o->names, "Packages (none: every package of the indexes)")->type_name("NAME");
  cmd->add_option(
         "--index", o->indexes,
         "A Packages file, a repository or mounted ISO (dists/...), or apt's lists directory (repeatable)")
      ->type_name("PATH")
      ->allow_extra_args(false);
  cmd->add_option("-o,--output", o->output, "Write here instead of stdout")->type_name("FILE");
  cmd->add_option("--arch", o->arch, "Architecture (default: this host's)")->type_name("ARCH");
  cmd->add_flag("--no-recommends", o->no_recommends,
                "Do not follow Recommends (apt follows them by default)");
  cmd->callback([&f, &rc, o] { rc = guarded(f, [&] { return manifest::run(*o); }); });
}

void add_bootstrap(CLI::App& app, const Flags& f, int& rc) {
  auto bo = std::make_shared<BootstrapOptions>();
  auto args = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand(
      "bootstrap",
      "Install a Debian system onto a blank disk from a state: partition, mkfs, debootstrap, configure,\n"
      "packages, every plugin into the new tree, op-dbus itself, bootloader. DEVICE (or bootstrap.device)\n"
      "must not be the running system's disk; a disk with data needs \"wipe\": true and "
      "--allow-destructive.");
  cmd->add_option("args", *args,
                  "[DEVICE] STATE: the target disk (wins over bootstrap.device) and the state file")
      ->type_name("[DEVICE] STATE")
      ->expected(1, 2)
      ->required();
  cmd->add_flag("--dry-run", bo->dry_run, "Print the stages and the plan of each; write nothing");
  cmd->add_option("--deb", bo->deb, "The op-dbus package installed into the target (scripts/package.sh)")
      ->type_name("FILE");
  cmd->add_option(
         "--cache-dir", bo->cache_dir,
         "Downloaded packages, the base system and the installed system, kept between runs and keyed by "
         "what builds them (default /var/cache/op-dbus/bootstrap)")
      ->type_name("DIR");
  cmd->add_flag("--no-cache,--no-base-cache", bo->no_cache,
                "Make the base system with debootstrap and install the packages with apt even when the "
                "cache holds them (and cache neither); downloads are still reused");
  cmd->add_flag("--prepare-cache", bo->prepare_cache,
                "Only make the cache entries for STATE (the base system and the installed system after the "
                "packages stage) in a scratch tree, without a disk; a later bootstrap with the same settings "
                "and packages, here or from a copy of --cache-dir, unpacks them");
  cmd->add_option("--target", bo->target,
                  "Where the new system is mounted (default /run/op-dbus/bootstrap/target)")
      ->type_name("DIR");
  cmd->add_flag("--no-finish", bo->no_finish,
                "Do not power off or reboot at the end, whatever the state says");
  cmd->callback([&f, &rc, bo, args] {
    if (args->size() == 2) {
      bo->device = (*args)[0];
      bo->state_file = (*args)[1];
    } else {
      bo->state_file = (*args)[0];
    }
    bo->allow_destructive = f.allow_destructive;
    bo->json = f.json;
    bo->color = use_color(f.color, STDERR_FILENO);
    bo->verbosity = f.quiet ? -1 : f.verbose;
    bo->limits = limits_of(f);
    rc = guarded(f, [&] { return run_bootstrap(*bo); });
  });
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{
      "op-dbus: declarative reconciliation for Linux servers.\n"
      "One state.json describes a server; op-dbus validates it, compares it with the live system,\n"
      "shows the difference as a plan, applies it and verifies the result.",
      "op-dbus"};
  app.set_version_flag("--version", std::string("op-dbus ") + OPDBUS_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  app.footer(kFooter);
  Flags f;
  add_global_flags(app, f);

  int rc = kExitOk;
  add_validate(app, f, rc);
  add_plan(app, f, rc);
  add_apply(app, f, rc);
  add_confirm(app, f, rc);
  add_show(app, f, rc);
  add_plugins(app, f, rc);
  add_schema(app, f, rc);
  add_log(app, f, rc);
  add_sandbox(app, f, rc);
  add_manifest(app, f, rc);
  add_bootstrap(app, f, rc);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitError;
  }
  return rc;
}

}  // namespace opdbus
