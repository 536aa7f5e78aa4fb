// process_collector: the standard process_* metrics (names as the official Prometheus
// clients use them), read from /proc/self at every scrape. Thread-safe (stateless).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace suite {

class process_collector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace suite
