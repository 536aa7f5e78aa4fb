// located_json: parses a JSON document (comments and trailing commas allowed) and
// remembers where each member and array element starts, keyed by its path
// ("mix[2].weight"), so that a validator can point at the file and line of a bad
// field, not just name it.
//
// Plain data after parsing; safe to read from several threads.
#pragma once

#include <rapidjson/document.h>

#include <map>
#include <string>
#include <string_view>

namespace loadgen {

class located_json {
 public:
  // Returns "<file>:<line>:<column>: why" on a syntax error, "" on success.
  std::string parse(std::string_view text, const std::string& file_name);

  // Lays `derived` (an object) over this one (an object): each top-level member of
  // `derived` replaces the same member here whole, and a null removes it. Locations
  // follow the values they describe.
  void overlay(const located_json& derived);

  const rapidjson::Document& document() const { return document_; }
  // "<file>:<line>" of `path`, or of its nearest enclosing path that has one.
  std::string location_of(std::string_view path) const;

 private:
  struct location {
    std::string file;
    int line = 1;
  };
  rapidjson::Document document_;
  std::string file_;
  std::map<std::string, location, std::less<>> locations_;
};

}  // namespace loadgen
