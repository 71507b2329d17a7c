#include "users/apply.h"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>

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

// The four files after an operation; only those whose text changed are rewritten, each atomically with its
// mode and owner kept. Group files first and passwd last, so a reader never sees an account whose group or
// shadow entry is missing.
class Edit {
 public:
  explicit Edit(Backend& backend)
      : backend_(backend), lock_(backend.lock()), db_(read_databases(backend.root())) {
    before_ = {db_.group.text(), db_.gshadow.text(), db_.shadow.text(), db_.passwd.text()};
  }
  Databases& db() { return db_; }

  void commit() {
    const sys::RootDir& root = backend_.root();
    if (db_.group.text() != before_[0]) root.replace_file("/etc/group", db_.group.text(), 0644);
    if (db_.has_gshadow && db_.gshadow.text() != before_[1])
      root.replace_file("/etc/gshadow", db_.gshadow.text(), 0640);
    if (db_.shadow.text() != before_[2]) root.replace_file("/etc/shadow", db_.shadow.text(), 0640);
    if (db_.passwd.text() != before_[3]) root.replace_file("/etc/passwd", db_.passwd.text(), 0644);
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
      root.write_file(dst, root.read_file(src).value_or(""), st->mode);
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
                             aging("PASS_WARN_AGE"), "", "", ""});
              db.passwd.put({op.name, "x", std::to_string(op.uid), std::to_string(op.gid), op.comment,
                             op.home, op.shell});
              set_groups(db, op.name, op.groups);
              edit.commit();
            }
          },
          [&](const ModifyAccount& op) {
            Edit edit(backend);
            Databases& db = edit.db();
            DbLine* p = db.passwd.find(op.name);
            if (!p) throw Error(ErrorKind::BackendError, "account " + op.name + " is not in /etc/passwd");
            if (op.gid) p->fields[3] = std::to_string(*op.gid);
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
