// suite_stack: the suite's real binaries as processes on free ports, for the fault
// tests: the gateway in front of any of event-ingest, rem-store, clinic-records (on the
// PostgreSQL the clinic_pg ctest fixture started) and chat-cache (with the fake LLM).
// A backend can be reached through a fault_proxy instead of directly, and can be
// killed with SIGKILL and started again on the same ports and data.
//
// Every HTTP request of the fault tests goes through api() / api_client(): the one
// place to add a credential when the gateway requires one. Not thread-safe, except
// api() and api_client(), which any thread may call.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fault_proxy.hpp"
#include "http_client.hpp"
#include "test_process.hpp"

namespace suite::test {

struct stack_options {
  std::set<std::string> services = {};  // backends to start; the others get a dead endpoint
  std::set<std::string> proxied = {};   // backends reached through a fault_proxy
  std::vector<std::string> gateway_args = {};
};

class suite_stack {
 public:
  explicit suite_stack(stack_options options);
  ~suite_stack();

  http_response api(const std::string& method, const std::string& target,
                    const std::string& body = {});
  std::unique_ptr<http_client> api_client();
  int http_port() const { return http_port_; }

  void kill_service(const std::string& service);  // SIGKILL, as a crash
  // Starts it again on the same ports and data; waits until the gateway reaches it.
  void start_service(const std::string& service);
  bool healthy(const std::string& service);
  fault_proxy& proxy(const std::string& service) { return *proxies_.at(service); }
  pid_t pid(const std::string& service) const;  // the gateway's under "gateway"
  std::string log(const std::string& service) const;

  // The clinic_pg fixture's PostgreSQL: URI and `test_pg.sh restart`.
  static std::string pg_uri();
  static void restart_pg();

 private:
  struct backend {
    int bus_port = 0, pub_port = 0, metrics_port = 0;
    std::string data_dir;
    std::unique_ptr<test_process> process;
  };
  std::vector<std::string> args_of(const std::string& service, const backend& b) const;

  stack_options options_;
  int http_port_ = 0, llm_port_ = 0;
  std::map<std::string, backend> backends_;
  std::map<std::string, std::unique_ptr<fault_proxy>> proxies_;
  std::unique_ptr<test_process> gateway_, fake_llm_;
};

}  // namespace suite::test
