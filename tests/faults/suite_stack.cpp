#include "suite_stack.hpp"

#include "test_credentials.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace suite::test {

namespace {

std::string tcp(int port) { return "tcp://127.0.0.1:" + std::to_string(port); }

std::string env(const char* name) {
  const char* value = std::getenv(name);
  if (!value)
    throw std::runtime_error(std::string(name) +
                             " is not set: run this test through ctest (clinic_pg fixture)");
  return value;
}

const std::vector<std::string> all_backends{"clinic-records", "chat-cache", "event-ingest",
                                            "rem-store"};

}  // namespace

std::string suite_stack::pg_uri() {
  std::ifstream in(env("CLINIC_TEST_PG_STATE") + "/uri");
  std::string uri;
  std::getline(in, uri);
  return uri;
}

void suite_stack::restart_pg() {
  auto command =
      "'" + env("CLINIC_TEST_PG_SCRIPT") + "' restart '" + env("CLINIC_TEST_PG_STATE") + "'";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("PostgreSQL restart failed");
}

suite_stack::suite_stack(stack_options options) : options_(std::move(options)) {
  http_port_ = free_port();
  std::vector<std::string> gateway_args{"--http=127.0.0.1:" + std::to_string(http_port_),
                                        "--metrics=127.0.0.1:" + std::to_string(free_port()),
                                        "--threads=1", "--timeout-ms=5000"};
  for (const auto& service : all_backends) {
    auto& b = backends_[service];
    b.bus_port = free_port();
    b.pub_port = free_port();
    b.metrics_port = free_port();
    b.data_dir = (std::filesystem::temp_directory_path() /
                  ("faults-" + service + "-" + std::to_string(::getpid()) + "-" +
                   std::to_string(b.bus_port)))
                     .string();
    int gateway_sees = b.bus_port;
    if (options_.proxied.count(service)) {
      proxies_[service] = std::make_unique<fault_proxy>(b.bus_port);
      gateway_sees = proxies_[service]->port();
    }
    gateway_args.push_back("--backend-" + service + "=" + tcp(gateway_sees));
  }
  gateway_args.push_back("--sub-event-ingest=" + tcp(backends_["event-ingest"].pub_port));
  gateway_args.insert(gateway_args.end(), options_.gateway_args.begin(),
                      options_.gateway_args.end());
  if (options_.services.count("chat-cache")) {
    llm_port_ = free_port();
    fake_llm_ = std::make_unique<test_process>(
        bin_dir() + "/fake-llm",
        std::vector<std::string>{"--listen=127.0.0.1:" + std::to_string(llm_port_)});
    fake_llm_->start();
  }
  // Credentials as every end-to-end test has them; no rate limit, since these tests
  // drive load as one principal and test faults, not limits.
  gateway_args = with_gateway_auth(std::move(gateway_args));
  gateway_args.push_back("--rate-limit=0");
  gateway_ = std::make_unique<test_process>(bin_dir() + "/gateway", gateway_args);
  gateway_->start();
  for (const auto& service : options_.services) start_service(service);
}

suite_stack::~suite_stack() {
  gateway_.reset();
  for (auto& [service, b] : backends_) {
    b.process.reset();
    std::error_code ignored;
    std::filesystem::remove_all(b.data_dir, ignored);
  }
  proxies_.clear();
  fake_llm_.reset();
}

std::vector<std::string> suite_stack::args_of(const std::string& service, const backend& b) const {
  std::vector<std::string> args{"--bus=" + tcp(b.bus_port),
                                "--metrics=127.0.0.1:" + std::to_string(b.metrics_port),
                                "--workers=2"};
  if (service == "event-ingest") {
    args.push_back("--data-dir=" + b.data_dir);
    args.push_back("--pub=" + tcp(b.pub_port));
  } else if (service == "rem-store") {
    args.push_back("--data-dir=" + b.data_dir);
  } else if (service == "clinic-records") {
    args.push_back("--pg=" + pg_uri());
    args.push_back("--pg-pool=3");
  } else if (service == "chat-cache") {
    args.push_back("--llm=http://127.0.0.1:" + std::to_string(llm_port_));
  }
  return args;
}

void suite_stack::start_service(const std::string& service) {
  auto& b = backends_.at(service);
  b.process.reset();
  b.process = std::make_unique<test_process>(bin_dir() + "/" + service, args_of(service, b));
  b.process->start();
  if (!wait_until([&] { return healthy(service); }, std::chrono::seconds(30))) {
    throw std::runtime_error(service + " did not come up behind the gateway; log:\n" +
                             b.process->log() + "\ngateway log:\n" + gateway_->log());
  }
}

void suite_stack::kill_service(const std::string& service) {
  backends_.at(service).process->kill_hard();
}

bool suite_stack::healthy(const std::string& service) {
  return api("GET", "/api/sys/" + service + "/health").status == 200;
}

pid_t suite_stack::pid(const std::string& service) const {
  if (service == "gateway") return gateway_->pid();
  return backends_.at(service).process->pid();
}

std::string suite_stack::log(const std::string& service) const {
  if (service == "gateway") return gateway_->log();
  return backends_.at(service).process->log();
}

http_response suite_stack::api(const std::string& method, const std::string& target,
                               const std::string& body) {
  return http_once(http_port_, method, target, body);
}

std::unique_ptr<http_client> suite_stack::api_client() {
  return std::make_unique<http_client>("127.0.0.1", http_port_);
}

}  // namespace suite::test
