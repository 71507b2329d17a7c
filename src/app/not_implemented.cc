#include "error.h"
#include "registry.h"

namespace opdbus {
namespace {

class NotImplementedPlugin : public Plugin {
 public:
  NotImplementedPlugin(std::string name, std::string summary, std::vector<std::string> after)
      : name_(std::move(name)), summary_(std::move(summary)), after_(std::move(after)) {}

  std::string_view name() const override { return name_; }
  std::string_view summary() const override { return summary_; }
  std::vector<std::string> after() const override { return after_; }
  bool implemented() const override { return false; }

  Probe probe(Context&) override { return Probe{false, "not implemented yet", {}}; }
  JsonDoc query(Context&, const JsonValue*) override { throw unsupported(); }
  std::vector<Action> diff(const JsonValue&, const JsonValue&) const override { throw unsupported(); }
  void apply(Context&, const Action&) override { throw unsupported(); }

 private:
  Error unsupported() const {
    return Error(ErrorKind::NotSupported, "plugin " + name_ + " is not implemented yet");
  }

  std::string name_, summary_;
  std::vector<std::string> after_;
};

}  // namespace

std::unique_ptr<Plugin> make_not_implemented_plugin(std::string name, std::string summary,
                                                    std::vector<std::string> after) {
  return std::make_unique<NotImplementedPlugin>(std::move(name), std::move(summary), std::move(after));
}

}  // namespace opdbus
