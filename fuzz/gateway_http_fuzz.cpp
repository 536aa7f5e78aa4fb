// Fuzz target: the gateway's HTTP request path without sockets. Raw bytes go through
// Beast's request parser with the gateway's header and body limits, then the route
// table built from the embedded catalogue, then build_bus_request (headers, path and
// query parameters, schema validation, JSON → msgpack), and the envelope that would be
// sent is encoded and decoded again. Every step must end in a request or a clean
// 4xx error, never a crash, a hang or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "request_mapping.hpp"
#include "route_table.hpp"
#include "suite/embedded_schemas.hpp"
#include "suite/envelope.hpp"
#include "suite/op_catalogue.hpp"

namespace http = boost::beast::http;

namespace {

const suite::gateway::route_table& routes() {
  static auto catalogue = suite::op_catalogue::load(suite::embedded_schema_files());
  if (!catalogue) std::abort();
  static const suite::gateway::route_table table(*catalogue);
  return table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& table = routes();
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(1 << 20);  // the gateway's defaults (gateway_settings)
  parser.header_limit(16 << 10);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_done()) return 0;  // the gateway answers 400/413/431 or waits
  const auto& req = parser.get();
  std::string_view target(req.target().data(), req.target().size());
  std::string_view method(req.method_string().data(), req.method_string().size());
  std::string allowed;
  auto match = table.match(method, target, &allowed);
  if (!match) {
    int status = match.error().status;
    if (status != 404 && status != 405 && status != 400) std::abort();
    if (status == 405 && allowed.empty()) std::abort();
    return 0;
  }
  if (!match->op || match->service.empty()) std::abort();
  if (match->op->kind == "sse") return 0;
  std::string op = match->op->op;
  auto call =
      suite::gateway::build_bus_request(std::move(*match), req, 3, std::chrono::milliseconds(5000));
  if (!call) {
    if (call.error().status != 400) std::abort();
    return 0;
  }
  if (call->op != op || call->packed_body.empty()) std::abort();
  msgpack::sbuffer frame;
  suite::encode(*call, frame);
  // The service must read back the body the gateway packed: a map, in a valid frame.
  auto decoded = suite::decode_request(frame.data(), frame.size());
  if (!decoded || decoded->op != op || !decoded->body.is_map()) std::abort();
  return 0;
}
