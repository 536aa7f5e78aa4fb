#include "request_mapping.hpp"

#include <cctype>

namespace suite::gateway {

result<request> build_bus_request(route_match match, const http_request& http,
                                  std::size_t sse_clients, std::chrono::milliseconds timeout) {
  for (const auto& header : match.op->headers) {
    if (auto h = http.find(header); h != http.end()) {
      std::string name = "http_";
      for (char c : header) {
        name.push_back(c == '-' ? '_'
                                : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      }
      match.params.push_back({std::move(name), std::string(h->value())});
    }
  }
  if (match.op->schema && !match.op->schema->property_type("gateway_sse_clients").empty()) {
    // An op whose schema declares this field gets the gateway's count of open SSE
    // streams (event-ingest's /api/health reports it); a client cannot set it.
    std::erase_if(match.params,
                  [](const extra_field& f) { return f.name == "gateway_sse_clients"; });
    match.params.push_back({"gateway_sse_clients", std::to_string(sse_clients)});
  }
  auto body = json_to_packed(http.body(), match.op->schema.get(), match.params);
  if (!body) return body.error();
  request call;
  call.op = match.op->op;
  call.packed_body = std::move(*body);
  if (auto id = http.find("X-Request-Id"); id != http.end())
    call.trace_id = std::string(id->value());
  call.deadline_ms = unix_ms_now() + timeout.count();
  return call;
}

}  // namespace suite::gateway
