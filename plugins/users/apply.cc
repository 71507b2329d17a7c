#include "users/apply.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <ctime>
#include <optional>
#include <string_view>
#include <utility>

#include "error.h"
#include "text.h"
#include "users/ops.h"
#include "users/query.h"

namespace opdbus::users {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// A login.defs value ("PASS_MAX_DAYS 99999"), or `fallback`.
std::string login_def(const std::string& text, const std::string& key, const std::string& fallback) {
  for (auto& raw : split(text, '\n')) {
    std::string line = trim(raw);
    if (!starts_with(line, key) || line.size() == key.size() ||
        (line[key.size()] != ' ' && line[key.size()] != '\t'))
      continue;
    std::string v = trim(line.substr(key.size()));
    if (!v.empty() && field_problem(v).empty()) return v;
  }
  return fallback;
}

const char* const kFiles[] = {"/etc/group", "/etc/gshadow", "/etc/shadow", "/etc/passwd"};

// Creates (or truncates) `path` inside the root without following a symlink there, writes `content`, gives
// it `mode` exactly (and `owner` when set), and fsyncs it when `durable`. No rename and no directory fsync:
// the callers rename (and fsync the directory) themselves, or write into a directory they just made.
void write_new(const sys::RootDir& root, const std::string& path, std::string_view content, mode_t mode,
               std::optional<std::pair<uid_t, gid_t>> owner, bool durable) {
  sys::Fd fd = root.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  auto fail = [&](const char* what) {
    throw Error(ErrorKind::BackendError, std::string(what) + " " + path + ": " + std::strerror(errno));
  };
  for (size_t done = 0; done < content.size();) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write");
    done += static_cast<size_t>(n);
  }
  if (owner && ::fchown(fd.get(), owner->first, owner->second) != 0) fail("cannot change the owner of");
  if (::fchmod(fd.get(), mode) != 0)
    fail("cannot change the mode of");  // after chown, which clears set-id bits
  if (durable && ::fsync(fd.get()) != 0) fail("cannot fsync");
}

// Renames from[i] to to[i] inside the directory `dir`, in order, from a child process in a session of its
// own, and fsyncs the directory. The renames take microseconds, but a SIGKILL of op-dbus (or of its process
// group) could still land between two of them and leave, say, an account in /etc/shadow and not yet in
// /etc/passwd; the child is not killed with op-dbus, so once it has started, all of them happen. It keeps
// the database lock until it is done: the lock is an open file description lock on a descriptor it inherits.
// Only async-signal-safe calls run in the child.
void rename_together(int dir, const std::vector<std::pair<std::string, std::string>>& renames) {
  std::vector<const char*> from, to;
  for (const auto& [f, t] : renames) from.push_back(f.c_str()), to.push_back(t.c_str());
  pid_t pid = ::fork();
  if (pid < 0) throw Error(ErrorKind::BackendError, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::setsid();
    for (size_t i = 0; i < from.size(); ++i)
      if (::renameat(dir, from[i], dir, to[i]) != 0) ::_exit(errno > 0 && errno < 256 ? errno : EIO);
    ::fsync(dir);
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error(ErrorKind::BackendError, std::string("waitpid: ") + std::strerror(errno));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    int err = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
    throw Error(ErrorKind::BackendError,
                std::string("cannot rename the new account databases into place: ") + std::strerror(err));
  }
}

// The four files after an operation; only those whose text changed are rewritten. No system call replaces
// four files at once, so: every new file is first written in full next to the old one ("/etc/passwd+", as
// the shadow tools name it: fsynced, with the old file's mode and owner), and only then are they renamed
// over the old ones, one right after the other, by rename_together() (a kill of op-dbus cannot stop it
// halfway). Group files first and passwd last, so a reader never sees an account whose group or shadow
// entry is missing. A crash before the renames leaves the old databases (the "+" files are removed by the
// next edit); re-applying converges in every case.
class Edit {
 public:
  explicit Edit(Backend& backend)
      : backend_(backend), lock_(backend.lock()), db_(read_databases(backend.root())) {
    const sys::RootDir& root = backend_.root();
    for (const char* f : kFiles) root.remove(std::string(f) + "+");  // left by a crash; we hold the lock
    root.clean_stale_temporaries("/etc");
    before_ = {db_.group.text(), db_.gshadow.text(), db_.shadow.text(), db_.passwd.text()};
  }
  Databases& db() { return db_; }

  void commit() {
    const sys::RootDir& root = backend_.root();
    const std::string after[] = {db_.group.text(), db_.gshadow.text(), db_.shadow.text(), db_.passwd.text()};
    const mode_t mode_if_new[] = {0644, 0640, 0640, 0644};
    std::vector<int> changed;
    for (int i = 0; i < 4; ++i) {
      if (i == 1 && !db_.has_gshadow) continue;
      if (after[i] != before_[i]) changed.push_back(i);
    }
    if (changed.empty()) return;
    for (int i : changed) {
      auto old = root.lstat(kFiles[i]);
      bool keep = old && old->kind == sys::FileKind::File;
      std::optional<std::pair<uid_t, gid_t>> owner;
      if (keep) owner = std::make_pair(old->uid, old->gid);
      write_new(root, std::string(kFiles[i]) + "+", after[i], keep ? old->mode : mode_if_new[i], owner, true);
    }
    std::vector<std::pair<std::string, std::string>> renames;
    for (int i : changed) {
      std::string name = std::string(kFiles[i]).substr(5);  // "/etc/passwd" -> "passwd"
      renames.emplace_back(name + "+", name);
    }
    auto dir = root.open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (!dir) throw Error(ErrorKind::BackendError, "no /etc under " + root.path().string());
    rename_together(dir.get(), renames);
    bool users = false, groups = false;
    for (int i : changed) (i < 2 ? groups : users) = true;
    backend_.databases_changed(users, groups);
  }

 private:
  Backend& backend_;
  std::unique_ptr<DbLock> lock_;
  Databases db_;
  std::vector<std::string> before_;
};

void set_member(DbLine& line, const std::string& user, bool member) {
  auto members = split_members(line.fields[3]);
  auto it = std::find(members.begin(), members.end(), user);
  if (member && it == members.end()) members.push_back(user);
  if (!member && it != members.end()) members.erase(it);
  line.fields[3] = join(members, ",");
}

// The account is a member of exactly `groups` (in /etc/group and /etc/gshadow).
void set_groups(Databases& db, const std::string& user, const std::vector<std::string>& groups) {
  for (Db* file : {&db.group, &db.gshadow}) {
    for (auto& line : file->lines()) {
      if (line.fields.empty()) continue;
      bool want = std::find(groups.begin(), groups.end(), line.name()) != groups.end();
      set_member(line, user, want);
    }
  }
}

void add_group(Databases& db, const std::string& name, uint32_t gid) {
  if (const DbLine* g = db.group.find(name)) {
    if (g->fields[2] != std::to_string(gid)) {
      throw Error(ErrorKind::Conflict, "group " + name + " exists with gid " + g->fields[2]);
    }
  } else {
    db.group.put({name, "x", std::to_string(gid), ""});
  }
  if (db.has_gshadow && !db.gshadow.find(name)) db.gshadow.put({name, "!", "", ""});
}

void copy_tree(const sys::RootDir& root, const std::string& from, const std::string& to, uint32_t uid,
               uint32_t gid) {
  for (const auto& e : root.list_dir(from)) {
    std::string src = from + "/" + e.name, dst = to + "/" + e.name;
    auto st = root.lstat(src);
    if (!st) continue;
    if (st->kind == sys::FileKind::File) {
      // Into a directory made just now; not fsynced, as useradd does not either.
      write_new(root, dst, root.read_file(src).value_or(""), st->mode, std::nullopt, false);
    } else if (st->kind == sys::FileKind::Directory) {
      root.make_dirs(dst, 0700);
      root.chmod(dst, st->mode);
      copy_tree(root, src, dst, uid, gid);
    } else if (st->kind == sys::FileKind::Symlink) {
      root.symlink(root.read_link(src).value_or(""), dst);
    } else {
      continue;
    }
    root.chown(dst, uid, gid);
  }
}

void create_home(const sys::RootDir& root, const std::string& home, uint32_t uid, uint32_t gid, bool skel) {
  if (root.lstat(home)) return;  // an existing home is left as it is (useradd does the same)
  std::string defs = root.read_file("/etc/login.defs").value_or("");
  mode_t umask_bits = std::stoul(login_def(defs, "UMASK", "022"), nullptr, 8) & 0777;
  mode_t mode = std::stoul(login_def(defs, "HOME_MODE", "0"), nullptr, 8) & 07777;
  if (mode == 0) mode = 0777 & ~umask_bits;
  auto slash = home.rfind('/');
  if (slash > 0) root.make_dirs(home.substr(0, slash), 0755);
  root.make_dirs(home, 0700);
  root.chmod(home, mode);
  if (skel) copy_tree(root, "/etc/skel", home, uid, gid);
  root.chown(home, uid, gid);
}

void write_keys(const sys::RootDir& root, const WriteKeys& op) {
  create_home(root, op.home, op.uid, op.gid, false);
  auto home_st = root.lstat(op.home);
  std::string ssh = op.home + "/.ssh";
  auto st = root.lstat(ssh);
  if (!home_st || home_st->kind != sys::FileKind::Directory || (st && st->kind != sys::FileKind::Directory)) {
    throw Error(ErrorKind::Conflict,
                op.home + " or " + ssh + " is not a directory (a symlink?); refusing to follow it");
  }
  if (!st) root.make_dirs(ssh, 0700);
  root.chmod(ssh, 0700);
  root.chown(ssh, op.uid, op.gid);
  std::string content;
  for (const auto& k : op.keys) content += k + "\n";
  std::string file = ssh + "/authorized_keys";
  root.write_file(file, content, 0600);  // a symlink there is replaced, never followed
  root.chown(file, op.uid, op.gid);
}

// Re-owns `path` and, for a directory, everything under it: an entry owned by the old uid (gid) gets the
// new one. lstat/chown never follow a symlink (a link is re-owned itself, not what it points to), and the
// walk never descends into a symlink; every path is resolved inside the root.
void reown_tree(const sys::RootDir& root, const std::string& path, const Reown& r, int depth = 0) {
  auto st = root.lstat(path);
  if (!st || depth > 4096) return;
  uid_t uid = st->uid;
  gid_t gid = st->gid;
  if (r.from_uid && r.to_uid && uid == *r.from_uid) uid = *r.to_uid;
  if (r.from_gid && r.to_gid && gid == *r.from_gid) gid = *r.to_gid;
  if (uid != st->uid || gid != st->gid) {
    root.chown(path, uid, gid);
    // chown clears the set-id bits of files; put them back as usermod does.
    if (st->kind != sys::FileKind::Symlink && (st->mode & 06000)) root.chmod(path, st->mode);
  }
  if (st->kind != sys::FileKind::Directory) return;
  for (const auto& e : root.list_dir(path)) reown_tree(root, path + "/" + e.name, r, depth + 1);
}

void reown(const sys::RootDir& root, const Reown& r) {
  if (r.home.empty() || r.home == "/") return;
  reown_tree(root, r.home, r);
}

// A home removed with its account (userdel -r): only a directory the account owns; a symlink or someone
// else's directory is refused (never followed).
void remove_home(const sys::RootDir& root, const RemoveAccount& op) {
  auto st = root.lstat(op.home);
  if (!st) return;
  if (st->kind != sys::FileKind::Directory || st->uid != op.uid) {
    throw Error(ErrorKind::Conflict, "the home " + op.home + " of " + op.name +
                                         " is not a directory it owns (a symlink?); refusing to remove it");
  }
  root.remove_all(op.home);
}

std::string days_since_epoch() {
  return std::to_string(std::time(nullptr) / 86400);
}

}  // namespace

void apply_action(Backend& backend, const Action& action) {
  const sys::RootDir& root = backend.root();
  std::visit(
      Overloaded{
          [&](const CreateGroup& op) {
            Edit edit(backend);
            add_group(edit.db(), op.name, op.gid);
            edit.commit();
          },
          [&](const ChangeGroupId& op) {
            // The files first: a crash before the lines change leaves the old gid, and the next apply
            // re-owns what is left.
            for (const auto& r : op.reown) reown(root, r);
            Edit edit(backend);
            Databases& db = edit.db();
            DbLine* g = db.group.find(op.name);
            if (!g) throw Error(ErrorKind::BackendError, "group " + op.name + " is not in /etc/group");
            std::string from = std::to_string(op.from_gid), to = std::to_string(op.gid);
            if (g->fields[2] != from && g->fields[2] != to) {
              throw Error(ErrorKind::Conflict,
                          "group " + op.name + " has gid " + g->fields[2] + ", not " + from);
            }
            for (const auto& l : db.group.lines()) {
              if (!l.fields.empty() && l.name() != op.name && l.fields[2] == to)
                throw Error(ErrorKind::Conflict, "gid " + to + " is taken by group " + l.name());
            }
            g->fields[2] = to;
            for (auto& l : db.passwd.lines())  // as groupmod -g: its accounts keep it as their primary group
              if (!l.fields.empty() && l.fields[3] == from) l.fields[3] = to;
            edit.commit();
          },
          [&](const SetMembers& op) {
            Edit edit(backend);
            Databases& db = edit.db();
            for (Db* file : {&db.group, &db.gshadow}) {
              if (DbLine* g = file->find(op.name)) g->fields[3] = join(op.members, ",");
            }
            if (!db.group.find(op.name))
              throw Error(ErrorKind::BackendError, "group " + op.name + " is not in /etc/group");
            edit.commit();
          },
          [&](const RemoveGroup& op) {
            Edit edit(backend);
            edit.db().group.erase(op.name);
            edit.db().gshadow.erase(op.name);
            edit.commit();
          },
          [&](const CreateAccount& op) {
            // The home first: if it cannot be made, the account is not written either, and a new apply tries
            // again (an account whose home failed would never get one).
            if (op.create_home) create_home(root, op.home, op.uid, op.gid, true);
            {
              Edit edit(backend);
              Databases& db = edit.db();
              if (const DbLine* p = db.passwd.find(op.name); p && p->fields[2] != std::to_string(op.uid)) {
                throw Error(ErrorKind::Conflict, "account " + op.name + " exists with uid " + p->fields[2]);
              }
              if (op.own_group) add_group(db, op.name, op.gid);
              std::string defs = root.read_file("/etc/login.defs").value_or("");
              std::string pw = op.password_hash ? (op.locked ? "!" : "") + *op.password_hash : "!";
              auto aging = [&](const char* key) {
                return op.system ? std::string() : login_def(defs, key, "");
              };
              db.shadow.put({op.name, pw, days_since_epoch(), aging("PASS_MIN_DAYS"), aging("PASS_MAX_DAYS"),
                             aging("PASS_WARN_AGE"), "", op.expires, ""});
              db.passwd.put({op.name, "x", std::to_string(op.uid), std::to_string(op.gid), op.comment,
                             op.home, op.shell});
              set_groups(db, op.name, op.groups);
              edit.commit();
            }
          },
          [&](const ModifyAccount& op) {
            // A new uid or gid: the home's files first (see ModifyAccount).
            if (op.reown) reown(root, *op.reown);
            Edit edit(backend);
            Databases& db = edit.db();
            DbLine* p = db.passwd.find(op.name);
            if (!p) throw Error(ErrorKind::BackendError, "account " + op.name + " is not in /etc/passwd");
            if (op.uid) {
              std::string to = std::to_string(*op.uid);
              for (const auto& l : db.passwd.lines()) {
                if (!l.fields.empty() && l.name() != op.name && l.fields[2] == to)
                  throw Error(ErrorKind::Conflict, "uid " + to + " is taken by account " + l.name());
              }
              p->fields[2] = to;
            }
            if (op.gid) p->fields[3] = std::to_string(*op.gid);
            if (op.expires) {
              DbLine* s = db.shadow.find(op.name);
              if (!s) throw Error(ErrorKind::BackendError, "account " + op.name + " is not in /etc/shadow");
              s->fields[7] = *op.expires;
            }
            if (op.comment) p->fields[4] = *op.comment;
            if (op.home) p->fields[5] = *op.home;
            if (op.shell) p->fields[6] = *op.shell;
            if (op.password_hash || op.locked) {
              DbLine* s = db.shadow.find(op.name);
              if (!s) throw Error(ErrorKind::BackendError, "account " + op.name + " is not in /etc/shadow");
              std::string& pw = s->fields[1];
              bool locked = op.locked.value_or(starts_with(pw, "!"));
              std::string hash =
                  op.password_hash ? *op.password_hash : (starts_with(pw, "!") ? pw.substr(1) : pw);
              if (!locked && hash.empty()) {
                throw Error(ErrorKind::InvalidArgument,
                            "account " + op.name + " has no password hash to unlock");
              }
              pw = (locked ? "!" : "") + hash;
              if (op.password_hash) s->fields[2] = days_since_epoch();
            }
            if (op.groups) set_groups(db, op.name, *op.groups);
            edit.commit();
          },
          [&](const RemoveAccount& op) {
            // The home first: should the lines stay (a crash, a failure), the next apply removes both.
            if (op.remove_home) remove_home(root, op);
            Edit edit(backend);
            Databases& db = edit.db();
            std::string gid;
            if (const DbLine* p = db.passwd.find(op.name)) gid = p->fields[3];
            db.passwd.erase(op.name);
            db.shadow.erase(op.name);
            set_groups(db, op.name, {});
            const DbLine* g = db.group.find(op.name);
            bool primary_of_other = false;
            for (const auto& l : db.passwd.lines())
              primary_of_other |= !l.fields.empty() && l.fields[3] == gid;
            if (op.own_group && g && g->fields[2] == gid && g->fields[3].empty() && !primary_of_other) {
              db.group.erase(op.name);
              db.gshadow.erase(op.name);
            }
            edit.commit();
          },
          [&](const WriteKeys& op) { write_keys(root, op); },
      },
      operation_of<Ops>(action.operation, action.resource()));
}

}  // namespace opdbus::users
