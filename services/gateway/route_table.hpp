// route_table: the gateway's routing table, built from the op catalogue (never listed
// by hand). Matches a method and request target ("/api/x/42?limit=5") to its op and
// collects path parameters ({id}) and query parameters as extra body fields.
// Immutable after construction; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "suite/json_msgpack.hpp"
#include "suite/op_catalogue.hpp"
#include "suite/result.hpp"

namespace suite::gateway {

struct route_match {
  const op_spec* op = nullptr;
  std::string service;              // the backend that serves it (resolved for "*")
  std::vector<extra_field> params;  // path parameters first, then query parameters
};

class route_table {
 public:
  explicit route_table(const op_catalogue& catalogue);  // the catalogue must outlive it

  // 404 "not_found" when no route has this path; 405 "method_not_allowed" when one
  // does with another method (the message lists the allowed ones, `allowed` gets them).
  result<route_match> match(std::string_view method, std::string_view target,
                            std::string* allowed = nullptr) const;

 private:
  struct segment {
    std::string text;
    bool is_param = false;
  };
  struct route {
    const op_spec* op;
    std::vector<segment> segments;
  };
  std::vector<route> routes_;
  std::vector<std::string> services_;
};

// Decodes %XX escapes (and '+' as space when `plus_is_space`). Invalid escapes stay as is.
std::string url_decode(std::string_view text, bool plus_is_space);

}  // namespace suite::gateway
