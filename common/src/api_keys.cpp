#include "suite/api_keys.hpp"

#include <fstream>
#include <sstream>

#include <sodium.h>

namespace suite {
namespace {

constexpr std::size_t key_id_bytes = 6, secret_bytes = 32, salt_bytes = 16;

// libsodium asks for sodium_init() before any other call: it picks the CPU's fastest
// implementations and readies the random source (getrandom(2)). Thread-safe; the first
// caller runs it. Only random bytes depend on its success: the hashes are pure functions.
bool sodium_ready() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

result<std::string> random_bytes(std::size_t n) {
  if (!sodium_ready()) {
    return make_error(500, "no_randomness", "libsodium did not initialise (sodium_init)");
  }
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

bool from_hex(std::string_view hex, std::string& out) {
  if (hex.size() % 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out.clear();
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

bool is_name(const std::string& s) {
  return !s.empty() && s.find_first_of(" \t\r\n") == std::string::npos;
}

std::string salted_hash(std::string_view salt, std::string_view key) {
  std::string input;
  input.reserve(salt.size() + key.size());
  input.append(salt).append(key);
  return sha256(input);
}

}  // namespace

std::string to_hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string sha256(std::string_view data) {
  (void)sodium_ready();
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  (void)sodium_ready();
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()),
                              key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(data.data()),
                                data.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&state, mac);
  return std::string(reinterpret_cast<const char*>(mac), sizeof mac);
}

bool equal_in_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

result<minted_api_key> mint_api_key(const std::string& principal, const std::string& tenant,
                                    const std::vector<std::string>& roles) {
  if (!is_name(principal) || !is_name(tenant)) {
    return make_error(400, "bad_key_spec",
                      "principal and tenant must be non-empty, without blanks");
  }
  for (const auto& role : roles) {
    if (!is_name(role) || role.find(',') != std::string::npos)
      return make_error(400, "bad_key_spec",
                        "role '" + role + "' is empty or holds a blank or comma");
  }
  auto id = random_bytes(key_id_bytes);
  auto secret = random_bytes(secret_bytes);
  auto salt = random_bytes(salt_bytes);
  if (!id) return id.error();
  if (!secret) return secret.error();
  if (!salt) return salt.error();
  minted_api_key out;
  out.entry.key_id = to_hex(*id);
  out.key = "sk_" + out.entry.key_id + "_" + to_hex(*secret);
  out.entry.salt_hex = to_hex(*salt);
  out.entry.hash_hex = to_hex(salted_hash(*salt, out.key));
  out.entry.principal = principal;
  out.entry.tenant = tenant;
  out.entry.roles = roles;
  return out;
}

std::string api_key_line(const api_key_entry& e) {
  std::string roles;
  for (const auto& r : e.roles) roles += (roles.empty() ? "" : ",") + r;
  if (roles.empty()) roles = "-";
  return e.key_id + " " + e.salt_hex + " " + e.hash_hex + " " + e.principal + " " + e.tenant + " " +
         roles;
}

std::string_view api_key_id(std::string_view key) {
  if (!key.starts_with("sk_")) return {};
  auto rest = key.substr(3);
  auto underscore = rest.find('_');
  if (underscore == std::string_view::npos || underscore == 0) return {};
  return rest.substr(0, underscore);
}

bool api_key_matches(const api_key_entry& entry, std::string_view key) {
  std::string salt, expected;
  if (!from_hex(entry.salt_hex, salt) || !from_hex(entry.hash_hex, expected)) return false;
  auto actual = salted_hash(salt, key);
  return equal_in_constant_time(actual, expected);
}

result<api_key_table> parse_api_keys(std::string_view text) {
  api_key_table table;
  std::istringstream lines{std::string(text)};
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream fields(line);
    api_key_entry e;
    std::string roles, extra;
    auto where = "keys file line " + std::to_string(number) + ": ";
    if (!(fields >> e.key_id >> e.salt_hex >> e.hash_hex >> e.principal >> e.tenant >> roles) ||
        (fields >> extra)) {
      return make_error(400, "bad_keys_file",
                        where + "expected 6 fields: key_id salt hash principal tenant roles");
    }
    std::string scratch;
    if (!from_hex(e.key_id, scratch) || scratch.empty())
      return make_error(400, "bad_keys_file", where + "key id is not hex");
    if (!from_hex(e.salt_hex, scratch) || scratch.size() < 8)
      return make_error(400, "bad_keys_file", where + "salt is not hex of at least 8 bytes");
    if (!from_hex(e.hash_hex, scratch) || scratch.size() != 32)
      return make_error(400, "bad_keys_file", where + "hash is not 64 hex digits (SHA-256)");
    if (roles != "-") {
      std::size_t start = 0;
      while (start <= roles.size()) {
        auto comma = roles.find(',', start);
        if (comma == std::string::npos) comma = roles.size();
        if (comma == start) return make_error(400, "bad_keys_file", where + "an empty role");
        e.roles.push_back(roles.substr(start, comma - start));
        start = comma + 1;
      }
    }
    auto id = e.key_id;
    if (!table.emplace(id, std::move(e)).second)
      return make_error(400, "bad_keys_file", where + "key id " + id + " is listed twice");
  }
  return table;
}

result<api_key_table> load_api_keys_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(400, "bad_keys_file", "cannot read keys file " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto table = parse_api_keys(text.str());
  if (!table) {
    auto e = table.error();
    e.message = path + ": " + e.message;
    return e;
  }
  return table;
}

}  // namespace suite
