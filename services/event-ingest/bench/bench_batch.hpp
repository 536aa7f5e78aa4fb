// What both event-ingest benches share: their --key=value arguments, and the request body
// they send.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace event_ingest::bench {

// `defaults` names every argument there is; an argument not among them, or not in the
// --key=value form, is refused with a message and exit status 2.
inline std::map<std::string, std::string> parse_args(int argc, char** argv,
                                                     std::map<std::string, std::string> defaults) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    if (!a.starts_with("--") || eq == std::string::npos || !defaults.count(a.substr(2, eq - 2))) {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      std::exit(2);
    }
    defaults[a.substr(2, eq - 2)] = a.substr(eq + 1);
  }
  return defaults;
}

// One batch of `size` agent events in the shape of the anchors.md workload (event ids
// unique per client, batch number and index; 20 batches share a session).
inline std::string make_batch(int client, long number, int size) {
  static const char* types[] = {"tool_use", "llm_request", "llm_response", "response"};
  std::string body = "{\"events\":[";
  for (int i = 0; i < size; ++i) {
    char event[512];
    std::snprintf(
        event, sizeof event,
        R"(%s{"event_id":"bench-%d-%ld-%d","session_id":"bench-session-%d-%ld","agent_type":"claude-code",)"
        R"("event_type":"%s","tool_name":"Bash","status":"success","tokens_in":%d,"tokens_out":%d,)"
        R"("model":"claude-3-5-sonnet","project":"suite","branch":"main","duration_ms":%d,)"
        R"("metadata":{"command":"ls -la","cwd":"/work/suite"}})",
        i ? "," : "", client, number, i, client, number / 20, types[i % 4], 100 + i, 20 + i, 5 + i);
    body += event;
  }
  return body + "]}";
}

}  // namespace event_ingest::bench
