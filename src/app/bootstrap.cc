#include "bootstrap.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <set>

#include "bootstrap_model.h"
#include "context.h"
#include "engine.h"
#include "error.h"
#include "journal.h"
#include "lock.h"
#include "registry.h"
#include "render.h"
#include "sandbox_image.h"
#include "signals.h"
#include "sys/blockdev.h"
#include "sys/fs.h"
#include "sys/mounts.h"
#include "sys/process.h"
#include "sys/rootdir.h"
#include "text.h"

namespace opdbus {
namespace {

namespace fs = std::filesystem;
using bootstrap::Settings;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;

// A failure inside a stage: the stage's name travels with the message.
struct StageFailed : Error {
  StageFailed(std::string stage, const Error& cause)
      : Error(cause.kind(), "stage " + stage + " failed: " + cause.what()), stage_name(std::move(stage)) {}
  std::string stage_name;
};

std::string duration_text(double seconds) {
  char buf[32];
  if (seconds < 60) {
    std::snprintf(buf, sizeof buf, "%.1f s", seconds);
  } else {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(seconds) / 60,
                  static_cast<int>(seconds) % 60);
  }
  return buf;
}

// ---- the target disk -------------------------------------------------------------------------------------

// The sysfs directory of a block device node, or "" when it is not one.
fs::path sysfs_of(const std::string& node) {
  struct stat st {};
  if (::stat(node.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) return {};
  std::error_code ec;
  fs::path p = fs::canonical(
      "/sys/dev/block/" + std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev)), ec);
  return ec ? fs::path{} : p;
}

// The whole disks (kernel names) a sysfs block device sits on: itself or its parent for a partition, and
// through slaves/ for device-mapper and md devices.
void disks_under(const fs::path& sys, std::set<std::string>& out, int depth = 0) {
  if (sys.empty() || depth > 8) return;
  std::error_code ec;
  fs::path dev = sys;
  if (fs::exists(sys / "partition", ec)) dev = sys.parent_path();
  bool any_slave = false;
  for (const auto& e : fs::directory_iterator(dev / "slaves", ec)) {
    any_slave = true;
    disks_under(fs::canonical(e.path(), ec), out, depth + 1);
  }
  if (!any_slave) out.insert(dev.filename().string());
}

// The disks holding the running system's root filesystem, by kernel name ("vda", "nvme0n1").
std::set<std::string> root_disks() {
  std::set<std::string> out;
  for (const auto& m : sys::read_mountinfo()) {
    if (m.target == "/" && starts_with(m.source, "/dev/")) disks_under(sysfs_of(m.source), out);
  }
  struct stat st {};
  if (::stat("/", &st) == 0 && major(st.st_dev) != 0) {
    std::error_code ec;
    fs::path p = fs::canonical(
        "/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)), ec);
    if (!ec) disks_under(p, out);
  }
  return out;
}

struct DiskFacts {
  std::string path;         // canonical node, "/dev/vdc"
  std::string kernel_name;  // "vdc"
  uint64_t size = 0;
  sys::Signature signature;
};

DiskFacts check_disk(const std::string& device) {
  std::error_code ec;
  fs::path node = fs::canonical(device, ec);
  if (ec) throw Error(ErrorKind::InvalidArgument, device + ": no such device");
  if (!sys::is_block_device(node)) {
    throw Error(ErrorKind::InvalidArgument,
                device + ": not a block device (bootstrap installs onto a whole disk)");
  }
  fs::path sys = sysfs_of(node);
  if (fs::exists(sys / "partition", ec)) {
    throw Error(ErrorKind::InvalidArgument,
                device + " is a partition of /dev/" + sys.parent_path().filename().string() +
                    "; bootstrap takes the whole disk and partitions it as the storage section says");
  }
  DiskFacts d;
  d.path = node.string();
  d.kernel_name = sys.filename().string();
  auto roots = root_disks();
  if (roots.count(d.kernel_name)) {
    throw Error(ErrorKind::Conflict, "refusing " + device +
                                         ": it holds the running system's root filesystem (/)" +
                                         " -- bootstrap never installs onto the disk it runs from, whatever "
                                         "the flags");
  }
  // In use: mounted (here or in any namespace), held by device-mapper/md, or opened exclusively.
  sys::open_exclusive(d.path, O_RDONLY | O_CLOEXEC);
  d.size = sys::device_size(d.path);
  d.signature = sys::probe_signature(d.path);
  return d;
}

std::string describe_contents(const sys::Signature& s) {
  std::vector<std::string> parts;
  if (!s.pttype.empty()) parts.push_back("a " + s.pttype + " partition table");
  if (!s.type.empty()) parts.push_back("a " + s.type + " filesystem");
  return parts.empty() ? "nothing op-dbus recognises" : join(parts, " and ");
}

// Whether the storage section mounts something on "/": a key of "mounts", or "mount": "/" on a partition or
// a subvolume.
bool declares_root(const JsonValue& v) {
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      std::string_view key(m.name.GetString(), m.name.GetStringLength());
      if (key == "mount" && m.value.IsString() && std::string_view(m.value.GetString()) == "/") return true;
      if (key == "mounts" && m.value.IsObject() && m.value.HasMember("/")) return true;
      if (declares_root(m.value)) return true;
    }
  } else if (v.IsArray()) {
    for (const auto& e : v.GetArray()) {
      if (declares_root(e)) return true;
    }
  }
  return false;
}

// ---- mounts under the target ----------------------------------------------------------------------------

// Everything mounted at or below `dir`, deepest first, unmounted; lazily when a plain unmount is refused.
// Returns what could not be unmounted at all.
std::vector<std::string> unmount_below(const fs::path& dir) {
  std::vector<std::string> targets;
  const std::string prefix = dir.string();
  for (const auto& m : sys::read_mountinfo()) {
    if (m.target == prefix || starts_with(m.target, prefix + "/")) targets.push_back(m.target);
  }
  std::vector<std::string> failed;
  // Later mounts first (mountinfo is in mount order), so children go before their parents.
  for (auto it = targets.rbegin(); it != targets.rend(); ++it) {
    if (::umount2(it->c_str(), 0) != 0 && ::umount2(it->c_str(), MNT_DETACH) != 0) failed.push_back(*it);
  }
  return failed;
}

// ---- the base-system cache ----------------------------------------------------------------------------------

// The sha256 (hex) of a file, read in blocks (a base tarball is hundreds of MB).
std::string file_sha256(const fs::path& p) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw Error(ErrorKind::Bug, "SHA-256 failed");
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(ErrorKind::BackendError, p.string() + ": cannot read");
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw Error(ErrorKind::BackendError, p.string() + ": read error");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  return hex_lower(digest, len);
}

void fsync_path(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorKind::BackendError, p.string() + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) throw Error(ErrorKind::BackendError, "fsync " + p.string() + ": " + std::strerror(err));
}

// Written atomically: a temporary file beside it, fsync, rename.
void write_file_atomic(const fs::path& p, const std::string& text) {
  fs::path tmp = p.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw Error(ErrorKind::BackendError, tmp.string() + ": write failed");
  }
  fsync_path(tmp);
  fs::rename(tmp, p);
}

// What tar leaves out of a base tarball: the contents of the API mount points (bound at the chroot stage),
// the bootstrap's own markers, the apt archives (bound from the download cache), and what the storage stage
// wrote (fstab, lost+found).
const std::vector<std::string> kBaseExcludes = {"./proc/*", "./sys/*", "./dev/*", "./run/*",
                                                "./var/lib/op-dbus", "./var/cache/apt/archives/*",
                                                "./etc/fstab", "./lost+found",
                                                // what must differ between hosts (made afresh on unpacking)
                                                "./etc/ssh/ssh_host_*", "./var/lib/systemd/random-seed"};

// tar flags that keep ownership (numeric), modes, xattrs (file capabilities), ACLs; device nodes and hard
// links are kept by tar itself.
const std::vector<std::string> kTarKeep = {"--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner"};

// ---- the run ----------------------------------------------------------------------------------------------

class Bootstrap {
 public:
  explicit Bootstrap(const BootstrapOptions& o) : o_(o) {}

  int run() {
    load();
    if (o_.dry_run) return dry_run();
    if (o_.prepare_cache) {
      if (!o_.device.empty()) {
        throw Error(ErrorKind::InvalidArgument,
                    "--prepare-cache writes no disk: give only STATE (not " + o_.device + ")");
      }
      return prepare_cache();
    }
    if (::geteuid() != 0) {
      throw Error(ErrorKind::PermissionError,
                  "bootstrap partitions a disk and needs root (`op-dbus bootstrap --dry-run` does not)");
    }
    if (o_.deb.empty()) {
      throw Error(ErrorKind::InvalidArgument,
                  "bootstrap installs op-dbus into the target from its package: give --deb FILE "
                  "(scripts/package.sh builds it)");
    }
    if (!fs::is_regular_file(o_.deb))
      throw Error(ErrorKind::InvalidArgument, "--deb " + o_.deb + ": no such file");
    InterruptGuard on_signal;
    struct Cleanup {
      Bootstrap* b;
      ~Cleanup() { b->release_target(); }
    } cleanup{this};
    size_t i = 0;
    try {
      for (const auto& st : bootstrap::stages()) {
        ++i;
        if (interrupted()) throw Error(ErrorKind::Interrupted, "interrupted by " + interrupt_name());
        run_stage(i, st);
      }
    } catch (const Error& e) {
      release_target();
      if (o_.json) print_json(&e);
      throw;
    }
    if (o_.json) print_json(nullptr);
    return kExitOk;
  }

 private:
  // ---- setup

  void load() {
    Context check_ctx(Options{});
    Engine engine(check_ctx, make_plugins());
    state_ = load_state_file(o_.state_file, o_.limits);
    Diagnostics problems;
    engine.check(state_, problems);
    if (!problems.empty()) throw ValidationFailed(std::move(problems));
    const JsonValue* section = nullptr;
    if (state_.doc.IsObject() && state_.doc.HasMember("bootstrap")) section = &state_.doc["bootstrap"];
    settings_ = bootstrap::parse_settings(section);
    choice_ = bootstrap::choose_device(o_.device, settings_);
    if (settings_.mirror.empty()) {
      auto read = [](const char* p) {
        try {
          return sys::read_file(p).value_or("");
        } catch (const Error&) {
          return std::string();
        }
      };
      settings_.mirror = sandbox::mirror_from_sources(read("/etc/apt/sources.list.d/debian.sources"),
                                                      read("/etc/apt/sources.list"), settings_.suite);
    }
    target_ = o_.target.empty() ? fs::path("/run/op-dbus/bootstrap/target") : fs::absolute(o_.target);
    cache_ = o_.cache_dir.empty() ? fs::path("/var/cache/op-dbus/bootstrap") : fs::absolute(o_.cache_dir);
    const JsonValue* storage = state_.section("storage");
    if (!storage) {
      throw Error(ErrorKind::InvalidArgument,
                  o_.state_file +
                      ": bootstrap needs a storage section that partitions the target disk and "
                      "mounts \"/\"");
    }
    from_device_ = settings_.device.value_or("");
    storage_ = bootstrap::retarget_storage(*storage, from_device_, choice_.device);
    if (!storage_.HasMember("devices") || !storage_["devices"].IsObject() ||
        !storage_["devices"].HasMember(choice_.device.c_str())) {
      throw Error(
          ErrorKind::InvalidArgument,
          o_.state_file + ": /plugins/storage/devices: expected an entry for the target disk " +
              choice_.device +
              (from_device_.empty() ? " (or set bootstrap.device to the disk the storage section describes)"
                                    : " (the storage section describes " + from_device_ + ")"));
    }
    if (!declares_root(storage_)) {
      throw Error(ErrorKind::InvalidArgument,
                  o_.state_file + ": /plugins/storage/mounts: expected a mount for \"/\" (the new root)");
    }
    if (o_.prepare_cache) return;
    say("target disk " + choice_.device + " (from the " + choice_.source +
        (from_device_.empty() || from_device_ == choice_.device
             ? ")"
             : "; the document describes " + from_device_ + ", which becomes " + choice_.device + ")"));
  }

  // A state document of one plugin section (the storage section retargeted, or the document's own).
  State single(const std::string& plugin) const {
    State s;
    s.file = o_.state_file;
    auto& a = s.doc.GetAllocator();
    s.doc.SetObject();
    s.doc.AddMember("version", 1, a);
    JsonValue plugins(rapidjson::kObjectType);
    JsonValue section;
    if (plugin == "storage") {
      section.CopyFrom(storage_, a);
    } else {
      section.CopyFrom(*state_.section(plugin), a);
    }
    plugins.AddMember(str_value(plugin, a), section, a);
    s.doc.AddMember("plugins", plugins, a);
    return s;
  }

  Options plugin_options(const std::vector<std::string>& only) const {
    Options opt;
    opt.root = target_;
    opt.allow_destructive = o_.allow_destructive;
    opt.color = o_.color;
    opt.verbosity = o_.verbosity;
    opt.only_plugins = only;
    return opt;
  }

  // The plugins applied into the tree in the plugins stage, and those left to the first boot.
  void split_plugins(std::vector<std::string>& offline, std::vector<std::string>& runtime) const {
    for (const auto& name : state_.plugin_names()) {
      if (name == "storage" || name == "packagekit") continue;
      if (bootstrap::runtime_plugin(name)) runtime.push_back(name);
      if (name == "lxc" || name == "kvm") continue;  // nothing of theirs can be done into a tree
      offline.push_back(name);
    }
  }

  // ---- output

  void say(const std::string& text) const {
    if (o_.verbosity < 0) return;
    std::string head = o_.color ? "\033[1mbootstrap:\033[0m " : "bootstrap: ";
    std::cerr << head << text << "\n" << std::flush;
  }
  void detail(const std::string& line) const {
    if (o_.verbosity > 0) std::cerr << "  | " << line << "\n";
  }

  // Runs a tool, its lines shown with -v; a failure carries its last lines of output.
  std::string tool(const std::vector<std::string>& argv, const std::string& stdin_data = "",
                   std::function<void(const std::string&)> on_line = nullptr) {
    sys::RunOptions ro;
    ro.stdin_data = stdin_data;
    ro.on_line = [&](const std::string& line) {
      detail(line);
      if (on_line) on_line(line);
    };
    return sys::run_checked(argv, ro);
  }
  std::vector<std::string> in_target(std::vector<std::string> argv) const {
    std::vector<std::string> out = {"chroot",
                                    target_.string(),
                                    "env",
                                    "DEBIAN_FRONTEND=noninteractive",
                                    "LC_ALL=C.UTF-8",
                                    "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
  }

  // ---- stages

  void run_stage(size_t index, const bootstrap::Stage& st, size_t total = bootstrap::stages().size()) {
    const std::string name(st.name);
    say("[" + std::to_string(index) + "/" + std::to_string(total) + "] " + name + ": " +
        std::string(st.summary));
    auto start = std::chrono::steady_clock::now();
    try {
      if (name == "check") stage_check();
      if (name == "storage") stage_storage();
      if (name == "base") stage_base();
      if (name == "configure") stage_configure();
      if (name == "chroot") stage_chroot();
      if (name == "packages") stage_packages();
      if (name == "plugins") stage_plugins();
      if (name == "op-dbus") stage_opdbus();
      if (name == "bootloader") stage_bootloader();
      if (name == "finish") stage_finish();
    } catch (const StageFailed&) {
      throw;
    } catch (const Error& e) {
      throw StageFailed(name, e);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    done_.push_back({name, secs});
    say("    " + name + " done in " + duration_text(secs));
  }

  // `--json`: {"device", "device_source", "target", "stages": [{"name", "seconds"}...], "ok", "failed_stage",
  // "error"} on stdout, after a success or a failure.
  void print_json(const Error* failure) const {
    JsonDoc d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("device", str_value(choice_.device, a), a);
    d.AddMember("device_source", str_value(choice_.source, a), a);
    d.AddMember("target", str_value(target_.string(), a), a);
    JsonValue list(rapidjson::kArrayType);
    for (const auto& [name, secs] : done_) {
      JsonValue st(rapidjson::kObjectType);
      st.AddMember("name", str_value(name, a), a);
      st.AddMember("seconds", static_cast<double>(static_cast<int64_t>(secs * 10)) / 10, a);
      list.PushBack(st, a);
    }
    d.AddMember("stages", list, a);
    d.AddMember("ok", failure == nullptr, a);
    if (failure) {
      auto sf = dynamic_cast<const StageFailed*>(failure);
      d.AddMember("failed_stage", str_value(sf ? sf->stage_name : "", a), a);
      d.AddMember("error", str_value(failure->what(), a), a);
    }
    std::cout << to_pretty_json(d, false) << std::flush;
  }

  void stage_check() {
    disk_ = check_disk(choice_.device);
    say("    " + disk_.path + ": " + format_byte_size(disk_.size) + ", holds " +
        describe_contents(disk_.signature));
    const JsonValue& dev = storage_["devices"][choice_.device.c_str()];
    bool wipe = dev.IsObject() && dev.HasMember("wipe") && dev["wipe"].IsBool() && dev["wipe"].GetBool();
    bool blank = disk_.signature.pttype.empty() && disk_.signature.type.empty();
    if (blank) return;
    // Not blank: either an earlier run of this same bootstrap (the storage plan changes nothing
    // destructive, so it is resumed) or someone's data, refused without both flags.
    fs::create_directories(target_);
    Context ctx(plugin_options({"storage"}));
    Engine engine(ctx, make_plugins());
    Plan plan = engine.plan(single("storage"));
    if (!plan.errors.empty()) throw Error(ErrorKind::BackendError, join(plan.errors, "; "));
    std::vector<std::string> destroys;
    for (const auto& a : plan.actions) {
      if (a.destructive) destroys.push_back(a.resource() + ": " + a.summary);
    }
    if (destroys.empty()) {
      say("    the disk already has this document's layout: resuming an earlier bootstrap");
      return;
    }
    if (!wipe || !o_.allow_destructive) {
      throw Error(ErrorKind::Conflict,
                  "refusing " + choice_.device + ": it holds " + describe_contents(disk_.signature) +
                      " and the plan would destroy it (" + join(destroys, "; ") +
                      "). Nothing was written. To " +
                      "install over it, the storage section must say \"wipe\": true for " +
                      (from_device_.empty() ? choice_.device : from_device_) +
                      " and the command line must say --allow-destructive");
    }
    say("    wiping what is on the disk: \"wipe\": true and --allow-destructive");
  }

  void apply_plugins(const State& state, const std::vector<std::string>& only, bool with_journal) {
    Context ctx(plugin_options(only));
    Engine engine(ctx, make_plugins());
    std::optional<ApplyLock> lock;
    std::optional<Journal> journal;
    if (with_journal) {
      lock.emplace(sys::RootDir(target_));
      journal.emplace(target_);
      journal->use_lock(*lock);
      journal->open_for_append(journal->new_run_id());
    }
    ApplyEvents events;
    events.on_action_done = [&](const Action& a, const Error* e) {
      if (o_.verbosity >= 0)
        std::cerr << (e ? "    failed " : "    done   ") << a.resource() << ": " << a.summary << "\n";
    };
    events.on_note = [&](const std::string& m) { say("    " + m); };
    ApplyReport report = engine.apply(state, journal ? &*journal : nullptr, events);
    if (!report.ok()) {
      throw Error(
          report.failure->kind(),
          (report.failed_resource.empty() ? "" : report.failed_resource + ": ") + report.failure->what());
    }
  }

  void stage_storage() {
    fs::create_directories(target_);
    // The journal lives in the tree that this stage mounts; it starts with the plugins stage.
    apply_plugins(single("storage"), {"storage"}, false);
    bool root_mounted = false;
    for (const auto& m : sys::read_mountinfo()) root_mounted |= (m.target == target_.string());
    if (!root_mounted) {
      throw Error(ErrorKind::BackendError,
                  "the storage section's \"/\" is not mounted on " + target_.string());
    }
  }

  std::string base_key() const {
    return "suite=" + settings_.suite + "\nvariant=" + settings_.variant + "\nmirror=" + settings_.mirror +
           "\ninclude=" + join(bootstrap::base_packages(settings_, storage_), ",") + "\n";
  }

  void stage_base() {
    sys::RootDir root(target_);
    const std::string done = "/var/lib/op-dbus/bootstrap/base.done";
    const std::string started = "/var/lib/op-dbus/bootstrap/base.started";
    auto finished = root.read_file(done);
    if (finished == base_key()) {
      say("    the base system is already there (an earlier run finished this stage)");
      return;
    }
    if (finished) {
      throw Error(ErrorKind::Conflict,
                  "the disk holds a base system made with other settings (" +
                      join(split(trim(*finished), '\n'), ", ") +
                      "); to install again from scratch, wipe it (\"wipe\": true and --allow-destructive)");
    }
    if (root.lstat(started)) {
      // An earlier debootstrap died half-way: debootstrap cannot continue into a half-filled tree, so the
      // tree goes (it is the new, empty filesystem this bootstrap made), keeping what the storage stage wrote.
      say("    an earlier run stopped inside debootstrap: clearing the half-made tree and starting it again");
      clear_tree(root);
    }
    root.make_dirs("/var/lib/op-dbus/bootstrap", 0755);
    root.write_file(started, base_key(), 0644);
    // The whole installed system when the cache has it for these settings and packages; else the base system.
    if (unpack_cached(Entry::Packages)) {
      root.make_dirs("/var/lib/op-dbus/bootstrap", 0755);
      root.write_file(kPackagesDone, packages_key(), 0644);
      root.write_file(done, base_key(), 0644);
      return;
    }
    if (unpack_cached(Entry::Base)) {
      root.make_dirs("/var/lib/op-dbus/bootstrap", 0755);
      root.write_file(done, base_key(), 0644);
      return;
    }
    fs::create_directories(cache_ / "archives");
    std::vector<std::string> argv = {"debootstrap", "--cache-dir=" + (cache_ / "archives").string(),
                                     "--components=main"};
    if (settings_.variant != "standard") argv.push_back("--variant=" + settings_.variant);
    argv.push_back("--include=" + join(bootstrap::base_packages(settings_, storage_), ","));
    argv.insert(argv.end(), {settings_.suite, target_.string(), settings_.mirror});
    std::set<std::string> seen;
    tool(argv, "", [&](const std::string& line) {
      static const std::pair<const char*, const char*> phases[] = {
          {"I: Retrieving Release", "fetching the archive index"},
          {"I: Resolving", "resolving dependencies"},
          {"I: Retrieving", "downloading packages"},
          {"I: Extracting", "extracting"},
          {"I: Installing", "installing the core"},
          {"I: Unpacking", "unpacking the base system"},
          {"I: Configuring", "configuring"},
          {"I: Base system installed", "done"},
      };
      for (const auto& [prefix, phase] : phases) {
        if (starts_with(line, prefix)) {
          if (seen.insert(phase).second && o_.verbosity == 0) say("    debootstrap: " + std::string(phase));
          break;
        }
      }
    });
    keep_in_cache(Entry::Base);
    root.make_dirs("/var/lib/op-dbus/bootstrap", 0755);
    root.write_file("/var/lib/op-dbus/bootstrap/base.done", base_key(), 0644);
  }

  // ---- the caches: the base system, and the installed system after the packages stage

  enum class Entry { Base, Packages };
  static constexpr const char* kPackagesDone = "/var/lib/op-dbus/bootstrap/packages.done";

  std::string host_arch() {
    if (arch_.empty()) arch_ = trim(sys::run_checked({"dpkg", "--print-architecture"}));
    return arch_;
  }
  std::string packages_key() const {
    std::optional<std::string> pk;
    if (const JsonValue* section = state_.section("packagekit")) pk = to_json(*section);
    return bootstrap::packages_cache_key(
        base_key(), bootstrap::stage_packages(settings_, state_.section("packagekit")),
        bootstrap::bootloader_preseed(settings_.bootloader), settings_.locale, pk);
  }
  std::string key_of(Entry e) const { return e == Entry::Base ? base_key() : packages_key(); }
  static const char* words(Entry e) { return e == Entry::Base ? "base system" : "installed system"; }
  std::string cache_key(Entry e) { return key_of(e) + "arch=" + host_arch() + "\n"; }
  fs::path cache_entry(Entry e, const std::string& ext) {
    return cache_ / (e == Entry::Base ? "base" : "packages") /
           (bootstrap::base_cache_id(key_of(e), host_arch()) + ext);
  }

  // Why the entry's files and the directories above them cannot be trusted ("" when they can): see
  // bootstrap::cache_trust_problem. Missing files are not a problem here (choose_*_source says so).
  std::string untrusted(Entry e) {
    const fs::path kind = cache_entry(e, "").parent_path();
    for (const fs::path& p : {cache_, kind, cache_entry(e, ".tar"), cache_entry(e, ".key")}) {
      struct ::stat st {};
      if (::stat(p.c_str(), &st) != 0) continue;
      std::string problem = bootstrap::cache_trust_problem(p.string(), st.st_uid, st.st_mode, ::geteuid());
      if (!problem.empty()) return problem;
    }
    return "";
  }

  // What the cache offers for these settings (the digest is not checked here).
  bootstrap::BaseSource cache_source(Entry e) {
    std::optional<std::string> record;
    std::optional<uint64_t> size;
    std::error_code ec;
    fs::path key_file = cache_entry(e, ".key"), tar = cache_entry(e, ".tar");
    if (!o_.no_cache && (fs::exists(key_file, ec) || fs::exists(tar, ec))) {
      std::string problem = untrusted(e);
      if (!problem.empty()) {
        return {false, "the cached " + std::string(words(e)) + " is not used: " + problem +
                           ", so someone else could have written it: " +
                           (e == Entry::Base ? "debootstrap" : "the base system, then apt")};
      }
    }
    if (fs::is_regular_file(key_file, ec)) {
      std::ifstream in(key_file, std::ios::binary);
      record = std::string(std::istreambuf_iterator<char>(in), {});
    }
    if (fs::is_regular_file(tar, ec)) size = fs::file_size(tar, ec);
    return e == Entry::Base ? bootstrap::choose_base_source(o_.no_cache, cache_key(e), record, size)
                            : bootstrap::choose_packages_source(o_.no_cache, cache_key(e), record, size);
  }

  // Unpacks the cached entry when there is a sound one; false (and the reason said) otherwise.
  bool unpack_cached(Entry e) {
    auto source = cache_source(e);
    if (!source.from_cache) {
      say("    " + source.reason);
      return false;
    }
    fs::path tar = cache_entry(e, ".tar");
    std::ifstream in(cache_entry(e, ".key"), std::ios::binary);
    auto record = bootstrap::parse_base_record(std::string(std::istreambuf_iterator<char>(in), {}));
    const std::string id = bootstrap::base_cache_id(key_of(e), host_arch());
    say("    checking the cached " + std::string(words(e)) + " " + tar.filename().string());
    if (file_sha256(tar) != record->sha256) {
      say("    the cached " + std::string(words(e)) +
          "'s sha256 differs from the one recorded when it was written (a damaged file): it is not used");
      return false;
    }
    say("    " + source.reason + " (" + id.substr(0, 16) + "...)");
    std::vector<std::string> argv = {"tar", "--extract", "--file", tar.string(), "--directory",
                                     target_.string(), "--same-permissions", "--same-owner",
                                     // the mount points already there (the ESP is vfat) keep their own
                                     "--no-overwrite-dir"};
    argv.insert(argv.end(), kTarKeep.begin(), kTarKeep.end());
    tool(argv);
    make_host_unique();
    return true;
  }

  // A tree from the cache is shared by every host made from it: what identifies a host is made afresh, as
  // debootstrap would have: a new machine-id (systemd's postinst writes one) here, and, when openssh is in
  // the tree, new host keys (they are not in the tarball) in the chroot stage.
  void make_host_unique() {
    sys::RootDir root(target_);
    std::ifstream urandom("/dev/urandom", std::ios::binary);
    unsigned char bytes[16] = {};
    urandom.read(reinterpret_cast<char*>(bytes), sizeof bytes);
    if (!urandom) throw Error(ErrorKind::BackendError, "/dev/urandom: cannot read");
    std::string id = hex_lower(bytes, sizeof bytes);
    auto machine_id = root.lstat("/etc/machine-id");
    if (machine_id && machine_id->kind == sys::FileKind::File)
      root.write_file("/etc/machine-id", id + "\n", 0444);
    auto dbus_id = root.lstat("/var/lib/dbus/machine-id");
    if (dbus_id && dbus_id->kind == sys::FileKind::File)
      root.write_file("/var/lib/dbus/machine-id", id + "\n", 0444);
    // The SSH host keys (not in any cached tarball) are made by the chroot stage, which binds /dev first.
  }

  // With ssh-keygen in the tree and no host key yet (a tree from the cache), new keys, as openssh-server's
  // postinst would make them. Needs the chroot stage's /dev.
  void make_ssh_host_keys() {
    sys::RootDir root(target_);
    if (!root.lstat("/usr/bin/ssh-keygen") || !root.lstat("/etc/ssh")) return;
    for (const auto& e : root.list_dir("/etc/ssh")) {
      if (starts_with(e.name, "ssh_host_") && ends_with(e.name, "_key")) return;
    }
    say("    new SSH host keys");
    tool({"chroot", target_.string(), "/usr/bin/ssh-keygen", "-A"});
  }

  // After debootstrap (the base system) or the packages stage (the installed system): the tree as
  // CACHE/KIND/ID.tar and its record ID.key, each written atomically. A failure here costs the next install
  // its shortcut, not this one: it is said, not thrown.
  void keep_in_cache(Entry e) {
    if (o_.no_cache) return;
    fs::path tar = cache_entry(e, ".tar");
    fs::path tmp = tar.string() + ".tmp." + std::to_string(::getpid());
    try {
      fs::create_directories(tar.parent_path());
      say("    keeping the " + std::string(words(e)) + " in the cache: " + tar.string());
      std::vector<std::string> argv = {"tar",         "--create",       "--file",  tmp.string(),
                                       "--directory", target_.string(), "--sparse"};
      argv.insert(argv.end(), kTarKeep.begin(), kTarKeep.end());
      for (const auto& x : kBaseExcludes) argv.push_back("--exclude=" + x);
      // The ESP's files are the bootloader stage's, made for this disk.
      if (e == Entry::Packages) argv.push_back("--exclude=./boot/efi/*");
      argv.push_back(".");
      sys::RunOptions ro;
      ro.on_line = [&](const std::string& line) { detail(line); };
      sys::CommandResult run = sys::run(argv, ro);
      if (run.exit_code != 0 && !(run.exit_code == 1 && bootstrap::tar_only_mount_points_changed(run.output)))
        throw Error(ErrorKind::BackendError, sys::describe_failure(argv, run));
      fsync_path(tmp);
      bootstrap::BaseCacheRecord r;
      r.size = fs::file_size(tmp);
      r.sha256 = file_sha256(tmp);
      r.key = cache_key(e);
      fs::rename(tmp, tar);
      write_file_atomic(cache_entry(e, ".key"), bootstrap::format_base_record(r));
      say("    cached " + format_byte_size(r.size) + " (sha256 " + r.sha256.substr(0, 16) + "...)");
    } catch (const std::exception& ex) {
      std::error_code ec;
      fs::remove(tmp, ec);
      say("    warning: the " + std::string(words(e)) + " is not cached: " + ex.what());
    }
  }

  // Everything in the target's filesystems except /etc/fstab, /var/lib/op-dbus and the mount points below.
  void clear_tree(sys::RootDir& root) {
    std::set<std::string> mount_points;
    for (const auto& m : sys::read_mountinfo()) {
      if (starts_with(m.target, target_.string() + "/"))
        mount_points.insert(m.target.substr(target_.string().size()));
    }
    std::function<void(const std::string&)> clear = [&](const std::string& dir) {
      for (const auto& e : root.list_dir(dir)) {
        std::string p = (dir == "/" ? "" : dir) + "/" + e.name;
        if (p == "/etc/fstab" || p == "/var/lib/op-dbus" || p == "/lost+found") continue;
        bool holds_mount = false;
        for (const auto& mp : mount_points) holds_mount |= (mp == p || starts_with(mp, p + "/"));
        if (holds_mount && e.kind == sys::FileKind::Directory) {
          clear(p);
        } else if (!holds_mount) {
          root.remove_all(p);
        }
      }
    };
    clear("/");
  }

  void stage_configure() {
    sys::RootDir root(target_);
    root.write_file("/etc/hostname", settings_.hostname + "\n", 0644);
    std::string names =
        settings_.domain.empty() ? settings_.hostname : settings_.fqdn() + " " + settings_.hostname;
    root.write_file("/etc/hosts",
                    "127.0.0.1\tlocalhost\n127.0.1.1\t" + names +
                        "\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\n"
                        "ff02::2\tip6-allrouters\n",
                    0644);
    std::string zone = "/usr/share/zoneinfo/" + settings_.timezone;
    auto zst = root.stat(zone);
    if (!zst)
      throw Error(
          ErrorKind::InvalidArgument,
          "bootstrap.timezone: no zone " + json_quoted(settings_.timezone) + " in the target (" + zone + ")");
    root.symlink(zone, "/etc/localtime");
    root.write_file("/etc/timezone", settings_.timezone + "\n", 0644);
    root.write_file("/etc/default/locale", "LANG=" + settings_.locale + "\n", 0644);
    std::string sources = "Types: deb\nURIs: " + settings_.mirror + "\nSuites: " + settings_.suite + " " +
                          settings_.suite +
                          "-updates\nComponents: main\n"
                          "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";
    root.make_dirs("/etc/apt/sources.list.d", 0755);
    root.write_file("/etc/apt/sources.list.d/debian.sources", sources, 0644);
    root.remove("/etc/apt/sources.list");
  }

  void bind(const std::string& source, const fs::path& target, const char* type, unsigned long flags) {
    std::error_code ec;
    fs::create_directories(target, ec);
    if (::mount(source.c_str(), target.c_str(), type, flags, nullptr) != 0) {
      throw Error(ErrorKind::BackendError,
                  "mount " + source + " on " + target.string() + ": " + std::strerror(errno));
    }
    if (flags & MS_BIND) ::mount(nullptr, target.c_str(), nullptr, MS_REC | MS_SLAVE, nullptr);
  }

  void stage_chroot() {
    auto mounted = [&](const fs::path& p) {
      for (const auto& m : sys::read_mountinfo()) {
        if (m.target == p.string()) return true;
      }
      return false;
    };
    // /run gets a fresh tmpfs rather than the host's: nothing in the chroot should talk to the host's daemons.
    if (!mounted(target_ / "proc")) bind("proc", target_ / "proc", "proc", 0);
    if (!mounted(target_ / "sys")) bind("/sys", target_ / "sys", nullptr, MS_BIND | MS_REC);
    if (!mounted(target_ / "dev")) bind("/dev", target_ / "dev", nullptr, MS_BIND | MS_REC);
    if (!mounted(target_ / "run")) bind("tmpfs", target_ / "run", "tmpfs", MS_NOSUID | MS_NODEV);
    if (!o_.prepare_cache && !mounted(target_ / "dev/disk")) disk_links();
    // apt inside the target keeps what it downloads in the same cache as debootstrap, so a second install
    // (or a re-run) downloads nothing it already has.
    fs::create_directories(cache_ / "archives/partial");
    if (!mounted(target_ / "var/cache/apt/archives")) {
      bind((cache_ / "archives").string(), target_ / "var/cache/apt/archives", nullptr, MS_BIND);
    }
    make_ssh_host_keys();
  }

  // The chroot's own /dev/disk/by-uuid, by-partuuid and by-label for the target's partitions: grub-mkconfig
  // writes root=UUID=... only when /dev/disk/by-uuid/UUID exists, and a host without udev has none. A
  // tmpfs over the target's view of /dev/disk: the host's /dev gains at most an empty /dev/disk directory.
  void disk_links() {
    bind("tmpfs", target_ / "dev/disk", "tmpfs", MS_NOSUID | MS_NOEXEC);
    const fs::path base = target_ / "dev/disk";
    for (const char* d : {"by-uuid", "by-partuuid", "by-label"}) fs::create_directories(base / d);
    for (const auto& dev : sys::list_block_devices()) {
      if (dev.parent != disk_.kernel_name) continue;
      sys::Signature sig = sys::probe_signature("/dev/" + dev.name);
      std::error_code ec;
      const std::string to = "../../" + dev.name;
      if (!sig.uuid.empty()) fs::create_symlink(to, base / "by-uuid" / sig.uuid, ec);
      if (!sig.part_uuid.empty()) fs::create_symlink(to, base / "by-partuuid" / sig.part_uuid, ec);
      if (!sig.label.empty() && sig.label.find('/') == std::string::npos) {
        fs::create_symlink(to, base / "by-label" / sig.label, ec);
      }
    }
  }

  void stage_packages() {
    sys::RootDir root(target_);
    if (root.read_file(kPackagesDone) == packages_key()) {
      say("    the kernel, the bootloader's and the document's packages are already there (the cached "
          "installed system, or an earlier run that finished this stage)");
      return;
    }
    // No service starts inside the chroot while packages are installed.
    root.write_file("/usr/sbin/policy-rc.d",
                    "#!/bin/sh\n# op-dbus bootstrap: no service starts in the chroot\nexit 101\n", 0755);
    // A run stopped inside dpkg (killed, powered off) leaves packages half-configured, and apt refuses to
    // work until they are finished; with nothing pending this does nothing.
    tool(in_target({"dpkg", "--configure", "-a"}));
    tool(in_target({"apt-get", "-q", "update"}));
    std::vector<std::string> pkgs = bootstrap::stage_packages(settings_, state_.section("packagekit"));
    std::string preseed = bootstrap::bootloader_preseed(settings_.bootloader);
    if (!preseed.empty()) tool(in_target({"debconf-set-selections"}), preseed);
    std::vector<std::string> argv = {"apt-get", "-q", "-y", "--no-install-recommends", "install", "--"};
    argv.insert(argv.end(), pkgs.begin(), pkgs.end());
    size_t set_up = 0;
    tool(in_target(argv), "", [&](const std::string& line) {
      if (starts_with(line, "Setting up ") && ++set_up % 25 == 0 && o_.verbosity == 0) {
        say("    apt: " + std::to_string(set_up) + " packages set up");
      }
    });
    if (std::find(pkgs.begin(), pkgs.end(), "locales") != pkgs.end()) {
      root.write_file("/etc/locale.gen", settings_.locale + " " + charset_of(settings_.locale) + "\n", 0644);
      tool(in_target({"locale-gen"}));
    }
    if (state_.section("packagekit")) apply_plugins(single("packagekit"), {"packagekit"}, true);
    // apt's downloads are bound from the download cache; its lists stay (a later apt needs them).
    keep_in_cache(Entry::Packages);
    root.write_file(kPackagesDone, packages_key(), 0644);
  }

  static std::string charset_of(const std::string& locale) {
    auto dot = locale.find('.');
    return dot == std::string::npos ? "ISO-8859-1" : locale.substr(dot + 1);
  }

  void stage_plugins() {
    // Set here rather than in the configure stage, so that no cached tree ever holds it; without a hash,
    // root has no password (debootstrap's "*"), also when the tree came from the cache.
    if (settings_.root_password_hash) {
      say("    the root password (from bootstrap.root_password_hash)");
      tool({"chroot", target_.string(), "chpasswd", "--encrypted"},
           "root:" + *settings_.root_password_hash + "\n");
    } else {
      tool({"chroot", target_.string(), "usermod", "--password", "*", "root"});
    }
    std::vector<std::string> offline, runtime;
    split_plugins(offline, runtime);
    if (offline.empty()) {
      say("    no other plugin section to apply into the tree");
      return;
    }
    State s;
    s.file = o_.state_file;
    s.doc.CopyFrom(state_.doc, s.doc.GetAllocator());
    // The storage section already did its work (retargeted); bootstrap is not a plugin.
    if (s.doc.HasMember("plugins")) s.doc["plugins"].RemoveMember("storage");
    for (const auto& name : offline) say("    applying " + name + " into " + target_.string());
    apply_plugins(s, offline, true);
  }

  void stage_opdbus() {
    sys::RootDir root(target_);
    root.make_dirs("/var/cache/op-dbus", 0755);
    const std::string deb_in = "/var/cache/op-dbus/op-dbus.deb";
    std::string content = sys::read_file(o_.deb).value_or("");
    root.write_file(deb_in, content, 0644);
    tool(in_target({"apt-get", "-q", "-y", "--no-install-recommends", "install", "--", deb_in}));
    root.remove(deb_in);
    root.make_dirs("/etc/op-dbus", 0755);
    // The document as given (it may hold password hashes: root only).
    root.write_file("/etc/op-dbus/state.json", sys::read_file(o_.state_file).value_or(""), 0600);
    std::vector<std::string> offline, runtime;
    split_plugins(offline, runtime);
    std::string unit = bootstrap::firstboot_unit(runtime);
    if (!unit.empty()) {
      root.write_file("/etc/systemd/system/op-dbus-firstboot.service", unit, 0644);
      root.make_dirs("/etc/systemd/system/multi-user.target.wants", 0755);
      root.symlink("/etc/systemd/system/op-dbus-firstboot.service",
                   "/etc/systemd/system/multi-user.target.wants/op-dbus-firstboot.service");
      say("    op-dbus-firstboot.service applies " + join(runtime, ", ") + " at the first boot");
    }
  }

  void stage_bootloader() {
    using bootstrap::Bootloader;
    sys::RootDir root(target_);
    Bootloader b = settings_.bootloader;
    if (b == Bootloader::GrubEfi || b == Bootloader::Both) {
      // Installed twice: under its own name (for a firmware entry made later) and at the removable path
      // EFI/BOOT/BOOTX64.EFI, which firmware with no boot entries (a new machine, fresh OVMF vars) boots.
      tool(in_target({"grub-install", "--target=x86_64-efi", "--efi-directory=/boot/efi",
                      "--bootloader-id=debian", "--no-nvram"}));
      tool(in_target(
          {"grub-install", "--target=x86_64-efi", "--efi-directory=/boot/efi", "--removable", "--no-nvram"}));
    }
    if (b == Bootloader::GrubBios || b == Bootloader::Both) {
      tool(in_target({"grub-install", "--target=i386-pc", disk_.path}));
    }
    if (b == Bootloader::SystemdBoot) {
      // kernel-install takes the command line from /etc/kernel/cmdline (else the host's /proc/cmdline).
      root.make_dirs("/etc/kernel", 0755);
      root.write_file(
          "/etc/kernel/cmdline",
          root_cmdline() + (settings_.kernel_args.empty() ? "" : " " + settings_.kernel_args) + "\n", 0644);
      tool(in_target({"bootctl", "install", "--esp-path=/boot/efi", "--no-variables"}));
      for (const auto& e : root.list_dir("/lib/modules")) {
        tool(in_target({"kernel-install", "add", e.name, "/boot/vmlinuz-" + e.name}));
      }
    } else {
      if (!settings_.kernel_args.empty()) {
        root.make_dirs("/etc/default/grub.d", 0755);
        root.write_file("/etc/default/grub.d/op-dbus.cfg",
                        "# Written by op-dbus bootstrap from "
                        "bootstrap.kernel_args.\nGRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX " +
                            settings_.kernel_args + "\"\n",
                        0644);
      }
      tool(in_target({"update-grub"}));
    }
  }

  // "root=UUID=... rootflags=subvol=@ rw" for the filesystem mounted on the target.
  std::string root_cmdline() const {
    for (const auto& m : sys::read_mountinfo()) {
      if (m.target != target_.string()) continue;
      std::string out = "root=UUID=" + sys::probe_signature(m.source).uuid;
      for (const auto& opt : split(m.options, ',')) {
        if (starts_with(opt, "subvol=")) {
          std::string sv = opt.substr(7);
          if (starts_with(sv, "/")) sv = sv.substr(1);
          if (!sv.empty()) out += " rootflags=subvol=" + sv;
        }
      }
      return out + " rw";
    }
    throw Error(ErrorKind::BackendError, "nothing is mounted on " + target_.string());
  }

  void stage_finish() {
    sys::RootDir root(target_);
    root.remove("/usr/sbin/policy-rc.d");
    tool({"sync"});
    release_target();
    if (o_.no_finish || settings_.finish == bootstrap::Finish::Nothing) return;
    std::string what(bootstrap::name_of(settings_.finish));
    say("the document says \"finish\": \"" + what + "\"");
    tool({"systemctl", what});
  }

  // Everything under the target unmounted (also after a failure); says what could not be.
  void release_target() {
    if (released_ || o_.dry_run) return;
    released_ = true;
    auto failed = unmount_below(target_);
    if (!failed.empty()) say("warning: could not unmount " + join(failed, ", "));
    std::error_code ec;
    fs::remove(target_, ec);  // only when empty
  }

  // ---- --prepare-cache

  // The base system and the installed system for STATE made in a scratch tree (no disk: the check, storage,
  // plugins, op-dbus and bootloader stages do not run) and kept in the cache; then the tree is deleted. A
  // later bootstrap of a disk with the same settings and packages, here or on a machine given a copy of the
  // cache, unpacks the installed system. Nothing is done when the cache already holds a sound-looking entry.
  int prepare_cache() {
    if (::geteuid() != 0) {
      throw Error(ErrorKind::PermissionError,
                  "--prepare-cache runs debootstrap and apt in a chroot: it needs root");
    }
    if (o_.no_cache)
      throw Error(ErrorKind::InvalidArgument, "--prepare-cache and --no-cache contradict each other");
    auto existing = cache_source(Entry::Packages);
    if (existing.from_cache) {
      say("the cache already holds the installed system for these settings and packages: " +
          cache_entry(Entry::Packages, ".tar").string());
      return kExitOk;
    }
    say(existing.reason);
    fs::create_directories(cache_);
    target_ =
        o_.target.empty() ? cache_ / ("prepare." + std::to_string(::getpid())) : fs::absolute(o_.target);
    std::error_code ec;
    if (fs::exists(target_, ec) && !fs::is_empty(target_, ec)) {
      throw Error(ErrorKind::InvalidArgument, "--target " + target_.string() + ": not an empty directory");
    }
    fs::create_directories(target_);
    say("preparing the cache in the scratch tree " + target_.string());
    InterruptGuard on_signal;
    struct Cleanup {
      Bootstrap* b;
      ~Cleanup() { b->release_scratch(); }
    } cleanup{this};
    size_t i = 0;
    std::vector<bootstrap::Stage> wanted;
    for (const auto& st : bootstrap::stages()) {
      if (st.name == "base" || st.name == "configure" || st.name == "chroot" || st.name == "packages")
        wanted.push_back(st);
    }
    for (const auto& st : wanted) {
      if (interrupted()) throw Error(ErrorKind::Interrupted, "interrupted by " + interrupt_name());
      run_stage(++i, st, wanted.size());
    }
    release_scratch();
    auto made = cache_source(Entry::Packages);
    if (!made.from_cache) {
      throw Error(ErrorKind::BackendError, "the installed system could not be kept in the cache (see above)");
    }
    say("the cache holds the installed system: " + cache_entry(Entry::Packages, ".tar").string());
    return kExitOk;
  }

  // Unmounts everything under the scratch tree, then deletes it (not when something stays mounted there).
  void release_scratch() {
    if (released_) return;
    release_target();
    for (const auto& m : sys::read_mountinfo()) {
      if (m.target == target_.string() || starts_with(m.target, target_.string() + "/")) {
        say("warning: " + m.target + " is still mounted: the scratch tree " + target_.string() + " is kept");
        return;
      }
    }
    std::error_code ec;
    fs::remove_all(target_, ec);
    if (ec) say("warning: the scratch tree " + target_.string() + " was not deleted: " + ec.message());
  }

  // ---- dry run

  int dry_run() {
    // Plans are made against an empty scratch tree, the state of the target before anything is written.
    char tmpl[] = "/tmp/op-dbus-bootstrap-dry-run.XXXXXX";
    if (!::mkdtemp(tmpl))
      throw Error(ErrorKind::BackendError, std::string("mkdtemp: ") + std::strerror(errno));
    shown_target_ = target_;
    target_ = tmpl;
    struct Remove {
      fs::path p;
      ~Remove() {
        std::error_code ec;
        fs::remove_all(p, ec);
      }
    } remove{target_};
    std::cout << "bootstrap of " << choice_.device << " (from the " << choice_.source << ")\n";
    if (!from_device_.empty() && from_device_ != choice_.device) {
      std::cout << "  the document's " << from_device_ << " becomes " << choice_.device
                << " for the install\n";
    }
    std::cout << "  " << settings_.suite << " (" << settings_.variant << ") from " << settings_.mirror
              << ", kernel " << settings_.kernel << ", bootloader "
              << bootstrap::name_of(settings_.bootloader) << ", host " << settings_.fqdn() << "\n\n";
    size_t i = 0;
    RenderOptions ro{o_.color, o_.verbosity > 0};
    for (const auto& st : bootstrap::stages()) {
      std::cout << "[" << ++i << "/" << bootstrap::stages().size() << "] " << st.name << ": " << st.summary
                << "\n";
      std::string name(st.name);
      if (name == "check") {
        try {
          DiskFacts d = check_disk(choice_.device);
          std::cout << "    " << d.path << ": " << format_byte_size(d.size) << ", holds "
                    << describe_contents(d.signature) << "\n";
        } catch (const Error& e) {
          std::cout << "    would stop here: " << e.what() << "\n";
        }
      } else if (name == "storage") {
        try {
          Context ctx(plugin_options({"storage"}));
          Engine engine(ctx, make_plugins());
          Plan plan = engine.plan(single("storage"));
          std::cout << indent(render_plan(plan, ro));
        } catch (const Error& e) {
          std::cout << "    cannot plan: " << e.what() << "\n";
        }
      } else if (name == "base") {
        std::string why;
        try {
          auto whole = cache_source(Entry::Packages);
          if (whole.from_cache) {
            std::cout << "    " << whole.reason << ": " << cache_entry(Entry::Packages, ".tar").string()
                      << " (base system and packages; its sha256 is checked first)\n";
            continue;
          }
          std::cout << "    " << whole.reason << "\n";
          auto source = cache_source(Entry::Base);
          if (source.from_cache) {
            std::cout << "    " << source.reason << ": " << cache_entry(Entry::Base, ".tar").string()
                      << " (its sha256 is checked first; debootstrap if it differs)\n";
            continue;
          }
          why = source.reason;
        } catch (const Error& e) {
          why = std::string("cannot look at the cache: ") + e.what() + ": debootstrap";
        }
        std::cout << "    " << why << "\n";
        std::cout << "    debootstrap"
                  << (settings_.variant == "standard" ? "" : " --variant=" + settings_.variant)
                  << " --include=" + join(bootstrap::base_packages(settings_, storage_), ",") << " "
                  << settings_.suite << " " << shown_target_.string() << " " << settings_.mirror << "\n";
      } else if (name == "configure") {
        std::cout << "    /etc/hostname " << settings_.hostname << ", /etc/hosts " << settings_.fqdn()
                  << ", /etc/localtime " << settings_.timezone << ", LANG=" << settings_.locale << "\n";
      } else if (name == "packages") {
        std::vector<std::string> pkgs = bootstrap::stage_packages(settings_, state_.section("packagekit"));
        bool cached = false;
        try {
          cached = cache_source(Entry::Packages).from_cache;
        } catch (const Error&) {
        }
        if (cached) std::cout << "    (from the cache, with the base system:)\n";
        std::cout << "    apt-get install " << join(pkgs, " ") << "\n";
        if (!settings_.kernel_args.empty())
          std::cout << "    kernel command line: " << settings_.kernel_args << "\n";
        if (state_.section("packagekit"))
          std::cout << "    then the packagekit section, with apt in the target\n";
      } else if (name == "plugins") {
        std::vector<std::string> offline, runtime;
        split_plugins(offline, runtime);
        std::cout << "    root password: "
                  << (settings_.root_password_hash ? "from bootstrap.root_password_hash (secret)"
                                                   : "none (\"*\")")
                  << "\n";
        std::cout << "    into the tree: " << (offline.empty() ? "(none)" : join(offline, ", ")) << "\n";
      } else if (name == "op-dbus") {
        std::vector<std::string> offline, runtime;
        split_plugins(offline, runtime);
        std::cout << "    apt-get install " << (o_.deb.empty() ? "(--deb FILE)" : o_.deb)
                  << "; /etc/op-dbus/state.json"
                  << (runtime.empty() ? "" : "; op-dbus-firstboot.service for " + join(runtime, ", "))
                  << "\n";
      } else if (name == "finish") {
        std::cout << "    then: " << bootstrap::name_of(settings_.finish)
                  << (o_.no_finish ? " (skipped: --no-finish)" : "") << "\n";
      }
    }
    return kExitOk;
  }

  static std::string indent(const std::string& text) {
    std::string out;
    for (const auto& line : split(text, '\n')) {
      if (!line.empty()) out += "    " + line + "\n";
    }
    return out;
  }

  const BootstrapOptions& o_;
  State state_;
  Settings settings_;
  bootstrap::TargetChoice choice_;
  std::string from_device_;
  JsonDoc storage_;
  fs::path target_;
  fs::path shown_target_;  // --dry-run: the real target, while plans use a scratch tree
  fs::path cache_;
  std::string arch_;  // dpkg's architecture of this host (debootstrap's default)
  DiskFacts disk_;
  std::vector<std::pair<std::string, double>> done_;  // finished stages and their durations
  bool released_ = false;
};

}  // namespace

int run_bootstrap(const BootstrapOptions& options) {
  Bootstrap b(options);
  return b.run();
}

}  // namespace opdbus
