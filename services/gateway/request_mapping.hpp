// request_mapping: the gateway's HTTP → bus step with no sockets in it. Given a parsed
// HTTP request and its route, builds the bus request the gateway would send: catalogue
// headers become body fields "http_<name>", path and query parameters are added, the
// body is validated against the op's schema and converted to msgpack (into the request's
// packed_body: the gateway passes the body on and never reads it). A 400 error_info
// (and nothing sent) when the body or a parameter fails its schema. Identity (tenant,
// principal, roles) is left empty: the caller sets it from the authenticated credential.
// Pure and thread-safe; the gateway's session calls it, and so does the HTTP fuzz target.
#pragma once

#include <chrono>
#include <cstddef>

#include <boost/beast/http.hpp>

#include "route_table.hpp"
#include "suite/envelope.hpp"
#include "suite/result.hpp"

namespace suite::gateway {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;

// `sse_clients` is the gateway's count of open SSE streams (some ops report it);
// `timeout` sets the request's absolute deadline from now.
result<request> build_bus_request(route_match match, const http_request& http,
                                  std::size_t sse_clients, std::chrono::milliseconds timeout);

}  // namespace suite::gateway
