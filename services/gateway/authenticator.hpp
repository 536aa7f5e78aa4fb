// authenticator: who is calling, and may they run this op. The gateway's front line
// (design.md, "Errors and bad input": 401 without or with a bad credential, 403
// without the role).
//
// Credentials, checked in this order:
//   - `X-API-Key: sk_<id>_<secret>`: looked up by key id in the keys file (api_keys.hpp,
//     salted SHA-256 hashes only) and compared in constant time.
//   - `Authorization: Bearer <jwt>`: HS256 only (the header's "alg" must be exactly
//     "HS256"; "none" and every other algorithm are refused), signature checked with
//     HMAC-SHA256 under the configured secret and compared in constant time; "exp" is
//     required and must be in the future, "nbf" when present must be in the past (no
//     leeway: keep clocks synchronised); claims "sub" (principal) and "tenant" are
//     required strings, "roles" an optional array of strings.
// A request presenting a credential that fails is refused even when anonymous access
// would have been allowed: a broken credential is a bug to surface, not to ignore.
//
// Roles (docs/security.md has the table): an op's catalogue entry lists the roles any
// one of which grants it; "any" means every authenticated caller; "public" needs no
// credential at all (sys.health, which /healthz already shows to everyone); "admin" is
// granted everything. Tenancy: the tenant is the credential's, never the request's.
//
// Immutable after create(): authenticate() and allowed() are const, allocate only the
// identity they return, and take no lock, so every io thread calls them concurrently.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "suite/api_keys.hpp"
#include "suite/op_catalogue.hpp"
#include "suite/result.hpp"

namespace suite::gateway {

struct identity {
  std::string principal;
  std::string tenant;
  std::vector<std::string> roles;
  bool anonymous = false;
};

class authenticator {
 public:
  // No keys file (empty path) and no secret: every credential is refused.
  static result<authenticator> create(const std::string& api_keys_file, std::string jwt_secret);
  authenticator() = default;

  // The caller's identity from the two headers (either may be empty). 401 errors:
  // "missing_credential" (neither given), "bad_api_key", "bad_token".
  result<identity> authenticate(std::string_view api_key, std::string_view authorization,
                                std::int64_t now_s = unix_seconds_now()) const;

  std::size_t key_count() const { return keys_.size(); }
  bool tokens_enabled() const { return !jwt_secret_.empty(); }

  static std::int64_t unix_seconds_now();

 private:
  result<identity> check_key(std::string_view key) const;
  result<identity> check_token(std::string_view token, std::int64_t now_s) const;

  api_key_table keys_;
  std::string jwt_secret_;
};

// True when `who` may run `op` (admin, "any" or "public", or one of the op's roles).
bool allowed(const op_spec& op, const identity& who);
// True when the op needs no credential (role "public").
bool is_public(const op_spec& op);

// An HS256 token over `payload_json` signed with `secret` (tools and tests). With
// `alg` other than HS256 the header says so and the signature is still HMAC-SHA256,
// which the authenticator must refuse; alg "none" gets an empty signature.
std::string sign_hs256_token(std::string_view payload_json, std::string_view secret,
                             std::string_view alg = "HS256");

}  // namespace suite::gateway
