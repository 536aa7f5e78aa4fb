#include "route_table.hpp"

#include <algorithm>

namespace suite::gateway {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 1;  // skip the leading '/'
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string url_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

route_table::route_table(const op_catalogue& catalogue) : services_(catalogue.services()) {
  for (const auto& spec : catalogue.ops()) {
    route r{&spec, {}};
    for (auto part : split_path(spec.route)) {
      bool param = part.size() > 2 && part.front() == '{' && part.back() == '}';
      r.segments.push_back({std::string(param ? part.substr(1, part.size() - 2) : part), param});
    }
    routes_.push_back(std::move(r));
  }
  // Literal segments win over parameters: "/api/patients/search" before "/api/patients/{id}".
  std::stable_sort(routes_.begin(), routes_.end(), [](const route& a, const route& b) {
    auto literals = [](const route& r) {
      return std::count_if(r.segments.begin(), r.segments.end(),
                           [](const segment& s) { return !s.is_param; });
    };
    return literals(a) > literals(b);
  });
}

result<route_match> route_table::match(std::string_view method, std::string_view target,
                                       std::string* allowed) const {
  std::string_view path = target, query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  if (path.empty() || path.front() != '/')
    return make_error(404, "not_found", "no route for " + std::string(path));
  auto parts = split_path(path);
  std::string methods;
  for (const auto& r : routes_) {
    if (r.segments.size() != parts.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < parts.size() && same; ++i) {
      same = r.segments[i].is_param ? !parts[i].empty() : r.segments[i].text == parts[i];
    }
    if (!same) continue;
    if (r.op->method != method) {
      if (methods.find(r.op->method) == std::string::npos)
        methods += (methods.empty() ? "" : ", ") + r.op->method;
      continue;
    }
    route_match m;
    m.op = r.op;
    m.service = r.op->service;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (!r.segments[i].is_param) continue;
      std::string value = url_decode(parts[i], false);
      if (r.segments[i].text == "service" && r.op->service == "*") {
        if (std::find(services_.begin(), services_.end(), value) == services_.end()) {
          return make_error(404, "unknown_service", "no service named '" + value + "'");
        }
        m.service = value;
      }
      m.params.push_back({r.segments[i].text, std::move(value)});
    }
    while (!query.empty()) {
      auto amp = query.find('&');
      auto pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
      if (pair.empty()) continue;
      auto eq = pair.find('=');
      std::string name = url_decode(pair.substr(0, eq), true);
      std::string value = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1), true);
      bool taken = std::any_of(m.params.begin(), m.params.end(),
                               [&](const extra_field& f) { return f.name == name; });
      if (!taken && !name.empty()) m.params.push_back({std::move(name), std::move(value)});
    }
    return m;
  }
  if (!methods.empty()) {
    if (allowed) *allowed = methods;
    return make_error(
        405, "method_not_allowed",
        std::string(method) + " is not allowed on " + std::string(path) + "; allowed: " + methods);
  }
  return make_error(404, "not_found", "no route for " + std::string(path));
}

}  // namespace suite::gateway
