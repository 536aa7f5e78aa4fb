#include "authenticator.hpp"

#include <algorithm>

#include <rapidjson/document.h>

namespace suite::gateway {
namespace {

error_info unauthorized(std::string code, std::string message) {
  return make_error(401, std::move(code), std::move(message));
}

std::string base64url_encode(std::string_view in) {
  static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], table[v & 63]};
  }
  if (in.size() - i == 1) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {table[v >> 18], table[(v >> 12) & 63]};
  } else if (in.size() - i == 2) {
    unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63]};
  }
  return out;
}

bool base64url_decode(std::string_view in, std::string& out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (in.size() % 4 == 1) return false;
  out.clear();
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) return false;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return true;
}

}  // namespace

std::int64_t authenticator::unix_seconds_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

result<authenticator> authenticator::create(const std::string& api_keys_file,
                                            std::string jwt_secret) {
  authenticator a;
  if (!api_keys_file.empty()) {
    auto keys = load_api_keys_file(api_keys_file);
    if (!keys) return keys.error();
    a.keys_ = std::move(*keys);
  }
  if (!jwt_secret.empty() && jwt_secret.size() < 32) {
    return make_error(400, "weak_jwt_secret",
                      "jwt-secret must be at least 32 bytes (HS256 keys shorter than the hash "
                      "are guessable)");
  }
  a.jwt_secret_ = std::move(jwt_secret);
  return a;
}

result<identity> authenticator::authenticate(std::string_view api_key,
                                             std::string_view authorization,
                                             std::int64_t now_s) const {
  if (!api_key.empty()) return check_key(api_key);
  if (!authorization.empty()) {
    constexpr std::string_view bearer = "Bearer ";
    if (authorization.size() <= bearer.size() ||
        !std::equal(bearer.begin(), bearer.end(), authorization.begin(),
                    [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      return unauthorized("bad_token", "Authorization must be 'Bearer <token>'");
    }
    return check_token(authorization.substr(bearer.size()), now_s);
  }
  return unauthorized("missing_credential",
                      "this route needs a credential: header X-API-Key or Authorization: Bearer");
}

result<identity> authenticator::check_key(std::string_view key) const {
  auto id = api_key_id(key);
  auto entry = id.empty() ? keys_.end() : keys_.find(std::string(id));
  // An unknown id and a wrong secret get the same answer, so the answer reveals nothing.
  if (entry == keys_.end() || !api_key_matches(entry->second, key)) {
    return unauthorized("bad_api_key", "the API key is not valid");
  }
  return identity{entry->second.principal, entry->second.tenant, entry->second.roles, false};
}

result<identity> authenticator::check_token(std::string_view token, std::int64_t now_s) const {
  if (jwt_secret_.empty()) return unauthorized("bad_token", "bearer tokens are not accepted here");
  auto first = token.find('.');
  auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return unauthorized("bad_token", "the token is not three base64url parts");
  }
  std::string header_json, payload_json, signature;
  if (!base64url_decode(token.substr(0, first), header_json) ||
      !base64url_decode(token.substr(first + 1, second - first - 1), payload_json) ||
      !base64url_decode(token.substr(second + 1), signature)) {
    return unauthorized("bad_token", "the token is not valid base64url");
  }
  rapidjson::Document header;
  header.Parse(header_json.data(), header_json.size());
  if (header.HasParseError() || !header.IsObject() || !header.HasMember("alg") ||
      !header["alg"].IsString() || std::string_view(header["alg"].GetString()) != "HS256") {
    return unauthorized("bad_token", "only alg HS256 is accepted");
  }
  auto expected = hmac_sha256(jwt_secret_, token.substr(0, second));
  if (!equal_in_constant_time(signature, expected)) {
    return unauthorized("bad_token", "the token's signature is not valid");
  }
  rapidjson::Document parsed_claims;
  parsed_claims.Parse(payload_json.data(), payload_json.size());
  if (parsed_claims.HasParseError() || !parsed_claims.IsObject())
    return unauthorized("bad_token", "the token's claims are not a JSON object");
  // Read through a const view: RapidJSON's mutable member iterators compare ambiguously
  // under C++20's reversed operators (clang's -Wambiguous-reversed-operator).
  const rapidjson::Value& claims = parsed_claims;
  auto number = [&](const char* name) -> std::optional<std::int64_t> {
    auto it = claims.FindMember(name);
    if (it == claims.MemberEnd() || !it->value.IsNumber()) return std::nullopt;
    return it->value.IsInt64() ? it->value.GetInt64()
                               : static_cast<std::int64_t>(it->value.GetDouble());
  };
  auto exp = number("exp");
  if (!exp) return unauthorized("bad_token", "the token has no numeric exp claim");
  if (*exp <= now_s) return unauthorized("token_expired", "the token has expired");
  if (claims.HasMember("nbf")) {
    auto nbf = number("nbf");
    if (!nbf) return unauthorized("bad_token", "the token's nbf claim is not a number");
    if (*nbf > now_s)
      return unauthorized("token_not_yet_valid", "the token is not valid yet (nbf)");
  }
  identity who;
  auto text = [&](const char* name, std::string& out) {
    auto it = claims.FindMember(name);
    if (it == claims.MemberEnd() || !it->value.IsString() || it->value.GetStringLength() == 0)
      return false;
    out.assign(it->value.GetString(), it->value.GetStringLength());
    return true;
  };
  if (!text("sub", who.principal)) return unauthorized("bad_token", "the token has no sub claim");
  if (!text("tenant", who.tenant))
    return unauthorized("bad_token", "the token has no tenant claim");
  if (auto roles = claims.FindMember("roles"); roles != claims.MemberEnd()) {
    if (!roles->value.IsArray())
      return unauthorized("bad_token", "the token's roles is not an array");
    for (const auto& role : roles->value.GetArray()) {
      if (!role.IsString())
        return unauthorized("bad_token", "the token's roles holds a non-string");
      who.roles.emplace_back(role.GetString(), role.GetStringLength());
    }
  }
  return who;
}

bool is_public(const op_spec& op) {
  return std::find(op.roles.begin(), op.roles.end(), "public") != op.roles.end();
}

bool allowed(const op_spec& op, const identity& who) {
  for (const auto& role : op.roles) {
    if (role == "any" || role == "public") return true;
  }
  for (const auto& held : who.roles) {
    if (held == "admin") return true;
    if (std::find(op.roles.begin(), op.roles.end(), held) != op.roles.end()) return true;
  }
  return false;
}

std::string sign_hs256_token(std::string_view payload_json, std::string_view secret,
                             std::string_view alg) {
  std::string header = R"({"alg":")" + std::string(alg) + R"(","typ":"JWT"})";
  std::string signing_input = base64url_encode(header) + "." + base64url_encode(payload_json);
  if (alg == "none") return signing_input + ".";
  return signing_input + "." + base64url_encode(hmac_sha256(secret, signing_input));
}

}  // namespace suite::gateway
