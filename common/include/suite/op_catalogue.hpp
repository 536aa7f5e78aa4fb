// op_catalogue: the parsed form of schemas/ops.json, the single source of truth for
// bus ops, their HTTP routes, request schemas and roles (design.md, "The bus").
// Loaded once at start-up; immutable and thread-safe afterwards.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "suite/embedded_schemas.hpp"
#include "suite/json_msgpack.hpp"
#include "suite/result.hpp"

namespace suite {

struct op_spec {
  std::string op;       // e.g. "patients.get"
  std::string service;  // a backend, or "*" for every backend ({service} in the route)
  std::string method;   // GET, POST, PUT, PATCH, DELETE
  std::string route;    // e.g. "/api/patients/{id}"
  std::string kind;     // "call" (request/reply) or "sse" (stream of a PUB topic)
  std::string topic;    // kind "sse": the PUB topic prefix streamed
  // Roles any one of which grants the op ("role" in the catalogue: a name or a list);
  // "any" grants it to every authenticated caller, and "admin" is granted everything.
  std::vector<std::string> roles;
  // The gateway's local development mode (--anonymous-ingest) lets requests with no
  // credential run this op ("anonymous_in_dev": true in the catalogue).
  bool anonymous_in_dev = false;
  // kind "sse", optional: the op (same service) that replays, as a streamed reply of
  // {events: [{seq, event}]} parts, the messages after a client's Last-Event-ID.
  std::string resume_op;
  // kind "sse", optional: the op (same service) that publishes {type: "mark", token} on
  // the stream's topic. With it the gateway subscribes to the topic only while a client
  // streams it, and echoes a mark to know when its subscription is in place.
  std::string mark_op;
  std::string summary;
  // HTTP request headers passed to the service, each as a body field named
  // "http_<header>" (lower case, '-' as '_'), e.g. If-Match -> "http_if_match".
  std::vector<std::string> headers;
  std::shared_ptr<const json_schema> schema;  // null when the op takes no validated body
};

class op_catalogue {
 public:
  // Parses "ops.json" (the service list and the ops every service answers) and each
  // "ops/<service>.json" (one service's ops) from `files`, and compiles every schema it references.
  // Every problem (missing field, unknown schema file, duplicate op or route) is an error that
  // names the op.
  static result<op_catalogue> load(const std::vector<embedded_file>& files);

  const std::vector<op_spec>& ops() const { return ops_; }
  const std::vector<std::string>& services() const { return services_; }
  const op_spec* find(std::string_view op) const;
  // The ops a backend must answer: its own and the "*" ones.
  std::vector<const op_spec*> ops_of(std::string_view service) const;

 private:
  std::vector<op_spec> ops_;
  std::vector<std::string> services_;
};

}  // namespace suite
