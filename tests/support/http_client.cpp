#include "http_client.hpp"

#include <utility>  // Boost 1.74 Asio uses std::exchange without including it

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "test_credentials.hpp"

namespace suite::test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

struct http_client::impl {
  std::string host;
  int port;
  asio::io_context io;
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  credential send = credential::admin;

  void connect() {
    asio::ip::tcp::resolver resolver(io);
    stream = std::make_unique<beast::tcp_stream>(io);
    stream->expires_after(std::chrono::seconds(10));
    stream->connect(resolver.resolve(host, std::to_string(port)));
    buffer.clear();
  }
};

http_client::http_client(std::string host, int port, credential send)
    : impl_(std::make_unique<impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->send = send;
}

http_client::~http_client() = default;

http_response http_client::request(const std::string& method, const std::string& target,
                                   const std::string& body,
                                   const std::map<std::string, std::string>& headers) {
  http_response out;
  for (int attempt = 0; attempt < 2; ++attempt) {  // once more on a stale keep-alive connection
    try {
      if (!impl_->stream) impl_->connect();
      http::request<http::string_body> req(http::string_to_verb(method), target, 11);
      req.set(http::field::host, impl_->host);
      for (const auto& [k, v] : headers) req.set(k, v);
      if (impl_->send == credential::admin && !headers.count("X-API-Key") &&
          !headers.count("Authorization")) {
        req.set("X-API-Key", admin_api_key());
      }
      if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        req.set(http::field::content_type, "application/json");
        req.body() = body;
      }
      req.prepare_payload();
      impl_->stream->expires_after(std::chrono::seconds(30));
      http::write(*impl_->stream, req);
      http::response_parser<http::string_body> parser;
      parser.body_limit(64 << 20);
      http::read(*impl_->stream, impl_->buffer, parser);
      auto& res = parser.get();
      out.status = static_cast<int>(res.result_int());
      out.body = res.body();
      for (const auto& field : res) {
        std::string name(field.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(c));
        out.headers[name] = std::string(field.value());
      }
      if (!res.keep_alive()) impl_->stream.reset();
      return out;
    } catch (const std::exception& e) {
      impl_->stream.reset();
      out.status = 0;
      out.body = e.what();
    }
  }
  return out;
}

http_response http_once(int port, const std::string& method, const std::string& target,
                        const std::string& body, const std::map<std::string, std::string>& headers,
                        credential send) {
  http_client client("127.0.0.1", port, send);
  return client.request(method, target, body, headers);
}

}  // namespace suite::test
