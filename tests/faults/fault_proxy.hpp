// fault_proxy: a TCP proxy on 127.0.0.1 that injects network faults between a client
// (the gateway's bus DEALER) and a server (a service's ROUTER), for the fault tests.
// The client connects to port(); every accepted link is forwarded to the target port.
//   - set_delay(d): every chunk of bytes, both ways, is forwarded d after it arrived
//     (order kept), as a slow or congested link would.
//   - cut(): closes every open link and closes new ones as soon as they are accepted,
//     as a lost route would; restore() lets links through again.
// One thread (Boost.Asio) owns every socket; the controls are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace suite::test {

class fault_proxy {
 public:
  explicit fault_proxy(int target_port);
  ~fault_proxy();
  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  int port() const;
  void set_delay(std::chrono::milliseconds delay);
  void cut();
  void restore();
  std::uint64_t links_accepted() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace suite::test
