#include "journal.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include "temp_dir.h"

#include "error.h"
#include "lock.h"
#include "sys/fs.h"
#include "sys/rootdir.h"

namespace fs = std::filesystem;
using namespace opdbus;

namespace {

Action make_action(const std::string& name, const std::string& summary) {
  Action a;
  a.plugin = "network";
  a.item = {"interfaces", name};
  a.op = Op::Update;
  a.summary = summary;
  a.changes.push_back(Change{"mtu", "1500", "9000", false});
  return a;
}

std::string read_all(const fs::path& p) {
  return sys::read_file(p).value_or("");
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::vector<std::string> lines;
  std::istringstream in(read_all(p));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void write_lines(const fs::path& p, const std::vector<std::string>& lines) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  for (const auto& l : lines) out << l << '\n';
}

void replace_once(std::string& s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  REQUIRE(pos != std::string::npos);
  s.replace(pos, from.size(), to);
}

// A journal with three entries: eth0, eth1, eth2.
struct ThreeEntries {
  TempDir tmp;
  Journal journal{tmp.path};
  std::string run = journal.new_run_id();
  ThreeEntries() {
    journal.record(run, make_action("eth0", "set mtu of eth0"), true);
    journal.record(run, make_action("eth1", "set mtu of eth1"), true);
    journal.record(run, make_action("eth2", "set mtu of eth2"), false, "RTNETLINK answers: Invalid argument");
  }
};

}  // namespace

TEST_CASE("sha256_hex matches the FIPS 180-2 test vectors", "[journal]") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("recorded entries come back in order and chain by hash", "[journal]") {
  ThreeEntries j;
  auto entries = j.journal.entries();
  REQUIRE(entries.size() == 3);
  auto lines = read_lines(j.journal.file());
  REQUIRE(lines.size() == 3);

  for (size_t i = 0; i < 3; ++i) {
    CHECK(entries[i].seq == i + 1);
    CHECK(entries[i].run == j.run);
    CHECK(entries[i].plugin == "network");
    CHECK(entries[i].resource == "network/interfaces/eth" + std::to_string(i));
    CHECK(entries[i].op == "update");
    CHECK(entries[i].summary == "set mtu of eth" + std::to_string(i));
    CHECK(entries[i].changes == R"([{"path":"mtu","before":1500,"after":9000}])");
    CHECK(entries[i].time.size() == 20);
    CHECK(entries[i].time.back() == 'Z');
  }
  CHECK(entries[0].prev == std::string(64, '0'));
  CHECK(entries[1].prev == sha256_hex(lines[0]));
  CHECK(entries[2].prev == sha256_hex(lines[1]));

  CHECK(entries[0].result == "ok");
  CHECK(entries[0].error.empty());
  CHECK(entries[2].result == "failed");
  CHECK(entries[2].error == "RTNETLINK answers: Invalid argument");
  CHECK(lines[0].find("\"error\"") == std::string::npos);

  // Member order is part of the format.
  const std::string& l = lines[2];
  size_t last = 0;
  for (const char* key : {"\"seq\":", "\"time\":", "\"prev\":", "\"run\":", "\"plugin\":", "\"resource\":",
                          "\"op\":", "\"summary\":", "\"result\":", "\"error\":", "\"changes\":"}) {
    size_t pos = l.find(key);
    INFO(key);
    REQUIRE(pos != std::string::npos);
    CHECK(pos >= last);
    last = pos;
  }
  CHECK(l.rfind("{\"seq\":3,", 0) == 0);
}

TEST_CASE("the journal directory and files are private", "[journal]") {
  ThreeEntries j;
  struct stat st {};
  REQUIRE(::stat(j.journal.file().parent_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(::stat(j.journal.file().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  REQUIRE(::stat((j.journal.file().parent_path() / "journal.head").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("an intact journal verifies", "[journal]") {
  ThreeEntries j;
  CHECK_FALSE(j.journal.verify().has_value());

  TempDir empty;
  Journal none(empty.path);
  CHECK_FALSE(none.verify().has_value());
  CHECK(none.entries().empty());
}

TEST_CASE("altering a middle entry is reported as that entry", "[journal]") {
  ThreeEntries j;
  auto lines = read_lines(j.journal.file());
  replace_once(lines[1], "set mtu of eth1", "set mtu of eth9");
  write_lines(j.journal.file(), lines);

  auto problem = j.journal.verify();
  REQUIRE(problem);
  CHECK(problem->seq == 2);
  CHECK(problem->line == 2);
  CHECK_THAT(problem->message, Catch::Contains("entry 2 was altered"));
}

TEST_CASE("an entry that no longer parses is reported", "[journal]") {
  ThreeEntries j;
  auto lines = read_lines(j.journal.file());
  lines[1] = lines[1].substr(0, lines[1].size() / 2);
  write_lines(j.journal.file(), lines);

  auto problem = j.journal.verify();
  REQUIRE(problem);
  CHECK(problem->seq == 2);
  CHECK(problem->line == 2);
  CHECK_THAT(problem->message, Catch::Contains("entry 2 was altered"));
  // `log` still lists everything, the damaged line as such.
  auto entries = j.journal.entries();
  REQUIRE(entries.size() == 3);
  CHECK(entries[1].seq == 0);
  CHECK(entries[1].result == "damaged");
  CHECK_THAT(entries[1].summary, Catch::Contains("line 2 is not a journal entry"));
  CHECK(entries[2].seq == 3);
}

TEST_CASE("deleting a middle entry is reported as removed", "[journal]") {
  ThreeEntries j;
  auto lines = read_lines(j.journal.file());
  lines.erase(lines.begin() + 1);
  write_lines(j.journal.file(), lines);

  auto problem = j.journal.verify();
  REQUIRE(problem);
  CHECK(problem->seq == 2);
  CHECK_THAT(problem->message, Catch::Contains("entry 2 was removed"));
}

TEST_CASE("deleting the first entry is reported as removed", "[journal]") {
  ThreeEntries j;
  auto lines = read_lines(j.journal.file());
  lines.erase(lines.begin());
  write_lines(j.journal.file(), lines);

  auto problem = j.journal.verify();
  REQUIRE(problem);
  CHECK(problem->seq == 1);
  CHECK_THAT(problem->message, Catch::Contains("entry 1 was removed"));
}

TEST_CASE("editing only an entry's seq is reported as altered, not removed", "[journal]") {
  ThreeEntries j;
  auto lines = read_lines(j.journal.file());
  replace_once(lines[1], "{\"seq\":2,", "{\"seq\":7,");
  write_lines(j.journal.file(), lines);

  auto problem = j.journal.verify();
  REQUIRE(problem);
  CHECK(problem->seq == 2);
  CHECK_THAT(problem->message, Catch::Contains("entry 2 was altered"));
}

TEST_CASE("removing or altering the last entry is detected through the head", "[journal]") {
  ThreeEntries j;
  auto lines = read_lines(j.journal.file());

  SECTION("truncated") {
    lines.pop_back();
    write_lines(j.journal.file(), lines);
    auto problem = j.journal.verify();
    REQUIRE(problem);
    CHECK(problem->seq == 3);
    CHECK_THAT(problem->message, Catch::Contains("entry 3 (the last) was altered or removed"));
  }
  SECTION("altered") {
    replace_once(lines[2], "set mtu of eth2", "nothing happened");
    write_lines(j.journal.file(), lines);
    auto problem = j.journal.verify();
    REQUIRE(problem);
    CHECK(problem->seq == 3);
    CHECK(problem->line == 3);
    CHECK_THAT(problem->message, Catch::Contains("entry 3 (the last) was altered or removed"));
  }
  SECTION("whole file removed") {
    fs::remove(j.journal.file());
    auto problem = j.journal.verify();
    REQUIRE(problem);
    CHECK_THAT(problem->message, Catch::Contains("entries 1 to 3 were removed"));
  }
}

TEST_CASE("the first problem in the file is the one reported", "[journal]") {
  ThreeEntries j;
  auto lines = read_lines(j.journal.file());
  replace_once(lines[0], "set mtu of eth0", "tampered");
  lines.pop_back();
  write_lines(j.journal.file(), lines);

  auto problem = j.journal.verify();
  REQUIRE(problem);
  CHECK(problem->seq == 1);
  CHECK_THAT(problem->message, Catch::Contains("entry 1 was altered"));
}

TEST_CASE("secret values never reach the journal", "[journal]") {
  TempDir tmp;
  Journal journal(tmp.path);
  Action a = make_action("wg0", "set the private key of wg0");
  a.changes.push_back(Change{"private_key", R"("old-hunter1")", R"("hunter2")", true});
  a.changes.push_back(Change{"password", std::nullopt, R"({"hash":"hunter3"})", true});
  journal.record(journal.new_run_id(), a, true);

  std::string content = read_all(journal.file());
  CHECK(content.find("hunter") == std::string::npos);
  CHECK(read_all(journal.file().parent_path() / "journal.head").find("hunter") == std::string::npos);
  auto entries = journal.entries();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].changes == R"j([{"path":"mtu","before":1500,"after":9000},)j"
                              R"j({"path":"private_key","before":"(secret)","after":"(secret)"},)j"
                              R"j({"path":"password","after":"(secret)"}])j");
  CHECK_FALSE(journal.verify().has_value());
}

TEST_CASE("an entry appended without its head update is accepted when it chains on", "[journal]") {
  TempDir tmp;
  Journal journal(tmp.path);
  auto head = journal.file().parent_path() / "journal.head";
  journal.record("r", make_action("eth0", "one"), true);
  journal.record("r", make_action("eth1", "two"), true);
  std::string old_head = read_all(head);
  journal.record("r", make_action("eth2", "three"), true);
  // As if op-dbus stopped between appending entry 3 and rewriting the head.
  sys::atomic_write(head, old_head, 0600);
  CHECK(journal.verify_all().empty());
  journal.close();

  Journal next(tmp.path);
  next.record("r2", make_action("eth3", "four"), true);
  auto entries = next.entries();
  REQUIRE(entries.size() == 4);
  CHECK(entries[3].seq == 4);
  CHECK(entries[3].prev == sha256_hex(read_lines(next.file())[2]));
  CHECK(next.verify_all().empty());
}

TEST_CASE("run ids are short and distinct", "[journal]") {
  TempDir tmp;
  Journal journal(tmp.path);
  std::string a = journal.new_run_id();
  std::string b = journal.new_run_id();
  CHECK(a != b);
  CHECK(a.size() <= 32);
  CHECK(a.find_first_of(" /\n") == std::string::npos);
}

// ---- damage is never repaired or hidden: the next run records a break that `log verify` reports for ever

TEST_CASE("a last line cut mid-way: the next run does not glue onto it, and records a break", "[journal]") {
  ThreeEntries j;
  std::string content = read_all(j.journal.file());
  j.journal.close();
  std::string cut = content.substr(0, content.size() - 40);  // entry 3 loses its end and newline
  {
    std::ofstream out(j.journal.file(), std::ios::binary | std::ios::trunc);
    out << cut;
  }
  Journal next(j.tmp.path);
  auto damaged = next.open_for_append("r2");
  REQUIRE(damaged);
  CHECK_THAT(*damaged, Catch::Contains("damaged"));
  CHECK_THAT(*damaged, Catch::Contains("log verify"));
  next.record("r2", make_action("eth3", "set mtu of eth3"), true);

  auto lines = read_lines(next.file());
  REQUIRE(lines.size() == 5);
  CHECK(read_all(next.file()).substr(0, cut.size()) == cut);  // the fragment is kept as it was
  CHECK(lines[2] == cut.substr(cut.rfind('\n') + 1));         // ... on its own line
  auto entries = next.entries();
  CHECK(entries[2].result == "damaged");
  CHECK(entries[3].op == "break");
  CHECK(entries[3].seq == 4);
  CHECK(entries[3].prev == sha256_hex(lines[2]));
  CHECK(entries[4].seq == 5);
  CHECK(entries[4].prev == sha256_hex(lines[3]));

  next.close();
  auto problems = next.verify_all();
  REQUIRE(problems.size() == 2);
  CHECK_THAT(problems[0].message, Catch::Contains("entry 3 was altered: line 3 is not a journal entry"));
  CHECK_THAT(problems[1].message, Catch::Contains("break recorded at entry 4"));
  CHECK_THAT(problems[1].message, Catch::Contains("shorter than journal.head records"));

  // For ever: more intact entries do not make it go away.
  Journal later(j.tmp.path);
  CHECK_FALSE(later.open_for_append("r3"));
  later.record("r3", make_action("eth4", "set mtu of eth4"), true);
  CHECK(later.verify_all().size() == 2);
}

TEST_CASE("the last three entries and the head deleted: the head is not rebuilt as if intact", "[journal]") {
  TempDir tmp;
  Journal journal(tmp.path);
  for (int i = 0; i < 6; ++i) journal.record("r", make_action("eth" + std::to_string(i), "x"), true);
  journal.close();
  auto lines = read_lines(journal.file());
  lines.resize(3);
  write_lines(journal.file(), lines);
  fs::remove(journal.file().parent_path() / "journal.head");
  REQUIRE(journal.verify());

  Journal next(tmp.path);
  next.record("r2", make_action("eth9", "y"), true);
  auto problems = next.verify_all();
  REQUIRE(problems.size() == 1);
  CHECK_THAT(problems[0].message, Catch::Contains("break recorded at entry 4"));
  CHECK_THAT(problems[0].message, Catch::Contains("journal.head is missing"));
  CHECK(next.entries().back().seq == 5);
}

TEST_CASE("editing only the size field of journal.head is detected", "[journal]") {
  ThreeEntries j;
  auto head_path = j.journal.file().parent_path() / "journal.head";
  std::string head = read_all(head_path);
  auto at = head.find("\"size\":");
  REQUIRE(at != std::string::npos);
  std::string size = std::to_string(fs::file_size(j.journal.file()));
  replace_once(head, "\"size\":" + size, "\"size\":" + std::to_string(std::stoull(size) - 10));
  sys::atomic_write(head_path, head, 0600);
  j.journal.close();

  auto problem = j.journal.verify();
  REQUIRE(problem);
  CHECK_THAT(problem->message, Catch::Contains("journal.head was altered"));

  Journal next(j.tmp.path);
  CHECK(next.open_for_append("r2"));
  CHECK(next.entries().back().op == "break");
}

TEST_CASE("values over 64 KiB are journalled as their digest", "[journal]") {
  TempDir tmp;
  Journal journal(tmp.path);
  std::string big(200 * 1024, 'x');
  Action a = make_action("unit", "write a big unit");
  a.changes = {Change{"content", std::nullopt, "\"" + big + "\"", false}};
  journal.record("r", a, true);
  CHECK(fs::file_size(journal.file()) < 4096);
  auto entries = journal.entries();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].changes ==
        R"([{"path":"content","after":{"sha256":")" + sha256_hex(big) + R"(","size":204800}}])");
  CHECK_FALSE(journal.verify());
}

TEST_CASE("a batch is written in order and the head follows at the commit", "[journal]") {
  TempDir tmp;
  Journal journal(tmp.path);
  auto head_path = journal.file().parent_path() / "journal.head";
  journal.record("r", make_action("eth0", "zero"), true);
  std::string head_before = read_all(head_path);
  journal.begin_batch();
  journal.record("r", make_action("eth1", "one"), true);
  journal.record("r", make_action("eth2", "two"), true);
  CHECK(read_lines(journal.file()).size() == 3);
  CHECK(read_all(head_path) == head_before);  // the head lags within a batch ...
  CHECK_FALSE(journal.verify());              // ... and that is accepted
  journal.commit_batch();
  CHECK(read_all(head_path) != head_before);
  CHECK(read_all(head_path).rfind("{\"seq\":3,", 0) == 0);
  CHECK_FALSE(journal.verify());
}

TEST_CASE("temporary files of a killed writer are removed by the next run", "[journal]") {
  ThreeEntries j;
  auto dir = j.journal.file().parent_path();
  j.journal.close();
  // A pid that cannot be running: above the kernel's pid_max.
  std::ofstream(dir / "journal.head.op-dbus-tmp-99999999") << "partial";
  Journal next(j.tmp.path);
  next.record("r2", make_action("eth3", "x"), true);
  CHECK_FALSE(fs::exists(dir / "journal.head.op-dbus-tmp-99999999"));
  REQUIRE(next.removed_temporaries().size() == 1);
  CHECK(next.removed_temporaries()[0] == "/var/lib/op-dbus/journal.head.op-dbus-tmp-99999999");
}

TEST_CASE("a tree whose var/lib/op-dbus points out of it keeps its journal inside it", "[journal]") {
  TempDir tmp;
  fs::path root = tmp.path / "root", outside = tmp.path / "outside";
  fs::create_directories(root / "var/lib");
  fs::create_directories(root / "elsewhere");
  fs::create_directories(outside);
  // Relative with more ".." than there are levels: a chroot stops at its root, so this is DIR/elsewhere.
  fs::create_directory_symlink("../../../../../../../../elsewhere", root / "var/lib/op-dbus");
  fs::create_directory_symlink(outside, root / "elsewhere/abs");
  Journal journal(root);
  journal.record("r", make_action("eth0", "x"), true);
  CHECK(fs::is_empty(outside));
  CHECK(fs::is_regular_file(root / "elsewhere/journal.jsonl"));
  CHECK(fs::is_regular_file(root / "elsewhere/journal.head"));
  CHECK(journal.entries().size() == 1);
  CHECK_FALSE(journal.verify());
}

TEST_CASE("appending takes the tree's apply lock", "[journal]") {
  TempDir tmp;
  sys::RootDir root(tmp.path);
  ApplyLock held(root);
  Journal journal(tmp.path);
  CHECK_THROWS_AS(journal.record("r", make_action("eth0", "x"), true), Error);
  Journal with_lock(tmp.path);
  with_lock.use_lock(held);
  CHECK_NOTHROW(with_lock.record("r", make_action("eth0", "x"), true));
}

// ---- concurrent writers, bounded memory, bounded entries

TEST_CASE("writers holding different apply locks make one chain with every entry", "[journal]") {
  TempDir tmp;
  constexpr int kWriters = 3, kEach = 60;
  std::vector<pid_t> pids;
  for (int w = 0; w < kWriters; ++w) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int rc = 0;
      try {
        ApplyLock lock{tmp.path / ("lock" + std::to_string(w)) / "apply.lock"};
        Journal journal(tmp.path);
        journal.use_lock(lock);
        for (int i = 0; i < kEach; ++i) {
          if (w == 1 && i % 4 == 0) journal.begin_batch();
          journal.record("w" + std::to_string(w),
                         make_action("w" + std::to_string(w) + "-" + std::to_string(i), "x"), true);
          if (w == 1 && i % 4 == 3) journal.commit_batch();
        }
        journal.close();
      } catch (...) {
        rc = 1;
      }
      ::_exit(rc);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  Journal journal(tmp.path);
  CHECK(journal.verify_all().empty());
  auto entries = journal.entries();
  REQUIRE(entries.size() == kWriters * kEach);
  std::set<std::string> seen;
  for (size_t i = 0; i < entries.size(); ++i) {
    CHECK(entries[i].seq == i + 1);
    seen.insert(entries[i].resource);
  }
  CHECK(seen.size() == kWriters * kEach);
  CHECK(fs::is_regular_file(journal.file().parent_path() / "journal.lock"));
}

TEST_CASE("a writer chains on from entries another process appended since its last write", "[journal]") {
  TempDir tmp;
  sys::RootDir root(tmp.path);
  ApplyLock a_lock{tmp.path / "a" / "apply.lock"}, b_lock{tmp.path / "b" / "apply.lock"};
  Journal a(tmp.path), b(tmp.path);
  a.use_lock(a_lock);
  b.use_lock(b_lock);
  a.begin_batch();
  a.record("ra", make_action("eth0", "a1"), true);
  b.record("rb", make_action("eth1", "b1"), true);  // after a's uncommitted entry
  a.record("ra", make_action("eth2", "a2"), true);
  a.commit_batch();
  b.record("rb", make_action("eth3", "b2"), true);
  a.close();
  b.close();
  auto entries = a.entries();
  REQUIRE(entries.size() == 4);
  CHECK(entries[0].summary == "a1");
  CHECK(entries[1].summary == "b1");
  CHECK(entries[2].summary == "a2");
  CHECK(entries[3].summary == "b2");
  CHECK(a.verify_all().empty());
  CHECK(read_all(a.file().parent_path() / "journal.head").rfind("{\"seq\":4,", 0) == 0);
}

TEST_CASE("a symlink at journal.lock is not followed out of the tree", "[journal]") {
  TempDir tmp;
  fs::path root = tmp.path / "root", outside = tmp.path / "outside";
  fs::create_directories(root / "var/lib/op-dbus");
  fs::create_directories(outside);
  fs::create_symlink(outside / "planted", root / "var/lib/op-dbus/journal.lock");
  Journal journal(root);
  CHECK_THROWS_AS(journal.record("r", make_action("eth0", "x"), true), Error);
  CHECK(fs::is_empty(outside));
}

TEST_CASE("a line over kMaxJournalLine is reported as damaged, not read", "[journal]") {
  ThreeEntries j;
  j.journal.close();
  {
    std::ofstream out(j.journal.file(), std::ios::binary | std::ios::app);
    std::string chunk(1 << 20, 'z');
    for (size_t i = 0; i <= kMaxJournalLine / chunk.size(); ++i) out << chunk;
    out << '\n';
  }
  auto problems = j.journal.verify_all();
  REQUIRE_FALSE(problems.empty());
  CHECK(problems[0].line == 4);
  CHECK_THAT(problems[0].message, Catch::Contains("MiB an entry may take; not read"));
  auto entries = j.journal.entries();
  REQUIRE(entries.size() == 4);
  CHECK(entries[3].result == "damaged");
  // The next run records a break chained onto the long line's hash, computed without keeping it.
  Journal next(j.tmp.path);
  CHECK(next.open_for_append("r2"));
  CHECK(next.entries().back().op == "break");
  CHECK(next.entries().back().seq == 4);
}

TEST_CASE("changes over 1 MiB are journalled as their digest, size and count", "[journal]") {
  TempDir tmp;
  Journal journal(tmp.path);
  Action a = make_action("fw", "replace 20000 rules");
  a.changes.clear();
  for (int i = 0; i < 20000; ++i) {
    a.changes.push_back(Change{
        "rules/" + std::to_string(i), std::nullopt,
        "\"tcp dport " + std::to_string(i) + " accept comment 'rule number " + std::to_string(i) + "'\"",
        false});
  }
  // The array as it would have been written.
  std::string text = "[";
  for (size_t i = 0; i < a.changes.size(); ++i) {
    text += (i ? "," : "") + std::string("{\"path\":\"") + a.changes[i].path +
            "\",\"after\":" + *a.changes[i].after + "}";
  }
  text += "]";
  REQUIRE(text.size() > kMaxJournalChanges);
  journal.record("r", a, true);
  journal.record("r", make_action("eth0", "small"), true);
  CHECK(fs::file_size(journal.file()) < 4096);
  auto entries = journal.entries();
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].changes == R"({"sha256":")" + sha256_hex(text) + R"(","size":)" +
                                  std::to_string(text.size()) + R"(,"count":20000})");
  CHECK(entries[1].changes == R"([{"path":"mtu","before":1500,"after":9000}])");
  CHECK(journal.verify_all().empty());
}

TEST_CASE("repeated damage: each break stays short instead of quoting every earlier one", "[journal]") {
  TempDir tmp;
  size_t longest = 0;
  for (int round = 0; round < 12; ++round) {
    {
      Journal journal(tmp.path);
      journal.record("r", make_action("eth" + std::to_string(round), "x"), true);
    }
    // Damage: journal.head removed.
    fs::remove(tmp.path / "var/lib/op-dbus/journal.head");
    Journal next(tmp.path);
    REQUIRE(next.open_for_append("r2"));
    longest = std::max(longest, read_lines(next.file()).back().size());
  }
  Journal journal(tmp.path);
  CHECK(journal.verify_all().size() == 12);
  CHECK(longest < 4096);
  CHECK_THAT(read_lines(journal.file()).back(), Catch::Contains("more ..."));
}
