// load_engine: runs a load_plan against a transport and measures it.
//
// The plan's connections are spread over `threads` worker threads, each running its
// own io_context; a worker owns its connections, random generator, value pools and
// statistics, so the hot path takes no lock: the only shared state is an atomic
// ticket counter (request count and warm-up) and a stop flag. Statistics are merged
// when the workers have finished.
//
// Closed loop: each virtual user sends, waits for the answer, thinks, sends again;
// latency is from send to answer. Open loop: each worker follows its share of the
// arrival_schedule and sends each arrival on whichever of its connections is idle,
// queueing it while all are busy; latency is measured both from the intended send
// time (corrected for coordinated omission: a stalled server makes every request
// scheduled behind the stall late) and from the actual send (uncorrected), as wrk2
// does.
// Only answers with an expected status are timed; others count as errors.
//
// run() blocks until the run is over; it is not meant to be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loadgen/latency_histogram.hpp"
#include "loadgen/load_plan.hpp"
#include "loadgen/request_transport.hpp"
#include "loadgen/value_pools.hpp"

namespace loadgen {

struct op_result {
  std::string name;
  std::uint64_t count = 0;                     // measured answers with an expected status
  std::uint64_t errors = 0;                    // measured failures: unexpected status or no answer
  std::uint64_t events = 0;                    // count x events_per_request
  std::map<int, std::uint64_t> status_counts;  // 0 = no answer
  // Heap-allocated: each is ~36 KB.
  std::unique_ptr<latency_histogram> corrected = std::make_unique<latency_histogram>();
  std::unique_ptr<latency_histogram> uncorrected = std::make_unique<latency_histogram>();
};

struct run_result {
  std::vector<op_result> ops;   // in the plan's mix order
  double measured_seconds = 0;  // first measured send to last measured answer
  // First to last actual send of the measured requests: in open loop, how closely the
  // generator kept its schedule (requests / sending_seconds ~ the rate asked for).
  double sending_seconds = 0;
  // Open loop: how late each request left after its intended time (timer wake-up,
  // all of its worker's connections busy). Part of the corrected latency; large values
  // mean the generator, not the server, fell behind (more threads, or connections).
  latency_histogram schedule_lag;
  double cpu_seconds = 0;  // CPU time of the worker threads: the generator's own cost
  std::uint64_t warmup_answers = 0;
  std::vector<std::string> error_samples;  // the first few failures, for the report
  bool stopped_on_error = false;
  value_pools pools;  // worker 0's pools after the run (all of them with one thread)

  std::uint64_t total_count() const;
  std::uint64_t total_errors() const;
  std::uint64_t total_events() const;
  latency_histogram merged(bool corrected) const;
};

run_result run_load(const load_plan& plan, transport& transport, const value_pools& pools);

}  // namespace loadgen
