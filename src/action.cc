#include "action.h"

#include <tuple>

namespace opdbus {

std::string_view to_string(Op op) {
  switch (op) {
    case Op::Create:
      return "create";
    case Op::Update:
      return "update";
    case Op::Delete:
      return "delete";
    case Op::Start:
      return "start";
    case Op::Stop:
      return "stop";
    case Op::Restart:
      return "restart";
    case Op::Reload:
      return "reload";
  }
  return "unknown";
}

std::string Action::resource() const {
  std::string out = plugin;
  for (const auto& t : item) out += "/" + t;
  return out;
}

bool action_less(const Action& a, const Action& b, int rank_a, int rank_b) {
  return std::make_tuple(rank_a, a.order, a.item, static_cast<int>(a.op), a.summary) <
         std::make_tuple(rank_b, b.order, b.item, static_cast<int>(b.op), b.summary);
}

size_t Plan::count(Op op) const {
  size_t n = 0;
  for (const auto& a : actions) n += a.op == op;
  return n;
}

size_t Plan::applicable() const {
  size_t n = 0;
  for (const auto& a : actions) n += !a.observe;
  return n;
}

JsonDoc plan_to_json(const Plan& plan) {
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("in_sync", plan.in_sync(), a);
  JsonValue plugins(rapidjson::kArrayType);
  for (const auto& p : plan.plugins) plugins.PushBack(str_value(p, a), a);
  d.AddMember("plugins", plugins, a);
  JsonValue actions(rapidjson::kArrayType);
  for (const auto& act : plan.actions) {
    JsonValue o(rapidjson::kObjectType);
    o.AddMember("plugin", str_value(act.plugin, a), a);
    o.AddMember("resource", str_value(act.resource(), a), a);
    o.AddMember("pointer", str_value(act.pointer(), a), a);
    o.AddMember("op", str_value(to_string(act.op), a), a);
    o.AddMember("summary", str_value(act.summary, a), a);
    JsonValue changes(rapidjson::kArrayType);
    for (const auto& c : act.changes) {
      JsonValue co(rapidjson::kObjectType);
      co.AddMember("path", str_value(c.path, a), a);
      auto put = [&](const char* key, const std::optional<std::string>& v) {
        if (!v) return;
        if (c.secret) {
          co.AddMember(rapidjson::StringRef(key), "(secret)", a);
        } else {
          JsonDoc parsed;
          parsed.Parse(v->c_str(), v->size());
          JsonValue copy;
          if (parsed.HasParseError())
            copy = str_value(*v, a);
          else
            copy.CopyFrom(parsed, a);
          co.AddMember(rapidjson::StringRef(key), copy, a);
        }
      };
      put("before", c.before);
      put("after", c.after);
      changes.PushBack(co, a);
    }
    o.AddMember("changes", changes, a);
    o.AddMember("destructive", act.destructive, a);
    o.AddMember("needs_reboot", act.needs_reboot, a);
    o.AddMember("observe", act.observe, a);
    actions.PushBack(o, a);
  }
  d.AddMember("actions", actions, a);
  JsonValue errors(rapidjson::kArrayType);
  for (const auto& e : plan.errors) errors.PushBack(str_value(e, a), a);
  d.AddMember("errors", errors, a);
  JsonValue summary(rapidjson::kObjectType);
  for (Op op : {Op::Create, Op::Update, Op::Delete, Op::Start, Op::Stop, Op::Restart, Op::Reload}) {
    summary.AddMember(str_value(to_string(op), a).Move(), static_cast<uint64_t>(plan.count(op)), a);
  }
  d.AddMember("summary", summary, a);
  return d;
}

}  // namespace opdbus
