// rate_limiter.hpp with an explicit clock: burst, refill, Retry-After, callers apart.
#include <doctest/doctest.h>

#include "rate_limiter.hpp"

using namespace suite::gateway;
using namespace std::chrono_literals;

TEST_CASE("a caller gets its burst at once, then its rate; the refusal says how long to wait") {
  rate_limiter limits(10, 5);  // 10/s, burst 5
  auto t = std::chrono::steady_clock::time_point{} + 1000s;
  int passed = 0;
  for (int i = 0; i < 20; ++i) passed += limits.admit("p", t).allowed;
  CHECK(passed == 5);
  auto refused = limits.admit("p", t);
  CHECK(!refused.allowed);
  CHECK(refused.retry_after > 0ms);
  CHECK(refused.retry_after <= 100ms);
  CHECK(limits.admit("other", t).allowed);  // callers do not share a bucket
  CHECK(limits.admit("p", t + refused.retry_after).allowed);
  // After a full refill the whole burst is back, and no more.
  passed = 0;
  for (int i = 0; i < 20; ++i) passed += limits.admit("p", t + 10s).allowed;
  CHECK(passed == 5);
}

TEST_CASE("a limiter with rate 0 lets everything through") {
  rate_limiter off(0, 0);
  CHECK(!off.enabled());
  for (int i = 0; i < 1000; ++i) CHECK(off.admit("p").allowed);
}

TEST_CASE("many callers: the table forgets full buckets and keeps limiting the busy one") {
  rate_limiter limits(1, 1);
  auto t = std::chrono::steady_clock::time_point{} + 1000s;
  CHECK(limits.admit("busy", t).allowed);
  CHECK(!limits.admit("busy", t).allowed);
  for (int i = 0; i < 100000; ++i) (void)limits.admit("c" + std::to_string(i), t + 10s);
  CHECK(limits.tracked_callers() == 100001);  // all still inside their interval: kept
  CHECK(limits.admit("busy", t + 10s).allowed);
  CHECK(!limits.admit("busy", t + 10s).allowed);
  // Later, new callers push the shards past their mark and the full buckets go.
  for (int i = 0; i < 64 * 8200; ++i) (void)limits.admit("d" + std::to_string(i), t + 20s);
  CHECK(limits.tracked_callers() < 64 * 8200 + 100001);
  CHECK(!limits.admit("d0", t + 20s).allowed);  // a caller still limited is never forgotten
}
