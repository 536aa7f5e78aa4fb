// chat-cache: a bounded RAM cache in front of an Ollama / OpenAI-compatible LLM. Today
// it answers the sys ops; the cache comes with issue #6.
#include "suite/service_host.hpp"

int main(int argc, char** argv) {
  suite::service_host host("chat-cache", "tcp://127.0.0.1:5552", "127.0.0.1:9102");
  host.settings().add("llm", "http://127.0.0.1:11434", "LLM base URL (Ollama or OpenAI-compatible)");
  if (auto exit_code = host.configure(argc, argv)) return *exit_code;
  return host.run();
}
