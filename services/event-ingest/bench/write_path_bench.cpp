// event-ingest-write-bench: the CPU cost of each stage of event-ingest's write path, in
// one process and without the bus, so it can be measured on a busy machine: the figures
// are CPU time of the thread doing the stage (CLOCK_THREAD_CPUTIME_ID), per event, which
// other processes on the same cores barely change. Stages:
//   json->msgpack  what the gateway does with a batch body: json_to_packed against the
//                  events.batch schema of the embedded contract
//   prepare        parse the packed body, validate and encode each event (the bus server
//                  and the preparer actors)
//   commit         event_store::commit_group on a real RocksDB directory with the
//                  chosen sync policy: dedup, WriteBatch, WAL (+ sync), memtables
// plus the wall-clock rate of the commit stage alone and the background CPU (RocksDB's
// flush and compaction threads: the process's CPU minus this thread's).
//
//   build/bin/event-ingest-write-bench [--events=200000] [--batch=50] [--group=20]
//       [--sync=fsync|os] [--dir=D (kept afterwards)] [--block-cache-mb=4] [--memtable-mb=4]
//       [--compression=none|lz4]
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "bench_batch.hpp"
#include "event_model.hpp"
#include "event_store.hpp"
#include "pricing_table.hpp"
#include "suite/embedded_schemas.hpp"
#include "suite/envelope.hpp"
#include "suite/json_msgpack.hpp"
#include "suite/op_catalogue.hpp"

namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  auto args = event_ingest::bench::parse_args(argc, argv,
                                              {{"events", "200000"},
                                               {"batch", "50"},
                                               {"group", "20"},
                                               {"sync", "fsync"},
                                               {"dir", ""},
                                               {"block-cache-mb", "4"},
                                               {"memtable-mb", "4"},
                                               {"compression", "none"}});
  const long events = std::stol(args["events"]);
  const int batch = std::stoi(args["batch"]), group = std::stoi(args["group"]);
  std::string dir = args["dir"].empty() ? (std::filesystem::temp_directory_path() /
                                           ("event-ingest-write-bench-" + std::to_string(getpid())))
                                              .string()
                                        : args["dir"];
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  event_ingest::store_options options;
  options.path = dir;
  options.sync =
      args["sync"] == "os" ? event_ingest::sync_policy::os : event_ingest::sync_policy::fsync;
  options.block_cache_bytes = std::stoul(args["block-cache-mb"]) << 20;
  options.memtable_bytes = std::stoul(args["memtable-mb"]) << 20;
  options.compress = args["compression"] == "lz4";
  auto store = event_ingest::event_store::open(options);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().message.c_str());
    return 1;
  }
  auto prices =
      event_ingest::pricing_table::parse(event_ingest::pricing_table::embedded_json()).value();
  auto catalogue = suite::op_catalogue::load(suite::embedded_schema_files()).value();
  const suite::json_schema* batch_schema = catalogue.find("events.batch")->schema.get();

  double convert_cpu = 0, prepare_cpu = 0, commit_cpu = 0, commit_wall = 0;
  const double background_before = process_cpu_seconds() - thread_cpu_seconds();
  long stored = 0;
  double packed_bytes = 0;
  const long batches = (events + batch - 1) / batch;
  for (long first = 0; first < batches; first += group) {
    std::vector<std::vector<event_ingest::prepared_event>> prepared;
    for (long n = first; n < std::min(batches, first + group); ++n) {
      auto json = event_ingest::bench::make_batch(static_cast<int>(n % 40), n, batch);
      double t0 = thread_cpu_seconds();
      auto packed = suite::json_to_packed(json, batch_schema);
      double t1 = thread_cpu_seconds();
      if (!packed) {
        std::fprintf(stderr, "bad batch: %s\n", packed.error().message.c_str());
        return 1;
      }
      auto body = suite::parse_msgpack(packed->data(), packed->size());
      const auto* list = suite::find_field(body->object, "events");
      auto& out = prepared.emplace_back();
      auto now = suite::unix_ms_now();
      for (std::uint32_t i = 0; i < list->via.array.size; ++i) {
        auto event = event_ingest::prepare_event(list->via.array.ptr[i], prices, now);
        out.push_back(std::move(std::get<event_ingest::prepared_event>(event)));
        packed_bytes += static_cast<double>(out.back().packed.size());
      }
      double t2 = thread_cpu_seconds();
      convert_cpu += t1 - t0;
      prepare_cpu += t2 - t1;
    }
    std::vector<const std::vector<event_ingest::prepared_event>*> group_batches;
    for (const auto& b : prepared) group_batches.push_back(&b);
    auto wall0 = std::chrono::steady_clock::now();
    double t0 = thread_cpu_seconds();
    auto outcome = (*store)->commit_group(group_batches);
    commit_cpu += thread_cpu_seconds() - t0;
    commit_wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    if (!outcome) {
      std::fprintf(stderr, "commit failed: %s\n", outcome.error().message.c_str());
      return 1;
    }
    for (const auto& b : outcome->batches) stored += static_cast<long>(b.ids.size());
  }
  // Closing waits for the running flush and compaction, so their CPU is counted.
  store->reset();
  const double background = process_cpu_seconds() - thread_cpu_seconds() - background_before;
  const double n = static_cast<double>(stored);
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf(
      "event-ingest write path: %ld events stored, batches of %d, %d batches per group, "
      "sync=%s, compression=%s, load average %.2f\n\n",
      stored, batch, group, args["sync"].c_str(), args["compression"].c_str(), load[0]);
  std::printf("| stage | CPU per event |\n|---|---|\n");
  std::printf("| json->msgpack (the gateway's conversion) | %.2f us |\n", convert_cpu / n * 1e6);
  std::printf("| prepare (parse, validate, encode) | %.2f us |\n", prepare_cpu / n * 1e6);
  std::printf("| commit (dedup, WriteBatch, WAL, memtables) | %.2f us |\n", commit_cpu / n * 1e6);
  std::printf("| RocksDB background (flush, compaction) | %.2f us |\n", background / n * 1e6);
  std::printf(
      "\ncommit stage alone: %.0f events/s (wall, with the syncs); a stored event is %.0f "
      "bytes on average\n",
      n / commit_wall, packed_bytes / n);
  if (args["dir"].empty()) std::filesystem::remove_all(dir);  // a given --dir is kept
  return 0;
}
