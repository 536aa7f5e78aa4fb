// bus_transport: the direct mode. Sends each request straight to the service that
// serves it over the bus (suite::bus_client, a DEALER per service), bypassing the
// gateway, to measure one service alone.
//
// A request is still written as HTTP in the scenario (method, path, JSON body): the
// gateway's own route table, built from the same op catalogue, maps it to the op, the
// service and the body (path and query parameters as fields, schema-validated), so a
// scenario runs unchanged in both modes and the two can be compared. The reply's body
// is turned back into JSON for captures.
//
// Costs more per request than the HTTP transport (the bus client takes a
// std::function and msgpack buffers per call), which matters only near the
// generator's own limits. Thread-safety: as request_transport.hpp says; the bus
// client's callbacks are posted to the channel's io_context.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loadgen/request_transport.hpp"

namespace loadgen {

class bus_transport final : public transport {
 public:
  // Bus endpoints per backend; empty = the local defaults of design.md.
  // `timeout` bounds each call (the bus answers 504 past it).
  static std::unique_ptr<bus_transport> create(std::map<std::string, std::string> endpoints,
                                               std::chrono::milliseconds timeout,
                                               std::string& error);
  ~bus_transport() override;

  std::unique_ptr<channel> open(boost::asio::io_context& io, channel_listener& listener) override;

  struct state;

 private:
  explicit bus_transport(std::unique_ptr<state> s);
  std::unique_ptr<state> state_;
};

// Local defaults (design.md, "Default ports").
std::map<std::string, std::string> default_bus_endpoints();

}  // namespace loadgen
