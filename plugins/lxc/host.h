// Facts about the host the liblxc backend needs: the Debian mirrors apt uses (the debian template must
// debootstrap from the same mirror, since a host may reach no other).
#pragma once

#include <string>

#include "sys/rootdir.h"

namespace opdbus::lxc {

struct Mirrors {
  std::string main;      // "http://deb.debian.org/debian"; "" when none was found
  std::string security;  // "http://deb.debian.org/debian-security"; "" when none was found
};

// From /etc/apt/sources.list.d/*.sources (deb822) and /etc/apt/sources.list. Only plain http(s) URLs are
// taken (each becomes one argv element of the template).
Mirrors host_mirrors(const sys::RootDir& root);
// The same from text (for tests): `deb822` is a .sources file, `list` a sources.list.
Mirrors parse_mirrors(const std::string& deb822, const std::string& list);

}  // namespace opdbus::lxc
