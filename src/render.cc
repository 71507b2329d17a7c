#include "render.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace opdbus {
namespace {

struct Paint {
  bool on;
  std::string operator()(const char* code, const std::string& s) const {
    return on ? std::string("\033[") + code + "m" + s + "\033[0m" : s;
  }
};

const char* op_symbol(Op op) {
  switch (op) {
    case Op::Create:
      return "+";
    case Op::Delete:
      return "-";
    case Op::Update:
      return "~";
    case Op::Start:
      return ">";
    case Op::Stop:
      return ".";
    case Op::Restart:
    case Op::Reload:
      return "*";
  }
  return "?";
}

const char* op_color(Op op) {
  switch (op) {
    case Op::Create:
      return "32";
    case Op::Delete:
      return "31";
    case Op::Update:
      return "33";
    default:
      return "36";
  }
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == '\n') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// The decoded string if `json` is a JSON string literal.
std::optional<std::string> as_string(const std::optional<std::string>& json) {
  if (!json || json->empty() || (*json)[0] != '"') return std::nullopt;
  JsonDoc d;
  d.Parse(json->c_str(), json->size());
  if (d.HasParseError() || !d.IsString()) return std::nullopt;
  return std::string(d.GetString(), d.GetStringLength());
}

}  // namespace

std::string summarize_counts(const std::vector<Action>& actions) {
  std::map<Op, size_t> counts;
  for (const auto& a : actions) counts[a.op]++;
  static const std::pair<Op, const char*> kWords[] = {{Op::Create, "to create"}, {Op::Update, "to update"},
                                                      {Op::Delete, "to delete"}, {Op::Start, "to start"},
                                                      {Op::Stop, "to stop"},     {Op::Restart, "to restart"},
                                                      {Op::Reload, "to reload"}};
  std::string out;
  for (const auto& [op, word] : kWords) {
    if (!counts[op]) continue;
    if (!out.empty()) out += ", ";
    out += std::to_string(counts[op]) + " " + word;
  }
  return out;
}

std::string render_value(const std::optional<std::string>& json, bool secret, bool verbose) {
  if (secret) return "(secret)";
  if (!json) return "(absent)";
  if (auto s = as_string(json); s && s->find('\n') != std::string::npos) {
    size_t lines = std::count(s->begin(), s->end(), '\n') + (s->back() == '\n' ? 0 : 1);
    if (!verbose) return "(text, " + std::to_string(lines) + (lines == 1 ? " line)" : " lines)");
  }
  constexpr size_t kMax = 72;
  if (!verbose && json->size() > kMax) return json->substr(0, kMax - 3) + "...";
  return *json;
}

std::string render_text_diff(const std::string& before, const std::string& after,
                             const RenderOptions& options) {
  if (before == after) return "";
  auto a = split_lines(before), b = split_lines(after);
  constexpr size_t kMaxLines = 400;
  Paint paint{options.color};
  std::ostringstream out;
  if (a.size() > kMaxLines || b.size() > kMaxLines) {
    out << "(" << a.size() << " lines -> " << b.size() << " lines; too long to show)\n";
    return out.str();
  }
  // Longest common subsequence table, then walk it to emit a minimal line diff.
  std::vector<std::vector<uint16_t>> lcs(a.size() + 1, std::vector<uint16_t>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;) {
    for (size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      out << "  " << a[i] << "\n";
      ++i, ++j;
    } else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out << paint("31", "- " + a[i]) << "\n";  // removals first, as diff(1) prints them
      ++i;
    } else {
      out << paint("32", "+ " + b[j]) << "\n";
      ++j;
    }
  }
  return out.str();
}

std::string render_plan(const Plan& plan, const RenderOptions& options) {
  Paint paint{options.color};
  std::ostringstream out;
  size_t observed = 0, destructive = 0;
  for (const auto& plugin : plan.plugins) {
    std::vector<const Action*> mine;
    for (const auto& a : plan.actions) {
      if (a.plugin == plugin) mine.push_back(&a);
    }
    if (mine.empty()) continue;
    out << paint("1", plugin) << "\n";
    for (const Action* a : mine) {
      std::string sym = op_symbol(a->op);
      std::string line = "  " + paint(op_color(a->op), sym + " " + std::string(to_string(a->op))) + "  " +
                         a->resource() + "  " + paint("2", a->summary);
      if (a->destructive) {
        line += "  " + paint("1;31", "DESTRUCTIVE");
        ++destructive;
      }
      if (a->needs_reboot) line += "  " + paint("35", "needs reboot");
      if (a->observe) {
        line += "  " + paint("2", "(observe only: will not be applied)");
        ++observed;
      }
      out << line << "\n";
      for (const auto& c : a->changes) {
        auto before = as_string(c.before), after = as_string(c.after);
        bool text = !c.secret && ((before && before->find('\n') != std::string::npos) ||
                                  (after && after->find('\n') != std::string::npos));
        if (text) {
          out << "      " << c.path << ":\n";
          std::string diff = render_text_diff(before.value_or(""), after.value_or(""), options);
          std::istringstream lines(diff);
          for (std::string l; std::getline(lines, l);) out << "        " << l << "\n";
        } else {
          out << "      " << c.path << ": " << render_value(c.before, c.secret, options.verbose) << " -> "
              << render_value(c.after, c.secret, options.verbose) << "\n";
        }
      }
    }
    out << "\n";
  }
  if (!plan.errors.empty()) {
    out << paint("1;31", "errors") << "\n";
    for (const auto& e : plan.errors) out << "  " << e << "\n";
    out << "\n";
  }
  if (plan.actions.empty()) {
    out << (plan.errors.empty() ? "No changes: the system matches the state." : "No changes planned.")
        << "\n";
  } else {
    out << "Plan: " << summarize_counts(plan.actions) << ".";
    if (observed) out << " " << observed << " observe-only (not applied).";
    if (destructive) out << " " << paint("1;31", std::to_string(destructive) + " destructive") << ".";
    out << "\n";
  }
  return out.str();
}

std::string render_apply_report(const ApplyReport& report, const RenderOptions& options) {
  Paint paint{options.color};
  std::ostringstream out;
  if (report.ok()) {
    if (report.done.empty()) {
      out << "Nothing to do: the system already matches the state.\n";
    } else {
      out << paint("32", "Applied") << " " << report.done.size() << " change"
          << (report.done.size() == 1 ? "" : "s") << " (" << summarize_counts(report.done)
          << "); verified.\n";
    }
  } else {
    out << paint("1;31", "Apply failed") << ": " << report.failure->what() << "\n";
    if (!report.done.empty()) {
      out << "Done before the failure (" << report.done.size() << "):\n";
      for (const auto& a : report.done) out << "  " << a.resource() << ": " << a.summary << "\n";
    }
    if (!report.not_done.empty()) {
      out << "Not done (" << report.not_done.size() << "):\n";
      for (const auto& a : report.not_done) out << "  " << a.resource() << ": " << a.summary << "\n";
    }
    for (const auto& p : report.rolled_back) out << "Rolled back: " << p << "\n";
    out << "Fix the cause and run apply again: it continues from the current state.\n";
  }
  if (!report.observed.empty()) {
    out << report.observed.size() << " observe-only difference" << (report.observed.size() == 1 ? "" : "s")
        << " left as they are:\n";
    for (const auto& a : report.observed) out << "  " << describe_drift(a) << "\n";
  }
  return out.str();
}

}  // namespace opdbus
