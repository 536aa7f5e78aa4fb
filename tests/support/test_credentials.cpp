#include "test_credentials.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>

#include "suite/api_keys.hpp"

namespace suite::test {
namespace {

struct test_keys {
  std::string file;
  std::map<std::string, std::string> keys;  // name -> plain key
};

const test_keys& keys() {
  static std::once_flag once;
  static test_keys made;
  std::call_once(once, [] {
    struct spec {
      const char* name;
      const char* principal;
      const char* tenant;
      std::vector<std::string> roles;
    };
    const std::vector<spec> specs{
        {"admin", "admin", "default", {"admin"}},
        {"clinician", "clinician", "default", {"clinician"}},
        {"billing", "billing", "default", {"billing"}},
        {"agent", "agent", "default", {"ingest"}},
        {"monitor", "monitor", "default", {"monitor"}},
        {"rem-a", "rem-a", "tenant-a", {"rem.read", "rem.write"}},
        {"rem-b", "rem-b", "tenant-b", {"rem.read", "rem.write"}},
        {"no-roles", "nobody", "default", {}},
    };
    auto dir =
        std::filesystem::temp_directory_path() / ("suite-test-keys-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    made.file = (dir / "api-keys").string();
    std::ofstream out(made.file, std::ios::trunc);
    out << "# test keys of process " << ::getpid() << "\n";
    for (const auto& s : specs) {
      auto minted = mint_api_key(s.principal, s.tenant, s.roles);
      if (!minted) throw std::runtime_error("minting a test key failed: " + minted.error().message);
      made.keys[s.name] = minted->key;
      out << api_key_line(minted->entry) << "\n";
    }
    if (!out.flush()) throw std::runtime_error("cannot write " + made.file);
  });
  return made;
}

}  // namespace

std::vector<std::string> gateway_auth_flags() {
  return {"--api-keys-file=" + keys().file, "--jwt-secret=" + test_jwt_secret()};
}

std::vector<std::string> with_gateway_auth(std::vector<std::string> flags) {
  for (auto& flag : gateway_auth_flags()) flags.push_back(std::move(flag));
  return flags;
}

const std::string& api_key_of(const std::string& name) {
  auto it = keys().keys.find(name);
  if (it == keys().keys.end()) throw std::runtime_error("no test principal named " + name);
  return it->second;
}

const std::string& admin_api_key() { return api_key_of("admin"); }

std::map<std::string, std::string> api_key_header(const std::string& name) {
  return {{"X-API-Key", api_key_of(name)}};
}

const std::string& test_jwt_secret() {
  static const std::string secret = "test-secret-of-at-least-32-bytes-for-hs256";
  return secret;
}

}  // namespace suite::test
