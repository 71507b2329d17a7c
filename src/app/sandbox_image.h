// The cached Debian rootfs the sandbox boots: built once with debootstrap, keyed by everything that decides
// its content, and never modified afterwards (each run gets its own copy-on-write layer on top).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "app/sandbox_support.h"

namespace opdbus::sandbox {

struct ImageSpec {
  std::string suite = "bookworm";
  std::string variant = "minbase";
  std::string mirror;                 // "http://deb.debian.org/debian"
  std::vector<std::string> packages;  // sorted, unique: what debootstrap --include gets
  // Sorted, unique: installed with apt-get inside the fresh tree after debootstrap (`sandbox --include`). Some
  // packages (packagekit, whose polkitd does not configure under debootstrap) only install that way.
  std::vector<std::string> extra_packages;
  std::filesystem::path cache_dir;  // $OPDBUS_CACHE_DIR or /var/cache/op-dbus/sandbox

  // 16 hex digits of the SHA-256 of suite, variant, mirror, packages, extra packages and the layout version.
  std::string key() const;
  std::filesystem::path dir() const { return cache_dir / key(); }
  std::filesystem::path rootfs() const { return dir() / "rootfs"; }
};

// The mirror apt uses for `suite`: the first matching deb822 stanza's URIs, else a matching one-line
// `deb URL suite ...` entry, else deb.debian.org. Pure, for tests.
std::string mirror_from_sources(std::string_view deb822, std::string_view one_line, std::string_view suite);

// The Debian packages that provide the shared libraries `exe` links directly (DT_NEEDED, located with ldd,
// owners from dpkg -S), minus the ones every
// minbase system has. Falls back to a fixed list when that cannot be worked out.
std::vector<std::string> runtime_packages(const std::filesystem::path& exe, const Reporter& report);

// Everything the image for `exe` needs: host mirror, cache dir, systemd + dbus + tools, op-dbus's usual
// runtime libraries and whatever else `exe` links.
// `extra` (from --include) is validated, sorted and de-duplicated; a bad name throws Error(InvalidArgument).
ImageSpec image_spec(const std::filesystem::path& exe, const Reporter& report,
                     const std::vector<std::string>& extra = {});

// A Debian package name as `--include` accepts it (policy 5.6.7: lower case letters, digits, + - .; at least two
// characters, starting with a letter or digit). Anything else could become an option of apt-get.
bool valid_package_name(std::string_view name);

// Returns the rootfs, building it first when the cache has no complete copy. Concurrent callers serialize on
// a lock file; a half-built tree is never visible under the final name.
std::filesystem::path ensure_image(const ImageSpec& spec, const Reporter& report);

}  // namespace opdbus::sandbox
