// test_process: starts one of the suite's binaries as a real child process for
// end-to-end tests, with its output in a log file, and stops it (SIGTERM, or SIGKILL
// to simulate a crash). The destructor always kills what is still running, so a
// failing test leaves nothing behind. Not thread-safe; one owner.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace suite::test {

// Directory of the suite's binaries (build/bin), from the SUITE_BIN_DIR define.
std::string bin_dir();

class test_process {
 public:
  test_process(std::string binary, std::vector<std::string> args, std::string log_path = {});
  ~test_process();
  test_process(const test_process&) = delete;
  test_process& operator=(const test_process&) = delete;

  void start();
  void kill_hard();  // SIGKILL, as a crash would
  int stop();        // SIGTERM and wait; returns the exit status
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  std::string log() const;

 private:
  std::string binary_;
  std::vector<std::string> args_;
  std::string log_path_;
  pid_t pid_ = -1;
};

// A TCP port on 127.0.0.1 that was free a moment ago and that this process has not
// handed out before. It is below the kernel's ephemeral range, where no bind(0) or
// outgoing connection can take it; a test process beside this one could (each starts
// at a random place in the range, so that is unlikely).
int free_port();

// Polls `condition` every 5 ms until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace suite::test
