#include "action.h"

#include <rapidjson/filewritestream.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/reader.h>

#include <tuple>

#include "error.h"

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

namespace {

using PrettyFileWriter = rapidjson::PrettyWriter<rapidjson::FileWriteStream>;

void put_string(PrettyFileWriter& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// A change value (compact JSON text) re-emitted as JSON, token by token: checked first with a reader that
// builds nothing, so text that does not parse (a plugin bug) is written as a string, as plan_to_json does.
void put_json_text(PrettyFileWriter& w, const std::string& text) {
  {
    rapidjson::Reader check;
    rapidjson::BaseReaderHandler<> ignore;
    rapidjson::StringStream in(text.c_str());
    if (!check.Parse(in, ignore) || in.Tell() != text.size()) {
      put_string(w, text);
      return;
    }
  }
  rapidjson::Reader reader;
  rapidjson::StringStream in(text.c_str());
  reader.Parse(in, w);
}

}  // namespace

void write_plan_json(const Plan& plan, std::FILE* out) {
  char buffer[65536];
  rapidjson::FileWriteStream stream(out, buffer, sizeof buffer);
  PrettyFileWriter w(stream);
  w.SetIndent(' ', 2);
  w.SetFormatOptions(rapidjson::kFormatSingleLineArray);
  w.StartObject();
  w.Key("in_sync");
  w.Bool(plan.in_sync());
  w.Key("plugins");
  w.StartArray();
  for (const auto& p : plan.plugins) put_string(w, p);
  w.EndArray();
  w.Key("actions");
  w.StartArray();
  for (const auto& act : plan.actions) {
    w.StartObject();
    w.Key("plugin");
    put_string(w, act.plugin);
    w.Key("resource");
    put_string(w, act.resource());
    w.Key("pointer");
    put_string(w, act.pointer());
    w.Key("op");
    put_string(w, to_string(act.op));
    w.Key("summary");
    put_string(w, act.summary);
    w.Key("changes");
    w.StartArray();
    for (const auto& c : act.changes) {
      w.StartObject();
      w.Key("path");
      put_string(w, c.path);
      auto put = [&](const char* key, const std::optional<std::string>& v) {
        if (!v) return;
        w.Key(key);
        if (c.secret) {
          w.String("(secret)");
        } else {
          put_json_text(w, *v);
        }
      };
      put("before", c.before);
      put("after", c.after);
      w.EndObject();
    }
    w.EndArray();
    w.Key("destructive");
    w.Bool(act.destructive);
    w.Key("needs_reboot");
    w.Bool(act.needs_reboot);
    w.Key("observe");
    w.Bool(act.observe);
    w.EndObject();
  }
  w.EndArray();
  w.Key("errors");
  w.StartArray();
  for (const auto& e : plan.errors) put_string(w, e);
  w.EndArray();
  w.Key("summary");
  w.StartObject();
  for (Op op : {Op::Create, Op::Update, Op::Delete, Op::Start, Op::Stop, Op::Restart, Op::Reload}) {
    w.Key(std::string(to_string(op)).c_str());
    w.Uint64(static_cast<uint64_t>(plan.count(op)));
  }
  w.EndObject();
  w.EndObject();
  stream.Put('\n');
  stream.Flush();
  if (std::fflush(out) != 0 || std::ferror(out)) {
    throw Error(ErrorKind::BackendError, "writing the plan failed");
  }
}

}  // namespace opdbus
