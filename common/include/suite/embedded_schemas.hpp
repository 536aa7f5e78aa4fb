// The files of schemas/ (the op catalogue and the JSON Schemas of bodies), compiled
// into the suite_schemas library so every binary carries its contract.
#pragma once

#include <string_view>
#include <vector>

namespace suite {

struct embedded_file {
  std::string_view path;  // relative to schemas/, e.g. "ops.json", "bodies/sys.json"
  std::string_view content;
};

const std::vector<embedded_file>& embedded_schema_files();

}  // namespace suite
