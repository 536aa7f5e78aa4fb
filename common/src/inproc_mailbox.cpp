#include "suite/inproc_mailbox.hpp"

#include <atomic>
#include <memory>
#include <utility>
#include <vector>

namespace suite {

zmq::context_t& bus_context() {
  static auto* context = new zmq::context_t(1);  // never destroyed: see the header
  return *context;
}

std::string unique_inproc_endpoint(const std::string& prefix) {
  static std::atomic<std::uint64_t> serial{0};
  return "inproc://" + prefix + "-" + std::to_string(serial.fetch_add(1));
}

zmq::socket_t bind_mailbox(const std::string& endpoint) {
  zmq::socket_t pull(bus_context(), zmq::socket_type::pull);
  pull.set(zmq::sockopt::rcvhwm, 0);
  pull.set(zmq::sockopt::linger, 0);
  pull.bind(endpoint);
  return pull;
}

void post_to_mailbox(const std::string& endpoint, zmq::message_t* frames, std::size_t count) {
  // Endpoints are unique per mailbox and few per process, so a linear list is fastest.
  thread_local std::vector<std::pair<std::string, zmq::socket_t>> pushes;
  zmq::socket_t* push = nullptr;
  for (auto& [name, socket] : pushes) {
    if (name == endpoint) {
      push = &socket;
      break;
    }
  }
  if (!push) {
    zmq::socket_t socket(bus_context(), zmq::socket_type::push);
    socket.set(zmq::sockopt::sndhwm, 0);
    socket.set(zmq::sockopt::linger, 0);
    socket.connect(endpoint);
    pushes.emplace_back(endpoint, std::move(socket));
    push = &pushes.back().second;
  }
  for (std::size_t i = 0; i < count; ++i) {
    auto flags = zmq::send_flags::dontwait;
    if (i + 1 < count) flags = flags | zmq::send_flags::sndmore;
    (void)push->send(frames[i], flags);
  }
}

}  // namespace suite
