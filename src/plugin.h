// The plugin contract. A plugin turns its section of the state document into Actions and carries them out.
// Every plugin has the same skeleton (docs/design.md, "Writing a plugin"); this is what each method promises.
//
//   probe()       Is the backend here? Said once; an error only if the document asks for it. Use probe_with().
//   check()       Semantic validation of the section beyond its JSON Schema (names that become paths, file
//                 lines, netlink attributes or argv elements; references; contradictions). Pure. Reports
//                 Diagnostics (file, JSON pointer, expected, found); never throws for a bad document.
//   query()       The live (or --root) system in the section's own format: one backend query per plan.
//                 `desired` narrows what to read; nullptr means everything (`op-dbus show`).
//   diff()        desired x current -> Actions. Pure: no I/O, same input gives the same actions.
//                 Equivalent forms compare equal. Each Action carries the plugin's typed operation in
//                 Action::operation (src/operation.h: make_operation<Ops>(SomeOp{...})).
//                 diff() never throws for what check() can find, and never emits an action that can only
//                 fail at apply. A desired state that can never be reached and is visible only against the
//                 current state (a partition that no longer fits, a kind change the kernel refuses) makes
//                 diff() throw Error(ErrorKind::InvalidArgument) naming the item; the engine reports it as
//                 a plan error ("storage: ...") and nothing is applied.
//   apply()       Carries out one Action: std::visit over operation_of<Ops>(action.operation, ...) calling the
//                 backend. Idempotent; a failure carries the backend's own reason.
//   checkpoint()  Plugins that can lock the operator out (network, firewall) return something that can roll
//                 back; nullptr otherwise.
//   begin_apply() Told the actions about to run, in order, before the first; end_apply() after the last (also
//                 after a failure). A plugin may batch backend calls across them (one EnableUnitFiles for
//                 many units, one daemon-reload per apply), but each apply() still reports its own action's
//                 outcome. A batch must never reach past the action under way where the journal could tell
//                 (offline trees apply one action at a time).
//
// The engine, not the plugin, handles: ordering by `after`, verification (query() + diff() again after
// apply; anything left is a failure), "mode": "observe" (an action is observe-only when "mode": "observe"
// sits on the section or on any object along the item's pointer; diff() may also set Action::observe itself
// where the pointer does not lead there, as storage does for what an observed partition holds), redaction of
// schema-marked secrets, refusal of destructive actions without --allow-destructive, and the journal.
//
// Files under --root are reached only through sys::RootDir (src/sys/rootdir.h); native libraries only
// through the wrappers in src/sys/ (the build gives plugins no other way).
#pragma once

#include <functional>
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

// How a plugin gets its system-access object: the live or --root implementation in production, a fake that
// records what it was asked in tests. Each plugin declares
//   using BackendFactory = BackendFactoryOf<Backend>;   (plugins/NAME/backend.h)
template <class B>
using BackendFactoryOf = std::function<std::unique_ptr<B>(Context&)>;

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
  virtual void begin_apply(Context& ctx, const std::vector<Action>& actions) { (void)ctx, (void)actions; }
  virtual void end_apply(Context& ctx) { (void)ctx; }
};

}  // namespace opdbus
