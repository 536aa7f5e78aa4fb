// authenticator.hpp and api_keys.hpp without processes: key minting, the keys file,
// HS256 tokens and the role check.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "authenticator.hpp"
#include "suite/api_keys.hpp"

using namespace suite;
using namespace suite::gateway;

namespace {

op_spec op_with_roles(std::vector<std::string> roles) {
  op_spec op;
  op.op = "x.y";
  op.roles = std::move(roles);
  return op;
}

std::string write_keys(const std::string& text) {
  auto path =
      std::filesystem::temp_directory_path() / ("auth-test-keys-" + std::to_string(::getpid()));
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST_CASE("a minted key verifies against its line only; the file keeps no plain key") {
  auto minted = mint_api_key("alice", "t1", {"clinician", "billing"});
  REQUIRE(minted.ok());
  CHECK(minted->key.starts_with("sk_" + minted->entry.key_id + "_"));
  auto line = api_key_line(minted->entry);
  CHECK(line.find(minted->key.substr(16)) == std::string::npos);  // the secret is not stored
  auto table = parse_api_keys("# comment\n\n" + line + "\n");
  REQUIRE(table.ok());
  const auto& entry = table->at(minted->entry.key_id);
  CHECK(entry.roles == std::vector<std::string>{"clinician", "billing"});
  CHECK(api_key_matches(entry, minted->key));
  auto flipped = minted->key;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  CHECK(!api_key_matches(entry, flipped));
  CHECK(!api_key_matches(entry, ""));
  // Two keys for the same principal get different salts and hashes.
  auto again = mint_api_key("alice", "t1", {"clinician"});
  CHECK(again->entry.salt_hex != minted->entry.salt_hex);
  CHECK(!mint_api_key("has space", "t", {}).ok());
  CHECK(!mint_api_key("p", "t", {"a,b"}).ok());
}

TEST_CASE("a bad keys file line is an error naming the line") {
  auto good = api_key_line(mint_api_key("p", "t", {})->entry);
  CHECK(parse_api_keys(good).ok());
  CHECK(parse_api_keys(good)->begin()->second.roles.empty());
  for (const auto& bad :
       {std::string("abc def"), good + " extra", "zz" + good.substr(2),
        good.substr(0, good.find(' ', 13)) + " 1234 " + good.substr(good.find(' ', 13) + 1)}) {
    auto parsed = parse_api_keys("# first\n" + bad);
    CHECK_MESSAGE(!parsed.ok(), bad);
    if (!parsed.ok()) CHECK(parsed.error().message.find("line 2") != std::string::npos);
  }
  auto twice = parse_api_keys(good + "\n" + good);
  REQUIRE(!twice.ok());
  CHECK(twice.error().message.find("line 2") != std::string::npos);
  CHECK(twice.error().message.find("listed twice") != std::string::npos);
  CHECK(!load_api_keys_file("/nonexistent/keys").ok());
  CHECK(!authenticator::create("/nonexistent/keys", "").ok());
  CHECK(!authenticator::create("", "too-short").ok());
}

TEST_CASE("API keys and HS256 tokens authenticate; anything else is 401 with a reason") {
  auto minted = mint_api_key("bob", "tenant-x", {"monitor"});
  auto a =
      authenticator::create(write_keys(api_key_line(minted->entry) + "\n"), std::string(40, 's'));
  REQUIRE(a.ok());
  auto who = a->authenticate(minted->key, "");
  REQUIRE(who.ok());
  CHECK(who->principal == "bob");
  CHECK(who->tenant == "tenant-x");
  CHECK(who->roles == std::vector<std::string>{"monitor"});
  CHECK(a->authenticate("", "").error().code == "missing_credential");
  CHECK(a->authenticate("sk_nope_x", "").error().status == 401);

  const std::int64_t now = 1'700'000'000;
  auto token = [&](const std::string& claims, std::string_view alg = "HS256") {
    return "Bearer " + sign_hs256_token(claims, std::string(40, 's'), alg);
  };
  auto ok = a->authenticate(
      "", token(R"({"sub":"c","tenant":"t","roles":["admin"],"exp":1700000100})"), now);
  REQUIRE(ok.ok());
  CHECK(ok->principal == "c");
  CHECK(ok->roles == std::vector<std::string>{"admin"});
  CHECK(a->authenticate(
             "", "bearer " + token(R"({"sub":"c","tenant":"t","exp":1700000100})").substr(7), now)
            .ok());
  CHECK(a->authenticate("", token(R"({"sub":"c","tenant":"t","exp":1700000000})"), now)
            .error()
            .code == "token_expired");
  CHECK(a->authenticate("", token(R"({"sub":"c","tenant":"t","exp":1700000100,"nbf":1700000050})"),
                        now)
            .error()
            .code == "token_not_yet_valid");
  CHECK(a->authenticate("", token(R"({"sub":"c","tenant":"t","exp":1700000100,"nbf":1699999000})"),
                        now)
            .ok());
  CHECK(!a->authenticate("", token(R"({"sub":"c","tenant":"t","exp":1700000100})", "none"), now)
             .ok());
  CHECK(!a->authenticate("", token(R"({"sub":"c","tenant":"t","exp":1700000100})", "HS384"), now)
             .ok());
  CHECK(!a->authenticate("", token(R"({"sub":"c","tenant":"t","exp":"soon"})"), now).ok());
  CHECK(!a->authenticate("", token(R"([1,2])"), now).ok());
  CHECK(!a->authenticate("", "Bearer", now).ok());
  // Without a secret no token is accepted, however well formed.
  auto keys_only = authenticator::create("", "");
  CHECK(!keys_only->authenticate("", token(R"({"sub":"c","tenant":"t","exp":1700000100})"), now)
             .ok());
}

TEST_CASE("roles: one of the op's, or admin; any needs only a credential") {
  identity billing{"b", "t", {"billing"}, false};
  identity admin{"a", "t", {"admin"}, false};
  identity nobody{"n", "t", {}, false};
  CHECK(allowed(op_with_roles({"clinician", "billing"}), billing));
  CHECK(!allowed(op_with_roles({"clinician"}), billing));
  CHECK(allowed(op_with_roles({"clinician"}), admin));
  CHECK(allowed(op_with_roles({"any"}), nobody));
  CHECK(!allowed(op_with_roles({"admin"}), billing));
  CHECK(is_public(op_with_roles({"public"})));
  CHECK(!is_public(op_with_roles({"any"})));
}

TEST_CASE("HS256 signatures and the hashes under them match independent implementations") {
  // Reference values from Python's hmac/hashlib, for a short key and for one longer
  // than SHA-256's block, which HMAC hashes first.
  CHECK(sign_hs256_token(R"({"sub":"x"})", "Jefe-but-at-least-32-bytes-long-key!!") ==
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4In0."
        "vSu_9tSMSQ3Fzf4U_RAUi387LX1FoEY5NOD3Aco3dSM");
  CHECK(sign_hs256_token(
            R"({"sub":"x"})",
            "a-secret-longer-than-64-bytes-so-the-key-is-hashed-first-by-hmac-0123456789") ==
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4In0."
        "PdIe_vJ3-HtS56kjAoukD3LkfWfYsMDiQjvmCp9Suks");
  CHECK(to_hex(sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231, test case 2.
  CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(equal_in_constant_time("same bytes", "same bytes"));
  CHECK(!equal_in_constant_time("same bytes", "same bytez"));
  CHECK(!equal_in_constant_time("same", "same bytes"));
}
