#include "lxc/diff.h"

#include <map>

#include "error.h"
#include "lxc/model.h"
#include "lxc/ops.h"
#include "text.h"

namespace opdbus::lxc {
namespace {

[[noreturn]] void refuse(const std::string& name, const std::string& what) {
  throw Error(ErrorKind::InvalidArgument, "lxc/containers/" + name + ": " + what);
}

std::string network_text(const std::optional<Network>& n) {
  if (!n) return "none";
  std::string s = "bridge " + (n->bridge.empty() ? std::string("(none)") : n->bridge);
  s += ", ip " + (n->ip.empty() ? std::string("dhcp") : n->ip);
  if (!n->gateway.empty()) s += ", gateway " + n->gateway;
  return s;
}

std::optional<std::string> opt_size(const std::optional<uint64_t>& v) {
  if (!v) return std::nullopt;
  return json_quoted(size_text(*v));
}

std::string mounts_json(const std::vector<Mount>& ms) {
  std::vector<std::string> parts;
  for (const auto& m : ms) {
    parts.push_back("{\"source\":" + json_quoted(m.source) + ",\"target\":" + json_quoted(m.target) +
                    (m.read_only ? ",\"read_only\":true}" : "}"));
  }
  return "[" + join(parts, ",") + "]";
}

std::string network_json(const Network& n) {
  std::vector<std::string> parts;
  if (!n.bridge.empty()) parts.push_back("\"bridge\":" + json_quoted(n.bridge));
  if (!n.ip.empty()) parts.push_back("\"ip\":" + json_quoted(n.ip));
  if (!n.gateway.empty()) parts.push_back("\"gateway\":" + json_quoted(n.gateway));
  return "{" + join(parts, ",") + "}";
}

Action make_action(const std::string& name, Op op, int order, std::string summary) {
  Action a;
  a.plugin = "lxc";
  a.item = {"containers", name};
  a.op = op;
  a.order = order;
  a.summary = std::move(summary);
  return a;
}

std::string ip_to_wait(const Container& w, const Container* have) {
  if (w.network) return w.network->ip;
  if (have && have->network) return have->network->ip;
  return "";
}

}  // namespace

std::vector<Action> diff_section(const JsonValue& desired, const JsonValue& current) {
  auto problems = section_problems(desired);
  if (!problems.empty()) {
    const auto& p = problems.front();
    std::string msg = p.message;
    if (!p.expected.empty())
      msg = (msg.empty() ? "" : msg + ": ") + "expected " + p.expected + "; found " + p.found;
    throw Error(ErrorKind::InvalidArgument, "lxc" + json_pointer(p.tokens) + ": " + msg);
  }
  const Section want = parse_section(desired, nullptr);
  const Section have = parse_section(current, nullptr);
  const std::string lxcpath = have.lxcpath.empty() ? want.lxcpath : have.lxcpath;
  std::vector<Action> actions;
  // Each container's "config.network" as the document wrote it (one pass: a plan of thousands stays linear).
  std::map<std::string, const JsonValue*> declared_networks;
  if (const JsonValue* cs = member(desired, "containers"); cs && cs->IsObject()) {
    for (auto it = cs->MemberBegin(); it != cs->MemberEnd(); ++it) {
      const JsonValue* cfg = it->value.IsObject() ? member(it->value, "config") : nullptr;
      const JsonValue* net = cfg && cfg->IsObject() ? member(*cfg, "network") : nullptr;
      if (net && net->IsObject())
        declared_networks[std::string(it->name.GetString(), it->name.GetStringLength())] = net;
    }
  }

  for (const auto& [name, declared] : want.containers) {
    const Target target{lxcpath, name};
    auto it = have.containers.find(name);
    const Container* c = it == have.containers.end() ? nullptr : &it->second;
    // Merge: an "ip" or "gateway" the document leaves out keeps the container's own.
    Container w = declared;
    if (w.network && c && c->network) {
      auto n = declared_networks.find(name);
      const JsonValue* net = n == declared_networks.end() ? nullptr : n->second;
      if (net && !member(*net, "ip")) w.network->ip = c->network->ip;
      if (net && !member(*net, "gateway")) w.network->gateway = c->network->gateway;
    }

    if (w.state == State::Absent) {
      if (!c) continue;
      Action a = make_action(name, Op::Delete, 10,
                             "destroy container " + name +
                                 (c->state == State::Started ? " (running: stopped first)" : "") +
                                 " and its root filesystem");
      a.destructive = true;
      a.changes.push_back(
          {"state", json_quoted(c->state == State::Started ? "started" : "stopped"), json_quoted("absent")});
      a.operation = make_operation<Ops>(DestroyContainer{target});
      actions.push_back(std::move(a));
      continue;
    }

    if (!c) {
      if (!w.template_name && !w.clone_from) {
        refuse(name, "the container does not exist; give \"template\" or \"clone_from\" to create it");
      }
      if (w.clone_from) {
        auto src_have = have.containers.find(*w.clone_from);
        auto src_want = want.containers.find(*w.clone_from);
        bool made_here = src_want != want.containers.end() && src_want->second.template_name &&
                         src_want->second.state != State::Absent;
        bool gone = src_want != want.containers.end() && src_want->second.state == State::Absent;
        if (gone || (src_have == have.containers.end() && !made_here)) {
          refuse(name, "clone_from names container \"" + *w.clone_from + "\", which " +
                           (gone ? "this document destroys"
                                 : "does not exist and is not created from a template here"));
        }
      }
      std::string from = w.template_name ? "template " + *w.template_name : "a clone of " + *w.clone_from;
      Action a =
          make_action(name, Op::Create, w.clone_from ? 25 : 20, "create container " + name + " from " + from);
      if (w.template_name) a.changes.push_back({"template", std::nullopt, json_quoted(*w.template_name)});
      if (w.clone_from) a.changes.push_back({"clone_from", std::nullopt, json_quoted(*w.clone_from)});
      if (w.storage) a.changes.push_back({"storage", std::nullopt, json_quoted(*w.storage)});
      if (w.rootfs) a.changes.push_back({"config/rootfs", std::nullopt, opt_size(w.rootfs)});
      if (w.memory) a.changes.push_back({"config/memory", std::nullopt, opt_size(w.memory)});
      if (w.cpus) a.changes.push_back({"config/cpus", std::nullopt, std::to_string(*w.cpus)});
      if (w.network) a.changes.push_back({"config/network", std::nullopt, network_json(*w.network)});
      if (w.mounts) a.changes.push_back({"config/mounts", std::nullopt, mounts_json(*w.mounts)});
      for (const auto& [k, v] : w.raw) a.changes.push_back({"config/raw/" + k, std::nullopt, json_quoted(v)});
      if (w.autostart) a.changes.push_back({"autostart", std::nullopt, *w.autostart ? "true" : "false"});
      a.operation = make_operation<Ops>(CreateContainer{target, w});
      actions.push_back(std::move(a));
      if (w.state == State::Started) {
        std::string ip = ip_to_wait(w, nullptr);
        Action s =
            make_action(name, Op::Start, 60,
                        "start container " + name + (ip.empty() ? "" : " and wait for " + ip + " inside"));
        s.changes.push_back({"state", std::nullopt, json_quoted("started")});
        s.operation = make_operation<Ops>(StartContainer{target, ip});
        actions.push_back(std::move(s));
      }
      continue;
    }

    if (w.idmap && w.idmap != c->idmap) {
      refuse(name,
             "the id map of an existing container cannot change (its files belong to the old ids); "
             "destroy it and create it again");
    }
    const bool running = c->state == State::Started;
    const bool final_running = w.state == State::Started;

    if (running && !final_running) {
      Action a = make_action(name, Op::Stop, 30, "stop container " + name + " (clean shutdown, then forced)");
      a.changes.push_back({"state", json_quoted("started"), json_quoted("stopped")});
      a.operation = make_operation<Ops>(StopContainer{target});
      actions.push_back(std::move(a));
    }

    // Live changes: memory, cpus, autostart.
    {
      std::vector<Change> changes;
      std::vector<std::string> what;
      Container spec;
      if (w.memory && w.memory != c->memory) {
        changes.push_back({"config/memory", opt_size(c->memory), opt_size(w.memory)});
        what.push_back("memory " + (c->memory ? size_text(*c->memory) : std::string("unlimited")) + " -> " +
                       size_text(*w.memory));
        spec.memory = w.memory;
      }
      if (w.cpus && w.cpus != c->cpus) {
        changes.push_back({"config/cpus",
                           c->cpus ? std::optional<std::string>(std::to_string(*c->cpus)) : std::nullopt,
                           std::to_string(*w.cpus)});
        what.push_back("cpus " + (c->cpus ? std::to_string(*c->cpus) : std::string("all")) + " -> " +
                       std::to_string(*w.cpus));
        spec.cpus = w.cpus;
      }
      if (w.autostart && w.autostart != c->autostart.value_or(false)) {
        changes.push_back(
            {"autostart", c->autostart.value_or(false) ? "true" : "false", *w.autostart ? "true" : "false"});
        what.push_back(std::string("autostart ") + (*w.autostart ? "on" : "off"));
        spec.autostart = w.autostart;
      }
      if (!changes.empty()) {
        bool live = running && final_running;
        Action a = make_action(name, Op::Update, 40,
                               "set " + join(what, ", ") + " of container " + name + (live ? " (live)" : ""));
        a.changes = std::move(changes);
        a.operation = make_operation<Ops>(SetLimits{target, spec, live});
        actions.push_back(std::move(a));
      }
    }

    // Changes that take effect at the next start: network, mounts, raw keys.
    {
      std::vector<Change> changes;
      std::vector<std::string> what;
      Container spec;
      if (w.network && w.network != c->network) {
        changes.push_back({"config/network",
                           c->network ? std::optional<std::string>(network_json(*c->network)) : std::nullopt,
                           network_json(*w.network)});
        what.push_back("network " + network_text(c->network) + " -> " + network_text(w.network));
        spec.network = w.network;
      }
      if (w.mounts && w.mounts != c->mounts) {
        changes.push_back({"config/mounts",
                           c->mounts ? std::optional<std::string>(mounts_json(*c->mounts)) : std::nullopt,
                           mounts_json(*w.mounts)});
        what.push_back("mounts");
        spec.mounts = w.mounts;
      }
      for (const auto& [k, v] : w.raw) {
        auto h = c->raw.find(k);
        if (h != c->raw.end() && h->second == v) continue;
        changes.push_back(
            {"config/raw/" + k,
             h == c->raw.end() ? std::nullopt : std::optional<std::string>(json_quoted(h->second)),
             json_quoted(v)});
        what.push_back(k);
        spec.raw[k] = v;
      }
      if (!changes.empty()) {
        bool needs_restart = running && final_running;
        std::string summary = "reconfigure container " + name + ": " + join(what, ", ");
        Action a = make_action(name, Op::Update, 50, summary);
        a.changes = std::move(changes);
        if (needs_restart) {
          a.needs_reboot = true;
          if (w.restart_allowed) {
            a.summary += " (restarts it: \"restart\": \"allowed\")";
          } else {
            // Never applied: the running container keeps its config until someone restarts it.
            a.observe = true;
            a.summary += " (pending: needs a restart; \"restart\": \"allowed\" lets op-dbus restart it)";
          }
        }
        a.operation = make_operation<Ops>(
            Reconfigure{target, spec, needs_restart && w.restart_allowed, ip_to_wait(w, c)});
        actions.push_back(std::move(a));
      }
    }

    if (!running && final_running) {
      std::string ip = ip_to_wait(w, c);
      Action a =
          make_action(name, Op::Start, 60,
                      "start container " + name + (ip.empty() ? "" : " and wait for " + ip + " inside"));
      a.changes.push_back({"state", json_quoted("stopped"), json_quoted("started")});
      a.operation = make_operation<Ops>(StartContainer{target, ip});
      actions.push_back(std::move(a));
    }
  }
  return actions;
}

}  // namespace opdbus::lxc
