// test_actors: the CAF actor system configuration of tests: two scheduler threads, as on
// the 2-core machines the suite is sized for. Hold it as a member before the system:
//   suite::test::test_actors config;
//   caf::actor_system system{config};
#pragma once

#include <caf/all.hpp>

namespace suite::test {

class test_actors : public caf::actor_system_config {
 public:
  test_actors() { set("scheduler.max-threads", 2); }
};

}  // namespace suite::test
