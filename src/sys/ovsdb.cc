#include "sys/ovsdb.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

#include "error.h"
#include "json.h"

namespace opdbus::sys {
namespace {

constexpr const char* kDatabase = "Open_vSwitch";
constexpr int kReplyTimeoutMs = 10000;
constexpr auto kApplyTimeout = std::chrono::seconds(20);

// Length of the first complete JSON value at the start of `buf` (after leading whitespace), or 0.
size_t complete_value(const std::string& buf) {
  int depth = 0;
  bool in_string = false, escape = false, started = false;
  for (size_t i = 0; i < buf.size(); ++i) {
    char c = buf[i];
    if (in_string) {
      if (escape)
        escape = false;
      else if (c == '\\')
        escape = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[')
      ++depth, started = true;
    else if (c == '}' || c == ']') {
      if (--depth == 0 && started) return i + 1;
    }
  }
  return 0;
}

// OVSDB encodes a set of one as the bare atom and other sizes as ["set", [...]].
std::vector<const JsonValue*> set_items(const JsonValue& v) {
  std::vector<const JsonValue*> out;
  if (v.IsArray() && v.Size() == 2 && v[0].IsString() && std::string_view(v[0].GetString()) == "set") {
    for (const auto& e : v[1].GetArray()) out.push_back(&e);
  } else {
    out.push_back(&v);
  }
  return out;
}

std::string uuid_of(const JsonValue& atom) {
  if (atom.IsArray() && atom.Size() == 2 && atom[1].IsString()) return atom[1].GetString();
  return "";
}

JsonValue uuid_ref(const char* kind, const std::string& id, JsonAlloc& a) {
  JsonValue v(rapidjson::kArrayType);
  v.PushBack(rapidjson::StringRef(kind), a);
  v.PushBack(str_value(id, a), a);
  return v;
}

JsonValue name_is(const std::string& name, JsonAlloc& a) {
  JsonValue where(rapidjson::kArrayType), cond(rapidjson::kArrayType);
  cond.PushBack("name", a).PushBack("==", a).PushBack(str_value(name, a), a);
  where.PushBack(cond, a);
  return where;
}

JsonValue select(const char* table, std::initializer_list<const char*> columns, JsonValue where,
                 JsonAlloc& a) {
  JsonValue op(rapidjson::kObjectType);
  op.AddMember("op", "select", a);
  op.AddMember("table", rapidjson::StringRef(table), a);
  op.AddMember("where", where, a);
  JsonValue cols(rapidjson::kArrayType);
  for (const char* c : columns) cols.PushBack(rapidjson::StringRef(c), a);
  op.AddMember("columns", cols, a);
  return op;
}

}  // namespace

std::string Ovsdb::default_socket() {
  const char* dir = std::getenv("OVS_RUNDIR");
  return std::string(dir && *dir ? dir : "/run/openvswitch") + "/db.sock";
}

std::unique_ptr<Ovsdb> Ovsdb::connect(const std::string& socket_path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(ErrorKind::BackendError, std::string("ovsdb: socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    ::close(fd);
    throw Error(ErrorKind::InvalidArgument, "ovsdb socket path too long: " + socket_path);
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    int e = errno;
    ::close(fd);
    throw Error(ErrorKind::Unavailable, "Open vSwitch is not available: ovsdb-server socket " + socket_path +
                                            ": " + std::strerror(e) +
                                            " (is openvswitch-switch installed and running?)");
  }
  return std::unique_ptr<Ovsdb>(new Ovsdb(fd));
}

Ovsdb::Ovsdb(int fd) : fd_(fd) {}

Ovsdb::~Ovsdb() {
  if (fd_ >= 0) ::close(fd_);
}

std::string Ovsdb::call(const std::string& method, const std::string& params_json) {
  int id = next_id_++;
  auto send_text = [&](const std::string& text) {
    size_t off = 0;
    while (off < text.size()) {
      ssize_t n = ::send(fd_, text.data() + off, text.size() - off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(ErrorKind::BackendError, std::string("ovsdb: send: ") + std::strerror(errno));
      }
      off += static_cast<size_t>(n);
    }
  };
  send_text("{\"id\":" + std::to_string(id) + ",\"method\":" +
            to_json(JsonValue(rapidjson::StringRef(method.c_str()))) + ",\"params\":" + params_json + "}");
  while (true) {
    size_t len;
    while ((len = complete_value(buffer_)) == 0) {
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, kReplyTimeoutMs);
      if (r == 0) throw Error(ErrorKind::BackendError, "ovsdb: no reply to " + method + " within 10 s");
      if (r < 0) {
        if (errno == EINTR) continue;
        throw Error(ErrorKind::BackendError, std::string("ovsdb: poll: ") + std::strerror(errno));
      }
      char chunk[65536];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n == 0) throw Error(ErrorKind::BackendError, "ovsdb: ovsdb-server closed the connection");
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(ErrorKind::BackendError, std::string("ovsdb: recv: ") + std::strerror(errno));
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    std::string text = buffer_.substr(0, len);
    buffer_.erase(0, len);
    JsonDoc msg;
    msg.Parse(text.c_str(), text.size());
    if (msg.HasParseError() || !msg.IsObject())
      throw Error(ErrorKind::BackendError, "ovsdb: unreadable reply");
    const JsonValue* m = member(msg, "method");
    if (m && m->IsString() && std::string_view(m->GetString()) == "echo") {
      // The server's keep-alive: answer with the same params.
      const JsonValue* params = member(msg, "params");
      const JsonValue* rid = member(msg, "id");
      send_text("{\"id\":" + (rid ? to_json(*rid) : std::string("null")) +
                ",\"result\":" + (params ? to_json(*params) : std::string("[]")) + ",\"error\":null}");
      continue;
    }
    const JsonValue* rid = member(msg, "id");
    if (!rid || !rid->IsInt() || rid->GetInt() != id) continue;  // a notification or a stale reply
    const JsonValue* err = member(msg, "error");
    if (err && !err->IsNull()) throw Error(ErrorKind::BackendError, "ovsdb " + method + ": " + to_json(*err));
    const JsonValue* result = member(msg, "result");
    return result ? to_json(*result) : "null";
  }
}

namespace {

// Throws with the first per-operation error of a transact result.
void check_transact(const JsonDoc& result, const std::string& what) {
  if (!result.IsArray()) throw Error(ErrorKind::BackendError, what + ": unexpected ovsdb reply");
  for (const auto& r : result.GetArray()) {
    if (r.IsObject() && r.HasMember("error")) {
      std::string text = get_string(r, "error");
      std::string details = get_string(r, "details");
      throw Error(ErrorKind::BackendError,
                  what + ": ovsdb: " + text + (details.empty() ? "" : ": " + details));
    }
  }
}

}  // namespace

std::vector<OvsBridge> Ovsdb::bridges() {
  JsonDoc params(rapidjson::kArrayType);
  auto& a = params.GetAllocator();
  params.PushBack(rapidjson::StringRef(kDatabase), a);
  params.PushBack(select("Bridge", {"name", "ports"}, JsonValue(rapidjson::kArrayType), a), a);
  params.PushBack(select("Port", {"_uuid", "name"}, JsonValue(rapidjson::kArrayType), a), a);
  JsonDoc result = parse_json(call("transact", to_json(params)));
  check_transact(result, "list Open vSwitch bridges");
  std::map<std::string, std::string> port_names;
  for (const auto& row : result[1]["rows"].GetArray()) {
    port_names[uuid_of(row["_uuid"])] = get_string(row, "name");
  }
  std::vector<OvsBridge> out;
  for (const auto& row : result[0]["rows"].GetArray()) {
    OvsBridge b;
    b.name = get_string(row, "name");
    for (const JsonValue* p : set_items(row["ports"])) {
      std::string name = port_names[uuid_of(*p)];
      if (!name.empty() && name != b.name) b.ports.push_back(name);
    }
    std::sort(b.ports.begin(), b.ports.end());
    out.push_back(std::move(b));
  }
  std::sort(out.begin(), out.end(), [](const OvsBridge& l, const OvsBridge& r) { return l.name < r.name; });
  return out;
}

void Ovsdb::transact_and_wait(const std::string& ops_json, const std::string& what) {
  JsonDoc ops = parse_json(ops_json);
  JsonDoc params(rapidjson::kArrayType);
  auto& a = params.GetAllocator();
  params.PushBack(rapidjson::StringRef(kDatabase), a);
  for (auto& op : ops.GetArray()) params.PushBack(JsonValue(op, a), a);
  // Ask ovs-vswitchd to reconfigure and learn which configuration number that will be.
  JsonValue bump(rapidjson::kObjectType);
  bump.AddMember("op", "mutate", a);
  bump.AddMember("table", "Open_vSwitch", a);
  bump.AddMember("where", JsonValue(rapidjson::kArrayType), a);
  JsonValue mutations(rapidjson::kArrayType), m(rapidjson::kArrayType);
  m.PushBack("next_cfg", a).PushBack("+=", a).PushBack(1, a);
  mutations.PushBack(m, a);
  bump.AddMember("mutations", mutations, a);
  params.PushBack(bump, a);
  params.PushBack(select("Open_vSwitch", {"next_cfg"}, JsonValue(rapidjson::kArrayType), a), a);
  JsonDoc result = parse_json(call("transact", to_json(params)));
  check_transact(result, what);
  const JsonValue& rows = result[result.Size() - 1]["rows"];
  if (!rows.IsArray() || rows.Empty())
    throw Error(ErrorKind::BackendError, what + ": the Open_vSwitch table is empty");
  int64_t target = rows[0]["next_cfg"].GetInt64();

  auto deadline = std::chrono::steady_clock::now() + kApplyTimeout;
  while (true) {
    JsonDoc q(rapidjson::kArrayType);
    auto& qa = q.GetAllocator();
    q.PushBack(rapidjson::StringRef(kDatabase), qa);
    q.PushBack(select("Open_vSwitch", {"cur_cfg"}, JsonValue(rapidjson::kArrayType), qa), qa);
    JsonDoc r = parse_json(call("transact", to_json(q)));
    check_transact(r, what);
    const JsonValue& rr = r[0]["rows"];
    if (rr.IsArray() && !rr.Empty() && rr[0]["cur_cfg"].GetInt64() >= target) return;
    if (std::chrono::steady_clock::now() > deadline) {
      throw Error(ErrorKind::Unavailable,
                  what + ": ovs-vswitchd did not apply the change within 20 s (is ovs-vswitchd running?)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void Ovsdb::add_bridge(const std::string& name) {
  JsonDoc ops(rapidjson::kArrayType);
  auto& a = ops.GetAllocator();
  JsonValue iface(rapidjson::kObjectType), irow(rapidjson::kObjectType);
  irow.AddMember("name", str_value(name, a), a);
  irow.AddMember("type", "internal", a);
  iface.AddMember("op", "insert", a).AddMember("table", "Interface", a).AddMember("row", irow, a);
  iface.AddMember("uuid-name", "iface", a);
  JsonValue port(rapidjson::kObjectType), prow(rapidjson::kObjectType);
  prow.AddMember("name", str_value(name, a), a);
  prow.AddMember("interfaces", uuid_ref("named-uuid", "iface", a), a);
  port.AddMember("op", "insert", a).AddMember("table", "Port", a).AddMember("row", prow, a);
  port.AddMember("uuid-name", "port", a);
  JsonValue br(rapidjson::kObjectType), brow(rapidjson::kObjectType);
  brow.AddMember("name", str_value(name, a), a);
  brow.AddMember("ports", uuid_ref("named-uuid", "port", a), a);
  br.AddMember("op", "insert", a).AddMember("table", "Bridge", a).AddMember("row", brow, a);
  br.AddMember("uuid-name", "bridge", a);
  JsonValue link(rapidjson::kObjectType), muts(rapidjson::kArrayType), mut(rapidjson::kArrayType);
  mut.PushBack("bridges", a).PushBack("insert", a).PushBack(uuid_ref("named-uuid", "bridge", a), a);
  muts.PushBack(mut, a);
  link.AddMember("op", "mutate", a).AddMember("table", "Open_vSwitch", a);
  link.AddMember("where", JsonValue(rapidjson::kArrayType), a).AddMember("mutations", muts, a);
  ops.PushBack(iface, a).PushBack(port, a).PushBack(br, a).PushBack(link, a);
  transact_and_wait(to_json(ops), "create Open vSwitch bridge " + name);
}

void Ovsdb::delete_bridge(const std::string& name) {
  JsonDoc q(rapidjson::kArrayType);
  auto& qa = q.GetAllocator();
  q.PushBack(rapidjson::StringRef(kDatabase), qa);
  q.PushBack(select("Bridge", {"_uuid"}, name_is(name, qa), qa), qa);
  JsonDoc r = parse_json(call("transact", to_json(q)));
  check_transact(r, "find Open vSwitch bridge " + name);
  if (r[0]["rows"].Empty()) return;
  std::string uuid = uuid_of(r[0]["rows"][0]["_uuid"]);
  JsonDoc ops(rapidjson::kArrayType);
  auto& a = ops.GetAllocator();
  JsonValue op(rapidjson::kObjectType), muts(rapidjson::kArrayType), mut(rapidjson::kArrayType);
  mut.PushBack("bridges", a).PushBack("delete", a).PushBack(uuid_ref("uuid", uuid, a), a);
  muts.PushBack(mut, a);
  op.AddMember("op", "mutate", a).AddMember("table", "Open_vSwitch", a);
  op.AddMember("where", JsonValue(rapidjson::kArrayType), a).AddMember("mutations", muts, a);
  ops.PushBack(op, a);
  transact_and_wait(to_json(ops), "delete Open vSwitch bridge " + name);
}

void Ovsdb::set_ports(const std::string& bridge, const std::vector<std::string>& add,
                      const std::vector<std::string>& remove) {
  if (add.empty() && remove.empty()) return;
  std::vector<std::string> remove_uuids;
  if (!remove.empty()) {
    JsonDoc q(rapidjson::kArrayType);
    auto& qa = q.GetAllocator();
    q.PushBack(rapidjson::StringRef(kDatabase), qa);
    q.PushBack(select("Port", {"_uuid", "name"}, JsonValue(rapidjson::kArrayType), qa), qa);
    JsonDoc r = parse_json(call("transact", to_json(q)));
    check_transact(r, "list Open vSwitch ports");
    for (const auto& row : r[0]["rows"].GetArray()) {
      if (std::find(remove.begin(), remove.end(), get_string(row, "name")) != remove.end()) {
        remove_uuids.push_back(uuid_of(row["_uuid"]));
      }
    }
  }
  JsonDoc ops(rapidjson::kArrayType);
  auto& a = ops.GetAllocator();
  JsonValue inserts(rapidjson::kArrayType);
  for (size_t i = 0; i < add.size(); ++i) {
    std::string iname = "iface" + std::to_string(i), pname = "port" + std::to_string(i);
    JsonValue iface(rapidjson::kObjectType), irow(rapidjson::kObjectType);
    irow.AddMember("name", str_value(add[i], a), a);
    iface.AddMember("op", "insert", a).AddMember("table", "Interface", a).AddMember("row", irow, a);
    iface.AddMember("uuid-name", str_value(iname, a), a);
    JsonValue port(rapidjson::kObjectType), prow(rapidjson::kObjectType);
    prow.AddMember("name", str_value(add[i], a), a);
    prow.AddMember("interfaces", uuid_ref("named-uuid", iname, a), a);
    port.AddMember("op", "insert", a).AddMember("table", "Port", a).AddMember("row", prow, a);
    port.AddMember("uuid-name", str_value(pname, a), a);
    ops.PushBack(iface, a).PushBack(port, a);
    inserts.PushBack(uuid_ref("named-uuid", pname, a), a);
  }
  JsonValue muts(rapidjson::kArrayType);
  if (!add.empty()) {
    JsonValue set(rapidjson::kArrayType), mut(rapidjson::kArrayType);
    set.PushBack("set", a).PushBack(inserts, a);
    mut.PushBack("ports", a).PushBack("insert", a).PushBack(set, a);
    muts.PushBack(mut, a);
  }
  if (!remove_uuids.empty()) {
    JsonValue refs(rapidjson::kArrayType);
    for (const auto& u : remove_uuids) refs.PushBack(uuid_ref("uuid", u, a), a);
    JsonValue set(rapidjson::kArrayType), mut(rapidjson::kArrayType);
    set.PushBack("set", a).PushBack(refs, a);
    mut.PushBack("ports", a).PushBack("delete", a).PushBack(set, a);
    muts.PushBack(mut, a);
  }
  JsonValue op(rapidjson::kObjectType);
  op.AddMember("op", "mutate", a).AddMember("table", "Bridge", a);
  op.AddMember("where", name_is(bridge, a), a).AddMember("mutations", muts, a);
  ops.PushBack(op, a);
  // The whole transaction fails (nothing half-done) when the bridge is not there.
  JsonValue wait(rapidjson::kObjectType), rows(rapidjson::kArrayType), row(rapidjson::kObjectType);
  row.AddMember("name", str_value(bridge, a), a);
  rows.PushBack(row, a);
  JsonValue cols(rapidjson::kArrayType);
  cols.PushBack("name", a);
  wait.AddMember("op", "wait", a).AddMember("timeout", 0, a).AddMember("table", "Bridge", a);
  wait.AddMember("where", name_is(bridge, a), a).AddMember("columns", cols, a);
  wait.AddMember("until", "==", a).AddMember("rows", rows, a);
  ops.PushBack(wait, a);
  transact_and_wait(to_json(ops), "set ports of Open vSwitch bridge " + bridge);
}

}  // namespace opdbus::sys
