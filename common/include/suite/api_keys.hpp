// api_keys: API keys as the gateway checks them, stored only as salted hashes.
//
// A key is "sk_<key id>_<secret>": the key id (12 hex digits) is public and picks the
// entry; the secret (64 hex digits: 256 random bits from libsodium's randombytes_buf,
// i.e. the kernel's getrandom) is never stored. An entry keeps SHA-256(salt || key) with
// a per-key random 16-byte salt.
//
// The keys file holds one entry per line, fields separated by blanks:
//   <key id> <salt hex> <sha256 hex> <principal> <tenant> <role,role,...>
// Blank lines and lines starting with '#' are ignored; "-" as roles means none.
// A bad line is an error naming its line number, so a typo stops the start.
//
// Verification hashes the presented key and compares in constant time
// (sodium_memcmp), so its time does not depend on how much of the hash matched.
// Everything here is stateless or immutable after load: thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "suite/result.hpp"

namespace suite {

struct api_key_entry {
  std::string key_id;
  std::string salt_hex;
  std::string hash_hex;
  std::string principal;
  std::string tenant;
  std::vector<std::string> roles;
};

struct minted_api_key {
  std::string key;  // the plain key: shown once, never stored
  api_key_entry entry;
};

// A new random key for `principal` in `tenant` with `roles`. Fails only if the
// system's random source fails, or a name holds a blank or is empty.
result<minted_api_key> mint_api_key(const std::string& principal, const std::string& tenant,
                                    const std::vector<std::string>& roles);

// The keys file line of `entry` (no newline).
std::string api_key_line(const api_key_entry& entry);

// Key id of a presented key ("" when it is not of the form sk_<id>_<secret>).
std::string_view api_key_id(std::string_view key);

// True when `key` hashes, with the entry's salt, to the entry's hash.
bool api_key_matches(const api_key_entry& entry, std::string_view key);

// Entries of a keys file by key id.
using api_key_table = std::unordered_map<std::string, api_key_entry>;
result<api_key_table> parse_api_keys(std::string_view text);
result<api_key_table> load_api_keys_file(const std::string& path);

// Lower-case hex of `bytes`; SHA-256 of `data` and HMAC-SHA256 (RFC 2104) of `data`
// under `key` (32 raw bytes each, libsodium's); whether `a` and `b` are equal, in a time
// that depends only on their sizes.
std::string to_hex(std::string_view bytes);
std::string sha256(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);
bool equal_in_constant_time(std::string_view a, std::string_view b);

}  // namespace suite
