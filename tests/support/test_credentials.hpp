// test_credentials: the one place end-to-end tests get credentials for the gateway.
//
// On first use it writes, in a temp dir of this test process, a keys file with one API
// key per test principal below (minted like `gateway --mint-api-key`, stored hashed),
// and fixes a JWT secret. A test starts the gateway with gateway_auth_flags() added to
// its flags (later flags win, so a test may still override any of them).
//
// http_client and http_once (http_client.hpp) send the admin key as X-API-Key on every
// request, unless the request sets its own X-API-Key or Authorization header, or the
// client was made with credential::none (to test what happens without one).
//
// Principals (name -> principal, tenant, roles):
//   admin      admin      default   admin
//   clinician  clinician  default   clinician
//   billing    billing    default   billing
//   agent      agent      default   ingest
//   monitor    monitor    default   monitor
//   rem-a      rem-a      tenant-a  rem.read, rem.write
//   rem-b      rem-b      tenant-b  rem.read, rem.write
//   no-roles   nobody     default   (none)
// Thread-safe after the first call (which happens on the test's main thread).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace suite::test {

// Flags that make a gateway accept the keys and tokens of this file.
std::vector<std::string> gateway_auth_flags();
// `flags` followed by gateway_auth_flags().
std::vector<std::string> with_gateway_auth(std::vector<std::string> flags);

// The plain API key of a principal named above (a test failure for an unknown name).
const std::string& api_key_of(const std::string& name);
const std::string& admin_api_key();
// {"X-API-Key": key of `name`}
std::map<std::string, std::string> api_key_header(const std::string& name = "admin");

// The HS256 secret the gateway gets from gateway_auth_flags().
const std::string& test_jwt_secret();

}  // namespace suite::test
