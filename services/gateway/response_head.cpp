#include "response_head.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include <boost/beast/http/status.hpp>

#include "suite/msgpack_value.hpp"

namespace suite::gateway {

namespace {

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool owned_by_writer(std::string_view name) {
  constexpr std::array<std::string_view, 4> owned{"Content-Type", "Content-Length",
                                                  "Transfer-Encoding", "Connection"};
  return std::any_of(owned.begin(), owned.end(),
                     [&](std::string_view o) { return same_name(name, o); });
}

}  // namespace

void begin_head(std::string& out, int status, std::string_view content_type, bool keep_alive) {
  char digits[8];
  auto end = std::to_chars(digits, digits + sizeof digits, status).ptr;
  auto reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  out.append("HTTP/1.1 ").append(digits, end).append(" ");
  out.append(reason.data(), reason.size()).append("\r\n");
  if (!content_type.empty()) add_header(out, "Content-Type", content_type);
  if (!keep_alive) out.append("Connection: close\r\n");
}

bool add_header(std::string& out, std::string_view name, std::string_view value) {
  if (name.empty() || name.find_first_of("\r\n:") != std::string_view::npos ||
      value.find_first_of("\r\n") != std::string_view::npos)
    return false;
  out.append(name).append(": ").append(value).append("\r\n");
  return true;
}

void add_service_headers(std::string& out, const msgpack::object* headers) {
  if (!headers || headers->type != msgpack::type::MAP) return;
  for (std::uint32_t i = 0; i < headers->via.map.size; ++i) {
    const auto& kv = headers->via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR || kv.val.type != msgpack::type::STR) continue;
    auto name = as_string_view(kv.key);
    if (!owned_by_writer(name)) add_header(out, name, as_string_view(kv.val));
  }
}

}  // namespace suite::gateway
