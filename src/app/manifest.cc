#include "manifest.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <set>

#include "error.h"
#include "json_object.h"
#include "sys/fs.h"
#include "sys/process.h"
#include "text.h"

namespace opdbus::manifest {
namespace {

namespace fs = std::filesystem;

int order(char c) {
  if (std::isdigit(static_cast<unsigned char>(c))) return 0;
  if (std::isalpha(static_cast<unsigned char>(c))) return c;
  if (c == '~') return -1;
  if (c) return c + 256;
  return 0;
}

// dpkg's verrevcmp.
int compare_part(const std::string& as, const std::string& bs) {
  const char* a = as.c_str();
  const char* b = bs.c_str();
  while (*a || *b) {
    int first_diff = 0;
    while ((*a && !std::isdigit(static_cast<unsigned char>(*a))) ||
           (*b && !std::isdigit(static_cast<unsigned char>(*b)))) {
      int ac = order(*a), bc = order(*b);
      if (ac != bc) return ac - bc;
      a++, b++;
    }
    while (*a == '0') a++;
    while (*b == '0') b++;
    while (std::isdigit(static_cast<unsigned char>(*a)) && std::isdigit(static_cast<unsigned char>(*b))) {
      if (!first_diff) first_diff = *a - *b;
      a++, b++;
    }
    if (std::isdigit(static_cast<unsigned char>(*a))) return 1;
    if (std::isdigit(static_cast<unsigned char>(*b))) return -1;
    if (first_diff) return first_diff;
  }
  return 0;
}

struct Split {
  long epoch = 0;
  std::string upstream, revision;
};

Split split_version(std::string_view v) {
  Split s;
  auto colon = v.find(':');
  if (colon != std::string_view::npos) {
    s.epoch = std::atol(std::string(v.substr(0, colon)).c_str());
    v = v.substr(colon + 1);
  }
  auto dash = v.rfind('-');
  if (dash != std::string_view::npos) {
    s.revision = std::string(v.substr(dash + 1));
    v = v.substr(0, dash);
  }
  s.upstream = std::string(v);
  return s;
}

std::string base_name(std::string name) {
  if (auto colon = name.find(':'); colon != std::string::npos) name.resize(colon);
  return name;
}

// deb822 stanzas with continuation lines joined (for Depends spread over lines).
template <typename Fn>
void for_each_stanza(std::string_view text, Fn&& fn) {
  std::map<std::string, std::string> fields;
  std::string last;
  auto flush = [&] {
    if (!fields.empty()) fn(fields);
    fields.clear();
    last.clear();
  };
  for (const auto& line : split(text, '\n')) {
    if (trim(line).empty()) {
      flush();
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t') {
      if (!last.empty()) fields[last] += " " + trim(line);
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    last = lower(line.substr(0, colon));
    fields[last] = trim(line.substr(colon + 1));
  }
  flush();
}

std::string host_arch() {
  struct utsname u {};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  if (m == "i686" || m == "i386") return "i386";
  return m;
}

// Packages files under `path` (or `path` itself): "Packages", "Packages.gz", "Packages.xz" (one per
// directory, the uncompressed first) and apt's "*_Packages" lists, for `arch` and "all".
std::vector<fs::path> find_indexes(const fs::path& path, const std::string& arch) {
  std::vector<fs::path> out;
  if (fs::is_regular_file(path)) return {path};
  if (!fs::is_directory(path))
    throw Error(ErrorKind::InvalidArgument, path.string() + ": no such file or directory");
  std::map<fs::path, fs::path> per_dir;  // directory -> its best Packages file
  auto rank = [](const std::string& n) { return n == "Packages" ? 0 : n == "Packages.gz" ? 1 : 2; };
  for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied);
       it != fs::recursive_directory_iterator(); ++it) {
    if (it.depth() > 6) it.disable_recursion_pending();
    if (!it->is_regular_file()) continue;
    const std::string name = it->path().filename().string();
    const std::string parent = it->path().parent_path().filename().string();
    if (name == "Packages" || name == "Packages.gz" || name == "Packages.xz") {
      if (starts_with(parent, "binary-") && parent != "binary-" + arch && parent != "binary-all") continue;
      auto& best = per_dir[it->path().parent_path()];
      if (best.empty() || rank(name) < rank(best.filename().string())) best = it->path();
    } else if (ends_with(name, "_Packages") && (name.find("_binary-" + arch + "_") != std::string::npos ||
                                                name.find("_binary-all_") != std::string::npos ||
                                                name.find("_binary-") == std::string::npos)) {
      out.push_back(it->path());
    }
  }
  for (const auto& [dir, file] : per_dir) out.push_back(file);
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_index(const fs::path& p) {
  const std::string name = p.filename().string();
  if (ends_with(name, ".gz") || ends_with(name, ".xz")) {
    std::vector<std::string> argv = {ends_with(name, ".gz") ? "gzip" : "xz", "-dc", "--", p.string()};
    auto r = sys::run(argv);
    if (r.exit_code != 0) throw Error(ErrorKind::InvalidArgument, sys::describe_failure(argv, r));
    return r.output;
  }
  auto text = sys::read_file(p);
  if (!text) throw Error(ErrorKind::InvalidArgument, p.string() + ": cannot read");
  return *text;
}

}  // namespace

int compare_versions(std::string_view a, std::string_view b) {
  Split x = split_version(a), y = split_version(b);
  if (x.epoch != y.epoch) return x.epoch < y.epoch ? -1 : 1;
  if (int c = compare_part(x.upstream, y.upstream)) return c;
  return compare_part(x.revision, y.revision);
}

bool satisfies(std::string_view version, const Relation& r) {
  if (r.op.empty()) return true;
  int c = compare_versions(version, r.version);
  if (r.op == "<<") return c < 0;
  if (r.op == "<=" || r.op == "<") return c <= 0;
  if (r.op == "=") return c == 0;
  if (r.op == ">=" || r.op == ">") return c >= 0;
  if (r.op == ">>") return c > 0;
  return false;
}

std::vector<Alternatives> parse_relations(std::string_view field) {
  std::vector<Alternatives> out;
  for (const auto& group : split(field, ',')) {
    Alternatives alts;
    for (const auto& alt_raw : split(group, '|')) {
      std::string alt = trim(alt_raw);
      // Architecture lists and build profiles (source packages) are not for us.
      if (auto sq = alt.find('['); sq != std::string::npos) alt = trim(alt.substr(0, sq));
      if (auto lt = alt.find('<'); lt != std::string::npos && alt.find('(') == std::string::npos)
        alt = trim(alt.substr(0, lt));
      if (alt.empty()) continue;
      Relation r;
      auto paren = alt.find('(');
      r.name = base_name(trim(alt.substr(0, paren)));
      if (paren != std::string::npos) {
        std::string inside = alt.substr(paren + 1);
        if (auto close = inside.find(')'); close != std::string::npos) inside.resize(close);
        inside = trim(inside);
        size_t i = 0;
        while (i < inside.size() && (inside[i] == '<' || inside[i] == '>' || inside[i] == '=')) ++i;
        r.op = inside.substr(0, i);
        r.version = trim(inside.substr(i));
      }
      if (!r.name.empty()) alts.push_back(std::move(r));
    }
    if (!alts.empty()) out.push_back(std::move(alts));
  }
  return out;
}

void Index::add(std::string_view text, const std::string& arch) {
  for_each_stanza(text, [&](const std::map<std::string, std::string>& f) {
    auto get = [&](const char* k) -> std::string {
      auto it = f.find(k);
      return it == f.end() ? std::string() : it->second;
    };
    Package p;
    p.name = get("package");
    p.version = get("version");
    p.architecture = get("architecture");
    if (p.name.empty() || p.version.empty()) return;
    if (!p.architecture.empty() && p.architecture != arch && p.architecture != "all") return;
    p.pre_depends = parse_relations(get("pre-depends"));
    p.depends = parse_relations(get("depends"));
    p.recommends = parse_relations(get("recommends"));
    for (const auto& g : parse_relations(get("provides")))
      for (const auto& r : g) p.provides.push_back(r);
    auto it = packages_.find(p.name);
    if (it == packages_.end() || compare_versions(p.version, it->second.version) > 0)
      packages_[p.name] = std::move(p);
  });
}

const Package* Index::find(const std::string& name) const {
  auto it = packages_.find(name);
  return it == packages_.end() ? nullptr : &it->second;
}

std::vector<const Package*> Index::providers(const Relation& r) const {
  std::vector<const Package*> out;
  for (const auto& [name, p] : packages_) {
    for (const auto& prov : p.provides) {
      if (prov.name != r.name) continue;
      // An unversioned Provides satisfies only an unversioned dependency.
      if (r.op.empty() || (prov.op == "=" && satisfies(prov.version, r))) {
        out.push_back(&p);
        break;
      }
    }
  }
  return out;
}

std::vector<Entry> resolve(const Index& index, const std::vector<std::string>& names, bool recommends) {
  std::map<std::string, const Package*> chosen;
  std::set<std::string> requested;
  std::deque<const Package*> queue;
  auto choose = [&](const Package* p) {
    if (chosen.emplace(p->name, p).second) queue.push_back(p);
  };
  auto met = [&](const Relation& r) {
    if (auto it = chosen.find(r.name); it != chosen.end() && satisfies(it->second->version, r)) return true;
    for (const auto& [name, p] : chosen) {
      for (const auto& prov : p->provides) {
        if (prov.name == r.name && (r.op.empty() || (prov.op == "=" && satisfies(prov.version, r))))
          return true;
      }
    }
    return false;
  };
  auto candidate = [&](const Relation& r) -> const Package* {
    if (const Package* p = index.find(r.name); p && satisfies(p->version, r)) return p;
    auto providers = index.providers(r);
    return providers.empty() ? nullptr : providers.front();
  };
  std::vector<std::string> unknown;
  for (const auto& raw : names) {
    std::string name = base_name(raw);
    const Package* p = candidate(Relation{name, "", ""});
    if (!p) {
      unknown.push_back(name);
      continue;
    }
    requested.insert(p->name);
    choose(p);
  }
  if (!unknown.empty()) {
    throw Error(ErrorKind::InvalidArgument, "no package " + join(unknown, ", ") + " in the indexes");
  }
  if (names.empty()) {
    for (const auto& [name, p] : index.packages()) {
      requested.insert(name);
      choose(&p);
    }
  }
  while (!queue.empty()) {
    const Package* p = queue.front();
    queue.pop_front();
    auto follow = [&](const std::vector<Alternatives>& groups, bool optional, const char* field) {
      for (const auto& group : groups) {
        if (std::any_of(group.begin(), group.end(), met)) continue;
        const Package* pick = nullptr;
        for (const auto& alt : group) {
          if ((pick = candidate(alt))) break;
        }
        if (pick) {
          choose(pick);
        } else if (!optional) {
          std::vector<std::string> shown;
          for (const auto& a : group)
            shown.push_back(a.op.empty() ? a.name : a.name + " (" + a.op + " " + a.version + ")");
          throw Error(ErrorKind::InvalidArgument, p->name + " " + p->version + " " + field + " " +
                                                      join(shown, " | ") +
                                                      ", which nothing in the indexes provides");
        }
      }
    };
    follow(p->pre_depends, false, "pre-depends on");
    follow(p->depends, false, "depends on");
    if (recommends) follow(p->recommends, true, "recommends");
  }
  std::vector<Entry> out;
  for (const auto& [name, p] : chosen) out.push_back(Entry{name, p->version, requested.count(name) > 0});
  return out;
}

JsonDoc to_json(const std::vector<Entry>& entries, const std::string& arch,
                const std::vector<std::string>& sources) {
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("format", "op-dbus-manifest", a);
  d.AddMember("version", 1, a);
  d.AddMember("architecture", str_value(arch, a), a);
  JsonValue src(rapidjson::kArrayType);
  for (const auto& s : sources) src.PushBack(str_value(s, a), a);
  d.AddMember("indexes", src, a);
  JsonValue pkgs(rapidjson::kArrayType);
  for (const auto& e : entries) {
    JsonValue o(rapidjson::kObjectType);
    o.AddMember("name", str_value(e.name, a), a);
    o.AddMember("version", str_value(e.version, a), a);
    o.AddMember("requested", e.requested, a);
    pkgs.PushBack(o, a);
  }
  d.AddMember("packages", pkgs, a);
  return d;
}

int run(const Options& o) {
  const std::string arch = o.arch.empty() ? host_arch() : o.arch;
  if (o.indexes.empty()) throw Error(ErrorKind::InvalidArgument, "manifest: --index PATH is required");
  Index index;
  std::vector<std::string> sources;
  for (const auto& path : o.indexes) {
    auto files = find_indexes(path, arch);
    if (files.empty()) throw Error(ErrorKind::InvalidArgument, path + ": no Packages index found");
    for (const auto& f : files) {
      index.add(read_index(f), arch);
      sources.push_back(f.string());
    }
  }
  auto entries = resolve(index, o.names, !o.no_recommends);
  std::string text = to_pretty_json(to_json(entries, arch, sources), false) + "\n";
  if (o.output.empty() || o.output == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    sys::atomic_write(o.output, text);
    std::fprintf(stderr, "manifest: %zu packages (%zu requested) written to %s\n", entries.size(),
                 static_cast<size_t>(std::count_if(entries.begin(), entries.end(),
                                                   [](const Entry& e) { return e.requested; })),
                 o.output.c_str());
  }
  return 0;
}

}  // namespace opdbus::manifest
