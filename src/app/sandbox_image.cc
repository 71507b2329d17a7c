#include "app/sandbox_image.h"

#include <elf.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "error.h"
#include "sys/fs.h"
#include "sys/process.h"
#include "text.h"

namespace opdbus::sandbox {
namespace {

namespace fs = std::filesystem;

// Bumped whenever the way an image is built or configured changes, so old caches are not reused.
constexpr std::string_view kLayoutVersion = "1";

// What every sandbox needs besides op-dbus's own libraries: a real init and system bus, and tools for tests.
const std::vector<std::string> kBasePackages = {"dbus", "iproute2", "procps", "systemd", "systemd-sysv"};

// op-dbus's runtime libraries on Debian 12, used when they cannot be derived from the binary.
const std::vector<std::string> kFallbackLibraries = {
    "libblkid1",   "libbtrfsutil1",     "libfdisk1",     "libfmt9",       "libmount1", "libnftables1",
    "libnl-3-200", "libnl-route-3-200", "libsdbus-c++1", "libspdlog1.10", "libssl3"};

std::string sha256_text(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorKind::Bug, "SHA-256 failed");
  }
  return hex_lower(digest, len);
}

std::vector<std::string> words(std::string_view s) {
  std::istringstream in{std::string(s)};
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

std::string read_or_empty(const fs::path& p) {
  try {
    return sys::read_file(p).value_or("");
  } catch (const Error&) {
    return "";
  }
}

// "/usr/lib/x.so" <-> "/lib/x.so": on a merged-/usr system dpkg knows a library under only one of them.
std::vector<std::string> path_variants(const std::string& path) {
  std::vector<std::string> out{path};
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (!ec && real.string() != path) out.push_back(real.string());
  size_t n = out.size();
  for (size_t i = 0; i < n; ++i) {
    const std::string& p = out[i];
    if (p.rfind("/usr/", 0) == 0) {
      out.push_back(p.substr(4));
    } else {
      out.push_back("/usr" + p);
    }
  }
  return out;
}

// Libraries every minbase system has; leaving them out keeps the cache key stable across binaries.
const std::set<std::string> kInMinbase = {"libc6", "libgcc-s1", "libstdc++6"};

// The DT_NEEDED sonames of an ELF64 file: the libraries it links directly (ldd also lists their own
// dependencies, which debootstrap resolves by itself). Empty when the file is not a native ELF64 binary.
std::set<std::string> elf_needed(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::set<std::string> out;
  if (data.size() < sizeof(Elf64_Ehdr) || data.compare(0, SELFMAG, ELFMAG) != 0 ||
      data[EI_CLASS] != ELFCLASS64) {
    return out;
  }
  Elf64_Ehdr eh;
  std::memcpy(&eh, data.data(), sizeof eh);
  auto section = [&](size_t i) {
    Elf64_Shdr sh{};
    size_t at = eh.e_shoff + i * sizeof(Elf64_Shdr);
    if (at + sizeof sh <= data.size()) std::memcpy(&sh, data.data() + at, sizeof sh);
    return sh;
  };
  for (size_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr dyn = section(i);
    if (dyn.sh_type != SHT_DYNAMIC) continue;
    Elf64_Shdr strtab = section(dyn.sh_link);
    for (size_t off = dyn.sh_offset;
         off + sizeof(Elf64_Dyn) <= data.size() && off < dyn.sh_offset + dyn.sh_size;
         off += sizeof(Elf64_Dyn)) {
      Elf64_Dyn d;
      std::memcpy(&d, data.data() + off, sizeof d);
      if (d.d_tag == DT_NULL) break;
      size_t name = strtab.sh_offset + d.d_un.d_val;
      if (d.d_tag == DT_NEEDED && name < data.size()) out.insert(std::string(data.c_str() + name));
    }
  }
  return out;
}

}  // namespace

std::string ImageSpec::key() const {
  std::string text = "op-dbus sandbox image\nlayout=" + std::string(kLayoutVersion) + "\nsuite=" + suite +
                     "\nvariant=" + variant + "\nmirror=" + mirror + "\npackages=";
  for (size_t i = 0; i < packages.size(); ++i) text += (i ? "," : "") + packages[i];
  text += "\n";
  // Only present with --include, so the key of a plain image stays what it always was.
  if (!extra_packages.empty()) text += "extra=" + join(extra_packages, ",") + "\n";
  return sha256_text(text).substr(0, 16);
}

std::string mirror_from_sources(std::string_view deb822, std::string_view one_line, std::string_view suite) {
  // deb822: stanzas separated by blank lines, "Field: value" lines, '#' comments.
  std::istringstream in{std::string(deb822)};
  std::string line;
  std::map<std::string, std::string> stanza;
  auto match = [&]() -> std::string {
    auto types = words(stanza["types"]);
    auto suites = words(stanza["suites"]);
    auto uris = words(stanza["uris"]);
    bool deb = std::find(types.begin(), types.end(), "deb") != types.end();
    bool has_suite = std::find(suites.begin(), suites.end(), suite) != suites.end();
    bool enabled = trim(stanza["enabled"]) != "no";
    if (deb && has_suite && enabled && !uris.empty()) return uris.front();
    return "";
  };
  for (;;) {
    bool more = static_cast<bool>(std::getline(in, line));
    if (!more || trim(line).empty()) {
      if (!stanza.empty()) {
        std::string uri = match();
        if (!uri.empty()) {
          while (uri.size() > 1 && uri.back() == '/') uri.pop_back();
          return uri;
        }
      }
      stanza.clear();
      if (!more) break;
      continue;
    }
    if (line[0] == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos || line[0] == ' ' || line[0] == '\t') continue;
    std::string field = trim(line.substr(0, colon));
    std::transform(field.begin(), field.end(), field.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    stanza[field] = trim(line.substr(colon + 1));
  }

  std::istringstream list{std::string(one_line)};
  while (std::getline(list, line)) {
    auto w = words(line.substr(0, line.find('#')));
    if (w.empty() || w[0] != "deb") continue;
    size_t i = 1;
    if (i < w.size() && w[i].front() == '[') {
      while (i < w.size() && w[i].back() != ']') ++i;
      ++i;
    }
    if (i + 1 < w.size() && w[i + 1] == suite) {
      std::string uri = w[i];
      while (uri.size() > 1 && uri.back() == '/') uri.pop_back();
      return uri;
    }
  }
  return "http://deb.debian.org/debian";
}

std::vector<std::string> runtime_packages(const fs::path& exe, const Reporter& report) {
  auto fallback = [&](const std::string& why) {
    report.warn("cannot derive op-dbus's runtime packages (" + why + "); using the fixed list");
    return kFallbackLibraries;
  };
  ChildResult ldd;
  try {
    ldd = run_child({"ldd", exe.string()});
  } catch (const Error& e) {
    return fallback(e.what());
  }
  if (ldd.exit_code != 0) return fallback("ldd: " + trim(ldd.output));

  // "libx.so.1 => /lib/x86_64-linux-gnu/libx.so.1 (0x...)": keep the ones the binary names itself.
  const std::set<std::string> needed = elf_needed(exe);
  std::vector<std::string> libs;
  std::istringstream lines(ldd.output);
  std::string line;
  while (std::getline(lines, line)) {
    auto arrow = line.find(" => ");
    if (arrow == std::string::npos) continue;
    std::string soname = trim(line.substr(0, arrow));
    std::string rest = trim(line.substr(arrow + 4));
    if (rest.empty() || rest[0] != '/') continue;
    if (!needed.empty() && !needed.count(soname)) continue;
    libs.push_back(rest.substr(0, rest.find(' ')));
  }
  if (libs.empty()) return fallback("ldd listed no libraries");

  std::vector<std::string> query{"dpkg-query", "-S"};
  for (const auto& lib : libs) {
    for (const auto& v : path_variants(lib)) query.push_back(v);
  }
  ChildResult owners;
  try {
    owners = run_child(query);  // exits 1 when some variant is unknown; the known ones are still listed
  } catch (const Error& e) {
    return fallback(e.what());
  }
  std::map<std::string, std::string> owner_of;  // path -> package
  std::istringstream owned(owners.output);
  while (std::getline(owned, line)) {
    if (line.rfind("diversion ", 0) == 0) continue;
    size_t sep = line.find(": /");
    if (sep == std::string::npos) continue;
    // "libfoo1:amd64: /path", or "a, b: /path" when several packages ship the path: the first will do.
    std::string pkg = line.substr(0, sep);
    pkg = pkg.substr(0, pkg.find(','));
    pkg = pkg.substr(0, pkg.find(':'));
    owner_of[line.substr(sep + 2)] = trim(pkg);
  }

  std::set<std::string> packages;
  for (const auto& lib : libs) {
    std::string pkg;
    for (const auto& v : path_variants(lib)) {
      auto it = owner_of.find(v);
      if (it != owner_of.end()) {
        pkg = it->second;
        break;
      }
    }
    if (pkg.empty()) {
      report.warn(lib + " is not from a Debian package; it will be missing inside the sandbox");
    } else {
      packages.insert(pkg);
    }
  }
  if (packages.empty()) return fallback("dpkg knows none of the libraries");

  for (const auto& p : kInMinbase) packages.erase(p);
  return {packages.begin(), packages.end()};
}

bool valid_package_name(std::string_view name) {
  if (name.size() < 2 || name.size() > 128) return false;
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

ImageSpec image_spec(const fs::path& exe, const Reporter& report, const std::vector<std::string>& extra) {
  ImageSpec spec;
  std::set<std::string> wanted;
  for (const auto& name : extra) {
    if (!valid_package_name(name)) {
      throw Error(ErrorKind::InvalidArgument,
                  "--include: expected a Debian package name (lower case letters, digits, '+', '-', '.'), "
                  "found " +
                      json_quoted(name));
    }
    wanted.insert(name);
  }
  spec.extra_packages.assign(wanted.begin(), wanted.end());
  spec.mirror = mirror_from_sources(read_or_empty("/etc/apt/sources.list.d/debian.sources"),
                                    read_or_empty("/etc/apt/sources.list"), spec.suite);
  const char* dir = std::getenv("OPDBUS_CACHE_DIR");
  spec.cache_dir = dir && *dir ? fs::path(dir) : fs::path("/var/cache/op-dbus/sandbox");
  spec.cache_dir = fs::absolute(spec.cache_dir);
  // The fixed list is always included, so the key (and the cached image) stays the same while op-dbus's
  // libraries come from it; a binary that links something else adds that package.
  std::set<std::string> all(kBasePackages.begin(), kBasePackages.end());
  all.insert(kFallbackLibraries.begin(), kFallbackLibraries.end());
  for (auto& p : runtime_packages(exe, report)) all.insert(p);
  spec.packages.assign(all.begin(), all.end());
  return spec;
}

namespace {

// An exclusive flock on <cache>/<key>.lock, released when the object dies.
class CacheLock {
 public:
  CacheLock(const fs::path& file, const Reporter& report) {
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      throw Error(errno == EACCES ? ErrorKind::PermissionError : ErrorKind::BackendError,
                  "open " + file.string() + ": " + std::strerror(errno));
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
    report.stage("waiting for another op-dbus that is building this image (" + file.string() + ")");
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        int err = errno;
        ::close(fd_);
        throw Error(ErrorKind::BackendError, "lock " + file.string() + ": " + std::strerror(err));
      }
      try {
        throw_if_interrupted();
      } catch (...) {
        ::close(fd_);
        throw;
      }
    }
  }
  ~CacheLock() { ::close(fd_); }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  int fd_ = -1;
};

// debootstrap's "I: Retrieving libc6 2.36" lines, reduced to the phase so the default output stays short.
std::string debootstrap_phase(const std::string& line) {
  static const std::pair<const char*, const char*> phases[] = {
      {"I: Retrieving InRelease", "fetching the archive index"},
      {"I: Retrieving Release", "fetching the archive index"},
      {"I: Retrieving Packages", "fetching the archive index"},
      {"I: Checking component", "resolving dependencies"},
      {"I: Resolving", "resolving dependencies"},
      {"I: Retrieving", "downloading packages"},
      {"I: Validating", "downloading packages"},
      {"I: Extracting", "extracting packages"},
      {"I: Installing", "installing packages"},
      {"I: Unpacking", "installing packages"},
      {"I: Configuring", "installing packages"},
      {"I: Base system installed", "base system installed"},
  };
  for (const auto& [prefix, phase] : phases) {
    if (line.rfind(prefix, 0) == 0) return phase;
  }
  return "";
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// One-time changes to the fresh tree that every run wants.
void configure_rootfs(const fs::path& root, const ImageSpec& spec) {
  // Each run writes its own machine-id and hostname; the image must not carry the build host's.
  std::error_code ec;
  fs::remove(root / "etc/machine-id", ec);
  fs::remove(root / "var/lib/dbus/machine-id", ec);
  sys::atomic_write(root / "etc/hostname", "sandbox\n");
  // Downloaded .debs only make every copy bigger.
  for (const auto& entry : fs::directory_iterator(root / "var/cache/apt/archives", ec)) {
    if (entry.path().extension() == ".deb") fs::remove(entry.path(), ec);
  }
  sys::atomic_write(root / "etc/apt/sources.list", "deb " + spec.mirror + " " + spec.suite + " main\n");
}

// /proc, /sys and /dev of the host inside the tree while apt runs there; unmounted (lazily if still busy) when
// the object dies, on every exit path.
class ChrootMounts {
 public:
  explicit ChrootMounts(const fs::path& root) {
    mount_one("proc", root / "proc", "proc", 0);
    mount_one("sysfs", root / "sys", "sysfs", MS_RDONLY);
    mount_one("/dev", root / "dev", nullptr, MS_BIND | MS_REC);
  }
  ~ChrootMounts() {
    for (auto it = mounted_.rbegin(); it != mounted_.rend(); ++it) {
      if (::umount2(it->c_str(), 0) != 0) ::umount2(it->c_str(), MNT_DETACH);
    }
  }
  ChrootMounts(const ChrootMounts&) = delete;
  ChrootMounts& operator=(const ChrootMounts&) = delete;

 private:
  void mount_one(const char* source, const fs::path& target, const char* type, unsigned long flags) {
    std::error_code ec;
    fs::create_directories(target, ec);
    if (::mount(source, target.c_str(), type, flags, nullptr) != 0) {
      int err = errno;
      throw Error(ErrorKind::BackendError,
                  "mount " + std::string(source) + " on " + target.string() + ": " + std::strerror(err));
    }
    mounted_.push_back(target);
    if (flags & MS_BIND) ::mount(nullptr, target.c_str(), nullptr, MS_REC | MS_SLAVE, nullptr);
  }
  std::vector<fs::path> mounted_;
};

// `sandbox --include`: apt-get inside the freshly debootstrapped tree, with services kept from starting
// (policy-rc.d) and the host's /proc, /sys and /dev bound for the duration.
void install_extra_packages(const fs::path& root, const ImageSpec& spec, const Reporter& report) {
  report.stage("installing " + join(spec.extra_packages, ", ") + " into the image with apt-get");
  const fs::path policy = root / "usr/sbin/policy-rc.d";
  sys::atomic_write(policy,
                    "#!/bin/sh\n# op-dbus sandbox image build: no service starts in the chroot\nexit 101\n");
  fs::permissions(policy, fs::perms(0755));
  sys::atomic_write(root / "etc/apt/sources.list", "deb " + spec.mirror + " " + spec.suite + " main\n");
  ChildOptions opts;
  opts.on_line = [&](const std::string& line) { report.detail(line); };
  {
    ChrootMounts mounts(root);
    run_child_checked({"chroot", root.string(), "env", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8",
                       "apt-get", "-q", "update"},
                      opts);
    throw_if_interrupted();
    std::vector<std::string> argv = {
        "chroot",  root.string(), "env", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8",
        "apt-get", "-q",          "-y",  "--no-install-recommends",        "install",
        "--"};
    argv.insert(argv.end(), spec.extra_packages.begin(), spec.extra_packages.end());
    run_child_checked(argv, opts);
    throw_if_interrupted();
    run_child_checked({"chroot", root.string(), "apt-get", "clean"}, opts);
  }
  std::error_code ec;
  fs::remove(policy, ec);
}

}  // namespace

fs::path ensure_image(const ImageSpec& spec, const Reporter& report) {
  const fs::path dir = spec.dir();
  const fs::path rootfs = spec.rootfs();
  if (fs::exists(dir / ".complete")) return rootfs;

  std::error_code ec;
  fs::create_directories(spec.cache_dir, ec);
  if (ec) {
    throw Error(ec == std::errc::permission_denied ? ErrorKind::PermissionError : ErrorKind::BackendError,
                "create " + spec.cache_dir.string() + ": " + ec.message());
  }
  CacheLock lock(spec.cache_dir / (spec.key() + ".lock"), report);
  if (fs::exists(dir / ".complete")) return rootfs;  // built while we waited

  // Whatever is left under this key is from a build that died: we hold the lock, nobody else is using it.
  if (fs::exists(dir) && !remove_tree(dir)) {
    throw Error(ErrorKind::BackendError, "cannot remove the incomplete image " + dir.string() +
                                             " (something is still mounted below it)");
  }
  const std::string build_prefix = spec.key() + ".build-";
  for (const auto& entry : fs::directory_iterator(spec.cache_dir, ec)) {
    if (entry.path().filename().string().rfind(build_prefix, 0) == 0) remove_tree(entry.path());
  }

  const fs::path build = spec.cache_dir / (build_prefix + std::to_string(::getpid()));
  fs::create_directories(build);
  struct Cleanup {
    fs::path path;
    bool armed = true;
    ~Cleanup() {
      if (armed) remove_tree(path);
    }
  } cleanup{build};

  std::string include;
  for (const auto& p : spec.packages) include += (include.empty() ? "" : ",") + p;
  report.stage("building the " + spec.suite + " image " + spec.key() + " with debootstrap (" +
               std::to_string(spec.packages.size()) + " packages from " + spec.mirror + "); this runs once");
  std::vector<std::string> argv = {
      "debootstrap", "--variant=" + spec.variant, "--components=main", "--include=" + include,
      spec.suite,    (build / "rootfs").string(), spec.mirror};
  std::set<std::string> phases_seen;
  ChildOptions opts;
  opts.on_line = [&](const std::string& line) {
    report.detail(line);
    std::string phase = debootstrap_phase(line);
    if (!phase.empty() && phases_seen.insert(phase).second && !report.verbose()) {
      report.stage("  debootstrap: " + phase);
    }
  };
  ChildResult r = run_child(argv, opts);
  throw_if_interrupted();
  if (r.exit_code != 0) {
    std::string log = tail_lines(build / "rootfs/debootstrap/debootstrap.log", 15);
    throw Error(ErrorKind::BackendError,
                sys::quote_command(argv) + " exited with status " + std::to_string(r.exit_code) + ":\n" +
                    indent_lines(last_lines(r.output, 15), "  ") +
                    (log.empty() ? "" : "debootstrap.log ends with:\n" + indent_lines(log, "  ")));
  }

  if (!spec.extra_packages.empty()) install_extra_packages(build / "rootfs", spec, report);

  report.stage("configuring the image");
  configure_rootfs(build / "rootfs", spec);
  std::string info = "suite: " + spec.suite + "\nvariant: " + spec.variant + "\nmirror: " + spec.mirror +
                     "\npackages: " + include + "\nbuilt: " + utc_now() + "\n";
  if (!spec.extra_packages.empty()) info += "extra packages: " + join(spec.extra_packages, ",") + "\n";
  sys::atomic_write(build / "image.txt", info);
  sys::atomic_write(build / ".complete", "");
  if (::rename(build.c_str(), dir.c_str()) != 0) {
    throw Error(ErrorKind::BackendError,
                "rename " + build.string() + " to " + dir.string() + ": " + std::strerror(errno));
  }
  cleanup.armed = false;
  report.stage("image ready: " + rootfs.string());
  return rootfs;
}

}  // namespace opdbus::sandbox
