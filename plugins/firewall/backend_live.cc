// The live firewall backend: libnftables through src/sys/nftables.h.
//
// Listing a large table through libnftables is the slowest way to read it (10,000 rules: 1.5 billion
// instructions, mostly building, printing and freeing its JSON). So plans and apply's verification first
// decode the kernel's nf_tables dump into the section (decode_table; decode.cc), and list the table only when
// the decoder declines (a shape it does not read). Then a listing is kept in the runtime directory (kListingCache) under a digest of the table as the kernel holds it *now*,
// read straight from nf_tables netlink dumps (sys::nft_table_state: every table, chain, set, element, rule,
// object and flowtable attribute, with the namespace and the handles), and reused only while that digest is
// unchanged: a rule deleted, added or changed behind op-dbus's back (by anyone, with any tool) changes the
// digest and the table is listed again. The digest is taken (between two reads of the ruleset's generation
// id, which moves with every committed transaction) before the listing, and the listing is filed under it
// only when the generation id has still not moved after it: a listing is never filed under a state it was
// not read from.
#include <filesystem>

#include "error.h"
#include "firewall/backend.h"
#include "firewall/model.h"
#include "journal.h"
#include "run_dir.h"
#include "sys/nftables.h"
#include "sys/rootdir.h"
#include "text.h"

namespace opdbus::firewall {
namespace {

constexpr const char* kListingCache = "firewall-listing.json";
constexpr const char* kCacheFormat = "op-dbus firewall listing cache 1";

// What a cached listing is filed under: the digest of the kernel state and the libnftables that listed it.
std::string cache_key(const sys::NftTableState& state) {
  return std::string(kCacheFormat) + " " + std::string(kFamily) + " " + kTable + " " +
         sha256_hex(state.canonical) + " " + sys::nft_library_identity();
}

// The listing cached under `key`, if any (a cache: an unreadable or foreign file is a miss).
std::optional<std::string> cached_listing(const std::string& key) {
  try {
    sys::RootDir dir(std::filesystem::absolute(runtime_dir()));
    auto text = dir.read_file(kListingCache);
    if (!text) return std::nullopt;
    size_t eol = text->find('\n');
    if (eol == std::string::npos || std::string_view(*text).substr(0, eol) != key) return std::nullopt;
    return text->substr(eol + 1);
  } catch (const Error&) {
    return std::nullopt;
  }
}

void store_listing(const std::string& key, const std::string& listing) {
  try {
    auto dir = std::filesystem::absolute(runtime_dir());
    sys::RootDir("/").make_dirs(dir.string(), 0700);
    sys::RootDir(dir).write_file(kListingCache, key + "\n" + listing, 0600);
  } catch (const Error&) {
    // Only a cache: the next plan lists the table again.
  }
}

class LiveBackend : public Backend {
 public:
  // A table that is never there: nft asks the kernel for it alone ("list tables" would fetch every rule and
  // set element of every table first), so the answer says whether nftables works here, cheaply.
  std::string describe() override {
    auto r = sys::nft_run(
        "{\"nftables\":[{\"list\":{\"table\":{\"family\":\"inet\",\"name\":\"op_dbus_probe\"}}}]}");
    if (r.rc != 0 && r.error.find("No such file or directory") == std::string::npos) {
      throw Error(ErrorKind::Unavailable, "nftables: " + trim(r.error));
    }
    return "nftables (libnftables), table inet op_dbus";
  }

  std::optional<CurrentTable> decode_table() override {
    sys::NftTableContents contents;
    sys::NftTableState state;
    try {
      state = sys::nft_table_state(kFamily, kTable, &contents);
    } catch (const Error&) {
      return std::nullopt;  // the dumps were refused: libnftables says why, or lists the table
    }
    if (!state.consistent) return std::nullopt;  // changing as we look: no shortcut
    if (!state.present) return CurrentTable{};
    auto table = firewall::decode_table(contents);
    if (!table) dumped_ = std::move(state);  // list_table() need not dump it again
    return table;
  }

  std::optional<std::string> list_table() override {
    sys::NftTableState before;
    try {
      // The dump decode_table() just read stands while nothing was committed since.
      if (dumped_ && sys::nft_generation() == dumped_->generation) {
        before = std::move(*dumped_);
      } else {
        before = sys::nft_table_state(kFamily, kTable);
      }
    } catch (const Error&) {
      dumped_.reset();
      return list_with_nft();  // the dumps were refused: libnftables says why, or lists the table
    }
    dumped_.reset();
    if (!before.consistent) return list_with_nft();  // changing as we look: no shortcut
    if (!before.present) return std::nullopt;
    std::string key = cache_key(before);
    if (auto hit = cached_listing(key)) return hit;
    auto listing = list_with_nft();
    // Filed under that digest only if no transaction was committed since it was read.
    try {
      if (listing && sys::nft_generation() == before.generation) store_listing(key, *listing);
    } catch (const Error&) {
      // Not filed: the next plan lists the table again.
    }
    return listing;
  }

  void run_batch(const std::string& batch) override {
    sys::nft_run_checked(batch, "nft: replacing table inet op_dbus");
  }

  BootFiles read_boot() override { return firewall::read_boot(root()); }
  void write_boot(const std::string& batch) override { firewall::write_boot(root(), batch); }
  void remove_boot() override { firewall::remove_boot(root()); }

 private:
  // `list table inet op_dbus` through libnftables.
  static std::optional<std::string> list_with_nft() {
    std::string cmd = std::string("{\"nftables\":[{\"list\":{\"table\":{\"family\":\"") + kFamily +
                      "\",\"name\":\"" + kTable + "\"}}}]}";
    auto r = sys::nft_run(cmd);
    if (r.rc == 0) return r.output;
    if (r.error.find("No such file or directory") != std::string::npos) return std::nullopt;
    throw Error(ErrorKind::BackendError, "nft list table inet op_dbus: " + trim(r.error));
  }

  const sys::RootDir& root() {
    if (!root_) root_ = std::make_unique<sys::RootDir>("/");
    return *root_;
  }
  std::unique_ptr<sys::RootDir> root_;
  // The dump decode_table() read and could not decode, for the list_table() that follows it.
  std::optional<sys::NftTableState> dumped_;
};

}  // namespace

std::unique_ptr<Backend> make_live_backend(Context& ctx) {
  (void)ctx;
  return std::make_unique<LiveBackend>();
}

}  // namespace opdbus::firewall
