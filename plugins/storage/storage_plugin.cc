#include "storage/storage_plugin.h"

#include "error.h"
#include "storage/apply.h"
#include "storage/diff.h"
#include "storage/host.h"
#include "storage/model.h"
#include "storage/query.h"

namespace opdbus {
namespace storage {
namespace {

bool known_device_form(const std::string& spec) {
  if (!spec.empty() && spec[0] == '/') return true;
  for (const char* p : {"LABEL=", "UUID=", "PARTLABEL=", "PARTUUID="}) {
    if (spec.rfind(p, 0) == 0 && spec.size() > std::string(p).size()) return true;
  }
  return false;
}

class StoragePlugin : public Plugin {
 public:
  explicit StoragePlugin(HostFactory factory) : factory_(std::move(factory)) {}

  std::string_view name() const override { return "storage"; }
  std::string_view summary() const override {
    return "partition tables, filesystems, btrfs subvolumes, mounts and fstab";
  }

  Probe probe(Context& ctx) override {
    return probe_with([&] { return factory_(ctx)->describe(); });
  }

  void check(const JsonValue& section, const std::string& file, const std::string& section_pointer,
             Diagnostics& out) const override {
    std::vector<Problem> problems;
    Section s = normalise(section, &problems);
    auto report = [&](const std::vector<std::string>& tokens, const std::string& msg) {
      Diagnostic d;
      d.file = file;
      d.pointer = section_pointer + json_pointer(tokens);
      d.message = msg;
      out.push_back(std::move(d));
    };
    for (const auto& p : problems) report(p.tokens, p.message);
    auto device_form = [&](const std::vector<std::string>& at, const std::string& spec) {
      if (!spec.empty() && !known_device_form(spec)) {
        report(at, "\"" + spec + "\" names no device: use a path, LABEL=, UUID=, PARTLABEL= or PARTUUID=");
      }
    };
    for (const auto& [key, f] : s.filesystems) device_form(f.origin, key);
    for (const auto& [key, list] : s.subvolumes) device_form({"btrfs_subvolumes", key}, key);
    for (const auto& [target, m] : s.mounts) device_form(m.origin, m.device);
  }

  JsonDoc query(Context& ctx, const JsonValue* desired) override {
    auto host = factory_(ctx);
    return query_section(*host, desired);
  }

  std::vector<Action> diff(const JsonValue& desired, const JsonValue& current) const override {
    return diff_section(desired, current);
  }

  void apply(Context& ctx, const Action& action) override {
    auto host = factory_(ctx);
    apply_action(*host, action);
  }

 private:
  HostFactory factory_;
};

}  // namespace

std::unique_ptr<Plugin> make_plugin(HostFactory factory) {
  return std::make_unique<StoragePlugin>(std::move(factory));
}

}  // namespace storage

std::unique_ptr<Plugin> make_storage_plugin() {
  return storage::make_plugin([](Context& ctx) { return storage::make_live_host(ctx); });
}

}  // namespace opdbus
