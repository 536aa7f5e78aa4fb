// prometheus_text: reads the Prometheus text exposition format (what /metrics
// serves) into samples, and computes quantiles from histogram buckets the way
// PromQL's histogram_quantile does (linear within a bucket).
// Pure functions and plain data; thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loadgen {

struct prometheus_sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;

  const std::string& label(const std::string& key) const;
};

// Comment and malformed lines are skipped.
std::vector<prometheus_sample> parse_prometheus_text(std::string_view text);

// Cumulative buckets: (upper bound "le", count of observations <= le), +Inf last.
using histogram_buckets = std::vector<std::pair<double, double>>;

// Adds `from`'s counts to `into` bucket by bucket (same bounds), or subtracts them.
void add_buckets(histogram_buckets& into, const histogram_buckets& from, double sign = 1);
// The q-quantile (0..1) in the buckets' unit; 0 when there are no observations.
double histogram_quantile(double q, const histogram_buckets& buckets);

}  // namespace loadgen
