#include "ingest_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "test_credentials.hpp"

namespace suite::test {

ingest_fixture::ingest_fixture(std::vector<std::string> service_args,
                               std::vector<std::string> gateway_args)
    : service_args_(std::move(service_args)),
      http_port_(free_port()),
      gateway_metrics_port_(free_port()),
      bus_port_(free_port()),
      pub_port_(free_port()),
      metrics_port_(free_port()) {
  data_dir_ =
      (std::filesystem::temp_directory_path() /
       ("event-ingest-test-" + std::to_string(::getpid()) + "-" + std::to_string(http_port_)))
          .string();
  std::filesystem::remove_all(data_dir_);
  auto local = [](int port) { return "tcp://127.0.0.1:" + std::to_string(port); };
  std::vector<std::string> args{"--http=127.0.0.1:" + std::to_string(http_port_),
                                "--metrics=127.0.0.1:" + std::to_string(gateway_metrics_port_),
                                "--threads=1",
                                "--sse-heartbeat-ms=200",
                                "--backend-event-ingest=" + local(bus_port_),
                                "--sub-event-ingest=" + local(pub_port_)};
  for (auto& flag : gateway_auth_flags()) args.push_back(std::move(flag));
  args.insert(args.end(), gateway_args.begin(), gateway_args.end());
  gateway_ = std::make_unique<test_process>(bin_dir() + "/gateway", args);
  gateway_->start();
  start_service();
}

ingest_fixture::~ingest_fixture() {
  service_.reset();
  gateway_.reset();
  std::error_code ec;
  std::filesystem::remove_all(data_dir_, ec);
}

void ingest_fixture::start_service() {
  auto local = [](int port) { return "tcp://127.0.0.1:" + std::to_string(port); };
  std::vector<std::string> args{"--bus=" + local(bus_port_), "--pub=" + local(pub_port_),
                                "--metrics=127.0.0.1:" + std::to_string(metrics_port_),
                                "--data-dir=" + data_dir_, "--workers=2"};
  args.insert(args.end(), service_args_.begin(), service_args_.end());
  service_.reset();
  service_ = std::make_unique<test_process>(bin_dir() + "/event-ingest", args);
  service_->start();
  // Ready as the gateway's /healthz defines it: event-ingest answers and the gateway is
  // connected to it and to its live stream.
  bool up = wait_until(
      [&] {
        return get("/healthz").body.find(R"("event-ingest":{"status":"ok")") != std::string::npos;
      },
      std::chrono::seconds(10));
  if (!up)
    throw std::runtime_error("event-ingest did not come up behind the gateway; log:\n" +
                             service_->log());
}

sse_reader::sse_reader(int port, const std::string& target, const std::string& extra_headers) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("connect failed");
  std::string request = "GET " + target +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" +
                        "X-API-Key: " + admin_api_key() + "\r\n" + extra_headers + "\r\n";
  if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    throw std::runtime_error("send failed");
  }
}

sse_reader::~sse_reader() {
  if (fd_ >= 0) ::close(fd_);
}

bool sse_reader::wait_for(const std::string& text, std::chrono::milliseconds timeout) {
  return read_until([&] { return received_.find(text) != std::string::npos; }, timeout);
}

bool sse_reader::wait_for_message(const std::string& text, std::chrono::milliseconds timeout) {
  return read_until(
      [&] {
        auto at = received_.find(text);
        return at != std::string::npos && received_.find("\n\n", at) != std::string::npos;
      },
      timeout);
}

bool sse_reader::read_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[4096];
    auto n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) return done();
    received_.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace suite::test
