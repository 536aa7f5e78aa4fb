#include "loadgen/load_engine.hpp"

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "loadgen/arrival_schedule.hpp"
#include "loadgen/op_memory.hpp"

namespace loadgen {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::size_t max_error_samples = 5;

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// What all workers share: the clock origin, the ticket counter and the stop flag.
struct run_state {
  explicit run_state(const load_plan& p)
      : plan(p), ticket_limit(p.warmup_requests + p.request_count) {}

  const load_plan& plan;
  clock_type::time_point start;
  clock_type::time_point measure_from;  // for a time warm-up
  clock_type::time_point end;           // for a duration run
  std::uint64_t ticket_limit;           // for a count run: warm-up + measured
  std::atomic<std::uint64_t> tickets{0};
  std::atomic<bool> stop{false};
  std::mutex errors_mutex;  // only taken on failures
  std::vector<std::string> error_samples;
  std::atomic<bool> stopped_on_error{false};
};

class worker;

// One connection. In a closed loop it sends its next request as soon as the last is
// answered (after the think time); in an open loop its worker hands it each request
// with the time the schedule meant it to leave (issue_at).
class virtual_user final : public channel_listener {
 public:
  virtual_user(worker& owner, std::size_t index);
  void start();                                    // closed loop only
  void issue_at(clock_type::time_point intended);  // open loop only
  void finish();
  void check_timeout(clock_type::time_point now);

  void on_response(const response_view& response) override;

 private:
  void issue();
  void wait_until(clock_type::time_point when);

  worker& owner_;
  std::size_t index_;
  std::unique_ptr<channel> channel_;
  asio::steady_timer timer_;
  bool open_loop_ = false;
  clock_type::time_point intended_{};
  clock_type::time_point sent_{};
  std::uint64_t ticket_ = 0;
  std::size_t op_ = 0;
  bool in_flight_ = false;
  std::string target_;
  std::string body_;
};

class worker {
 public:
  worker(run_state& state, transport& transport, const value_pools& pools, unsigned index,
         unsigned worker_count)
      : state_(state),
        transport_(transport),
        rng_(state.plan.seed * 1000003 + index),
        pools_(pools),
        render_{rng_, pools_, index + 1ull, worker_count},
        sweep_(io_),
        arrivals_(io_) {
    if (state.plan.model == arrival_model::open) {
      // This worker's share of the run's arrivals (rate / workers, staggered against the
      // other workers' shares), sent on whichever of its connections is idle.
      schedule_.emplace(state.plan.rate_per_s, state.plan.ramp, state.plan.poisson, worker_count,
                        index, state.plan.seed);
    }
    std::size_t most_captures = 0;
    for (const auto& spec : state.plan.mix) {
      most_captures = std::max(most_captures, spec.captures.size());
      ops_.emplace_back();
      ops_.back().name = spec.name;
      cumulative_weight_ += spec.weight;
      weights_.push_back(cumulative_weight_);
    }
    found_.resize(most_captures);
  }

  void add_user(std::size_t index) {
    users_.push_back(std::make_unique<virtual_user>(*this, index));
  }

  void run() {
    active_ = users_.size();
    if (active_ == 0) return;
    const double cpu_before = thread_cpu_seconds();
    if (schedule_) {
      idle_.reserve(users_.size());
      for (auto it = users_.rbegin(); it != users_.rend(); ++it) idle_.push_back(it->get());
      backlog_.resize(users_.size());
      next_arrival_ = state_.start + schedule_->next();
      arrive();
    } else {
      for (auto& user : users_) user->start();
    }
    sweep();
    io_.run();
    cpu_seconds_ = thread_cpu_seconds() - cpu_before;
  }

  double cpu_seconds() const { return cpu_seconds_; }

  void user_finished() {
    if (--active_ > 0) return;
    sweep_.cancel();
    arrivals_.cancel();
  }

  // Open loop: a connection is free. It takes the longest-waiting arrival, or waits for
  // the next one; once the schedule is over it finishes.
  void user_idle(virtual_user& user) {
    if (backlog_count_ > 0) {
      const auto intended = backlog_[backlog_head_];
      backlog_head_ = (backlog_head_ + 1) % backlog_.size();
      --backlog_count_;
      return user.issue_at(intended);
    }
    if (arrivals_over_) return user.finish();
    idle_.push_back(&user);
  }

  std::size_t pick_op() {
    if (weights_.size() == 1) return 0;
    const double u = std::uniform_real_distribution<double>(0, cumulative_weight_)(rng_);
    const auto it = std::upper_bound(weights_.begin(), weights_.end(), u);
    return std::min<std::size_t>(static_cast<std::size_t>(it - weights_.begin()),
                                 weights_.size() - 1);
  }

  void record(std::size_t op, const response_view& response, clock_type::time_point intended,
              clock_type::time_point sent, clock_type::time_point now, bool measured) {
    const request_spec& spec = state_.plan.mix[op];
    const bool expected = response.status != 0 &&
                          (spec.expect_status.empty()
                               ? response.status >= 200 && response.status < 300
                               : std::find(spec.expect_status.begin(), spec.expect_status.end(),
                                           response.status) != spec.expect_status.end());
    if (expected && !spec.captures.empty()) {
      // All of a response's captures or none, so that pools filled together stay paired.
      bool all_found = true;
      for (std::size_t c = 0; c < spec.captures.size() && all_found; ++c) {
        all_found = find_json_field(response.body, spec.captures[c].field, found_[c].text,
                                    found_[c].is_string);
      }
      if (all_found) {
        for (std::size_t c = 0; c < spec.captures.size(); ++c) {
          pools_.add(spec.captures[c].pool, found_[c].text, found_[c].is_string);
        }
      }
    }
    if (!measured) {
      ++warmup_answers_;
      if (!expected) note_failure(spec, response);
      return;
    }
    first_sent_ = std::min(first_sent_, sent);
    last_sent_ = std::max(last_sent_, sent);
    schedule_lag_.record(sent - intended);
    op_result& stats = ops_[op];
    ++stats.status_counts[response.status];
    if (!expected) {
      ++stats.errors;
      note_failure(spec, response);
      return;
    }
    ++stats.count;
    stats.events += spec.events_per_request;
    stats.corrected->record(now - intended);
    stats.uncorrected->record(now - sent);
    first_measured_ = std::min(first_measured_, intended);
    last_answer_ = std::max(last_answer_, now);
  }

  run_state& state() { return state_; }
  transport& transport_ref() { return transport_; }
  asio::io_context& io() { return io_; }
  render_context& render() { return render_; }
  std::vector<op_result>& ops() { return ops_; }
  value_pools& pools() { return pools_; }
  clock_type::time_point first_measured() const { return first_measured_; }
  clock_type::time_point last_answer() const { return last_answer_; }
  const latency_histogram& schedule_lag() const { return schedule_lag_; }
  clock_type::time_point first_sent() const { return first_sent_; }
  clock_type::time_point last_sent() const { return last_sent_; }
  std::uint64_t warmup_answers() const { return warmup_answers_; }

 private:
  void note_failure(const request_spec& spec, const response_view& response) {
    if (!state_.plan.allow_errors) {
      state_.stop = true;
      state_.stopped_on_error = true;
    }
    std::lock_guard lock(state_.errors_mutex);
    if (state_.error_samples.size() >= max_error_samples) return;
    std::string sample = spec.name + ": ";
    if (response.status == 0) {
      sample.append(response.error);
    } else {
      sample.append("status ").append(std::to_string(response.status));
      if (!response.body.empty()) {
        sample.append(": ").append(response.body.substr(0, 200));
      }
    }
    state_.error_samples.push_back(std::move(sample));
  }

  // Open loop: hands every arrival that is due to an idle connection, or queues it (in a
  // ring that grows only when it is full, so a steady run allocates nothing) until one
  // is free, then sleeps until the next. Time spent queued counts in the request's
  // latency, which is measured from `intended`.
  void arrive() {
    const auto now = clock_type::now();
    while (next_arrival_ <= now) {
      const bool schedule_over =
          state_.plan.duration.count() > 0
              ? next_arrival_ >= state_.end
              : state_.tickets.load(std::memory_order_relaxed) >= state_.ticket_limit;
      if (schedule_over || state_.stop.load(std::memory_order_relaxed)) return end_arrivals();
      if (!idle_.empty()) {
        virtual_user* user = idle_.back();
        idle_.pop_back();
        user->issue_at(next_arrival_);
      } else {
        queue_arrival(next_arrival_);
      }
      if (active_ == 0) return;  // a count run's last ticket is gone
      next_arrival_ = state_.start + schedule_->next();
    }
    arrivals_.expires_at(next_arrival_);
    arrivals_.async_wait(
        bind_op_memory(arrivals_memory_, [this](const boost::system::error_code& ec) {
          if (!ec) arrive();
        }));
  }

  void queue_arrival(clock_type::time_point intended) {
    if (backlog_count_ == backlog_.size()) {
      std::vector<clock_type::time_point> larger(backlog_.size() * 2 + 16);
      for (std::size_t i = 0; i < backlog_count_; ++i)
        larger[i] = backlog_[(backlog_head_ + i) % backlog_.size()];
      backlog_ = std::move(larger);
      backlog_head_ = 0;
    }
    backlog_[(backlog_head_ + backlog_count_) % backlog_.size()] = intended;
    ++backlog_count_;
  }

  // Requests already due still go out (their connections take them as they free up);
  // idle connections finish now, busy ones when answered and nothing is queued.
  void end_arrivals() {
    arrivals_over_ = true;
    auto idle = std::move(idle_);
    idle_.clear();
    for (auto* user : idle) user->finish();
  }

  // Aborts requests that have waited longer than the timeout, every 100 ms; one timer
  // per worker is far cheaper than arming one per request.
  void sweep() {
    sweep_.expires_after(std::chrono::milliseconds(100));
    sweep_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || active_ == 0) return;
      const auto now = clock_type::now();
      for (auto& user : users_) user->check_timeout(now);
      sweep();
    });
  }

  run_state& state_;
  transport& transport_;
  asio::io_context io_{1};
  std::mt19937_64 rng_;
  value_pools pools_;
  render_context render_;
  asio::steady_timer sweep_;
  asio::steady_timer arrivals_;
  op_memory arrivals_memory_;                 // the arrivals timer's wait, one at a time
  std::optional<arrival_schedule> schedule_;  // open loop only
  clock_type::time_point next_arrival_{};
  std::vector<virtual_user*> idle_;
  std::vector<clock_type::time_point> backlog_;  // a ring: backlog_count_ from backlog_head_
  std::size_t backlog_head_ = 0;
  std::size_t backlog_count_ = 0;
  bool arrivals_over_ = false;
  std::vector<std::unique_ptr<virtual_user>> users_;
  std::vector<op_result> ops_;
  std::vector<double> weights_;
  double cumulative_weight_ = 0;
  std::size_t active_ = 0;
  clock_type::time_point first_measured_ = clock_type::time_point::max();
  clock_type::time_point last_answer_ = clock_type::time_point::min();
  clock_type::time_point first_sent_ = clock_type::time_point::max();
  latency_histogram schedule_lag_;
  clock_type::time_point last_sent_ = clock_type::time_point::min();
  std::uint64_t warmup_answers_ = 0;
  double cpu_seconds_ = 0;
  struct found_field {
    std::string_view text;
    bool is_string = false;
  };
  std::vector<found_field> found_;  // one response's captures, before they are added
};

virtual_user::virtual_user(worker& owner, std::size_t index)
    : owner_(owner), index_(index), timer_(owner.io()) {
  channel_ = owner.transport_ref().open(owner.io(), *this);
  open_loop_ = owner.state().plan.model == arrival_model::open;
  target_.reserve(256);
  body_.reserve(1024);
}

void virtual_user::start() {
  const run_state& state = owner_.state();
  const load_plan& plan = state.plan;
  // Users join evenly over the ramp.
  const auto offset = plan.connections > 1 ? plan.ramp * static_cast<std::int64_t>(index_) /
                                                 static_cast<std::int64_t>(plan.connections)
                                           : std::chrono::nanoseconds(0);
  wait_until(state.start + offset);
}

void virtual_user::issue_at(clock_type::time_point intended) {
  intended_ = intended;
  issue();
}

void virtual_user::wait_until(clock_type::time_point when) {
  if (when <= clock_type::now()) return issue();
  timer_.expires_at(when);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) issue();
  });
}

void virtual_user::issue() {
  run_state& state = owner_.state();
  const load_plan& plan = state.plan;
  const auto now = clock_type::now();
  if (state.stop.load(std::memory_order_relaxed)) return finish();
  if (plan.duration.count() > 0 && (open_loop_ ? intended_ : now) >= state.end) return finish();
  ticket_ = state.tickets.fetch_add(1, std::memory_order_relaxed);
  if (plan.duration.count() == 0 && ticket_ >= state.ticket_limit) return finish();

  if (!open_loop_) intended_ = now;
  op_ = owner_.pick_op();
  const request_spec& spec = plan.mix[op_];
  target_.clear();
  body_.clear();
  if (!spec.target.render(owner_.render(), target_) || !spec.body.render(owner_.render(), body_)) {
    // A pick from a pool nothing has filled yet: an error of the scenario, reported
    // like a failed request so it is seen; posted, not called, so that a user that
    // keeps failing this way cannot recurse.
    sent_ = now;
    in_flight_ = true;
    asio::post(owner_.io(), [this] {
      on_response({0, {}, "a ${pick:...} pool is empty (no earlier step captured into it)"});
    });
    return;
  }
  sent_ = now;
  in_flight_ = true;
  channel_->send({spec.method, target_, body_});
}

void virtual_user::on_response(const response_view& response) {
  in_flight_ = false;
  run_state& state = owner_.state();
  const load_plan& plan = state.plan;
  const auto now = clock_type::now();
  const bool measured = ticket_ >= plan.warmup_requests && intended_ >= state.measure_from;
  owner_.record(op_, response, intended_, sent_, now, measured);

  if (open_loop_) {
    owner_.user_idle(*this);
  } else if (plan.think_time.count() > 0) {
    wait_until(now + plan.think_time);
  } else {
    issue();
  }
}

void virtual_user::check_timeout(clock_type::time_point now) {
  if (in_flight_ && now - sent_ > owner_.state().plan.timeout) channel_->abort();
}

void virtual_user::finish() { owner_.user_finished(); }

}  // namespace

std::uint64_t run_result::total_count() const {
  std::uint64_t n = 0;
  for (const auto& op : ops) n += op.count;
  return n;
}

std::uint64_t run_result::total_errors() const {
  std::uint64_t n = 0;
  for (const auto& op : ops) n += op.errors;
  return n;
}

std::uint64_t run_result::total_events() const {
  std::uint64_t n = 0;
  for (const auto& op : ops) n += op.events;
  return n;
}

latency_histogram run_result::merged(bool corrected) const {
  latency_histogram all;
  for (const auto& op : ops) all.add(corrected ? *op.corrected : *op.uncorrected);
  return all;
}

run_result run_load(const load_plan& plan, transport& transport, const value_pools& pools) {
  run_state state(plan);
  const unsigned worker_count =
      std::max(1u, std::min<unsigned>(plan.threads, static_cast<unsigned>(plan.connections)));
  std::vector<std::unique_ptr<worker>> workers;
  for (unsigned w = 0; w < worker_count; ++w) {
    workers.push_back(std::make_unique<worker>(state, transport, pools, w, worker_count));
  }
  for (std::size_t u = 0; u < plan.connections; ++u) workers[u % worker_count]->add_user(u);

  // A short lead lets every thread arm its first timer before the schedule begins.
  state.start = clock_type::now() + std::chrono::milliseconds(20);
  state.measure_from = state.start + plan.warmup_time;
  state.end = state.measure_from + plan.duration;

  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&w] {
      // Linux lets a sleeping thread wake up to 50 us late by default ("timer slack");
      // that lateness would show up as latency measured from the intended send time.
      prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
      w->run();
    });
  }
  for (auto& t : threads) t.join();

  run_result result;
  auto first = clock_type::time_point::max();
  auto last = clock_type::time_point::min();
  auto first_sent = clock_type::time_point::max();
  auto last_sent = clock_type::time_point::min();
  result.ops.reserve(plan.mix.size());
  for (std::size_t op = 0; op < plan.mix.size(); ++op) {
    result.ops.emplace_back();
    result.ops.back().name = plan.mix[op].name;
  }
  for (auto& w : workers) {
    for (std::size_t op = 0; op < plan.mix.size(); ++op) {
      op_result& into = result.ops[op];
      op_result& from = w->ops()[op];
      into.count += from.count;
      into.errors += from.errors;
      into.events += from.events;
      for (const auto& [status, n] : from.status_counts) into.status_counts[status] += n;
      into.corrected->add(*from.corrected);
      into.uncorrected->add(*from.uncorrected);
    }
    first = std::min(first, w->first_measured());
    last = std::max(last, w->last_answer());
    result.schedule_lag.add(w->schedule_lag());
    result.cpu_seconds += w->cpu_seconds();
    first_sent = std::min(first_sent, w->first_sent());
    last_sent = std::max(last_sent, w->last_sent());
    result.warmup_answers += w->warmup_answers();
  }
  if (first < last) result.measured_seconds = std::chrono::duration<double>(last - first).count();
  if (first_sent < last_sent) {
    result.sending_seconds = std::chrono::duration<double>(last_sent - first_sent).count();
  }
  result.error_samples = std::move(state.error_samples);
  result.stopped_on_error = state.stopped_on_error;
  result.pools = workers.front()->pools();
  return result;
}

}  // namespace loadgen
