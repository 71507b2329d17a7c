// The plugin contract. A plugin turns its section of the state document into Actions and carries them out.
//
//   probe()      is the backend here? (said once; an error only if the document asks for it)
//   check()      semantic validation of the section beyond its JSON Schema; pure
//   query()      the live (or --root) system, in the section's own format; desired == nullptr means
//   everything diff()       desired vs current -> Actions; pure, no I/O; equivalent forms compare equal
//   apply()      carry out one Action; idempotent; errors carry the backend's own reason
//   checkpoint() plugins that can lock the operator out (network, firewall) return something that can roll
//   back
//
// Verification is the engine's job: after apply it calls query() and diff() again and expects nothing left.
// "mode": "observe" is also handled by the engine (from the item's pointer); diff() ignores the "mode" key.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "action.h"
#include "context.h"
#include "diagnostic.h"
#include "error.h"
#include "json.h"

namespace opdbus {

struct Probe {
  struct Part {
    std::string name;  // "ovs"
    bool available = true;
    std::string reason;  // "ovsdb-server socket /run/openvswitch/db.sock not found"
  };
  bool available = true;
  std::string detail;  // "systemd 252 on the system bus" or why not
  std::vector<Part> parts;
};

// The usual probe: `describe()` returns a one-line description of the backend, or throws an Error saying why
// it is unavailable.
template <typename Fn>
Probe probe_with(Fn&& describe) {
  Probe p;
  try {
    p.detail = describe();
  } catch (const Error& e) {
    p.available = false;
    p.detail = e.what();
  }
  return p;
}

// Taken before a plugin's actions run; rolled back if apply or verification fails.
class Checkpoint {
 public:
  virtual ~Checkpoint() = default;
  virtual void rollback(Context& ctx) = 0;
  virtual void commit(Context& ctx) { (void)ctx; }
};

class Plugin {
 public:
  virtual ~Plugin() = default;

  virtual std::string_view name() const = 0;
  virtual std::string_view summary() const = 0;
  // Plugins whose actions must run before this one's (if they are in the document).
  virtual std::vector<std::string> after() const { return {}; }
  // False for plugins whose schema exists but whose code does not yet: planning them is an error.
  virtual bool implemented() const { return true; }

  virtual Probe probe(Context& ctx) = 0;
  virtual void check(const JsonValue& section, const std::string& file, const std::string& section_pointer,
                     Diagnostics& out) const {
    (void)section, (void)file, (void)section_pointer, (void)out;
  }
  virtual JsonDoc query(Context& ctx, const JsonValue* desired) = 0;
  virtual std::vector<Action> diff(const JsonValue& desired, const JsonValue& current) const = 0;
  virtual void apply(Context& ctx, const Action& action) = 0;
  virtual std::unique_ptr<Checkpoint> checkpoint(Context& ctx, const std::vector<Action>& actions) {
    (void)ctx, (void)actions;
    return nullptr;
  }
};

}  // namespace opdbus
