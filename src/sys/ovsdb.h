// Open vSwitch through OVSDB's JSON-RPC protocol (RFC 7047) on ovsdb-server's unix socket, the way ovs-vsctl
// talks to it: bridges and their ports in the Open_vSwitch database. After a change it waits until
// ovs-vswitchd has acted on it (cur_cfg reaches next_cfg), so the kernel devices exist when this returns.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace opdbus::sys {

struct OvsBridge {
  std::string name;
  std::vector<std::string> ports;  // port names, without the bridge's own internal port
};

class Ovsdb {
 public:
  // $OVS_RUNDIR/db.sock, else /run/openvswitch/db.sock.
  static std::string default_socket();
  // Connects; throws Error(Unavailable) naming the socket and the reason when ovsdb-server is not there.
  static std::unique_ptr<Ovsdb> connect(const std::string& socket_path = default_socket());
  ~Ovsdb();
  Ovsdb(const Ovsdb&) = delete;
  Ovsdb& operator=(const Ovsdb&) = delete;

  std::vector<OvsBridge> bridges();
  // Creates the bridge with its internal port of the same name.
  void add_bridge(const std::string& name);
  void delete_bridge(const std::string& name);
  // Adds system ports (existing kernel links) and removes ports by name.
  void set_ports(const std::string& bridge, const std::vector<std::string>& add,
                 const std::vector<std::string>& remove);

 private:
  explicit Ovsdb(int fd);
  std::string call(const std::string& method, const std::string& params_json);
  void transact_and_wait(const std::string& ops_json, const std::string& what);
  int fd_;
  int next_id_ = 1;
  std::string buffer_;
};

}  // namespace opdbus::sys
