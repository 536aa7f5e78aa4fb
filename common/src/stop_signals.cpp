#include "suite/stop_signals.hpp"

#include <pthread.h>
#include <signal.h>

namespace suite {

std::function<int()> block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return [set] {
    int signal = 0;
    sigwait(&set, &signal);
    return signal;
  };
}

}  // namespace suite
