// A small blocking HTTP/1.1 client for tests (Boost.Beast), one keep-alive connection.
// Errors at the socket level come back as status 0 with the message in `body`.
// Unless made with credential::none, it sends the test admin key (test_credentials.hpp)
// as X-API-Key on each request that sets neither X-API-Key nor Authorization itself.
#pragma once

#include <map>
#include <memory>
#include <string>

namespace suite::test {

struct http_response {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-cased names
};

enum class credential { admin, none };

class http_client {
 public:
  http_client(std::string host, int port, credential send = credential::admin);
  ~http_client();

  http_response request(const std::string& method, const std::string& target,
                        const std::string& body = {},
                        const std::map<std::string, std::string>& headers = {});
  http_response get(const std::string& target) { return request("GET", target); }
  http_response post(const std::string& target, const std::string& body) {
    return request("POST", target, body);
  }

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// One request on a fresh connection.
http_response http_once(int port, const std::string& method, const std::string& target,
                        const std::string& body = {},
                        const std::map<std::string, std::string>& headers = {},
                        credential send = credential::admin);

}  // namespace suite::test
