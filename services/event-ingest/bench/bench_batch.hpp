// The request body both event-ingest benches send: one batch of `size` agent events in
// the shape of the anchors.md workload (event ids unique per client, batch number and
// index; 20 batches share a session).
#pragma once

#include <cstdio>
#include <string>

namespace event_ingest::bench {

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
