#include "gateway/inbound/metrics.hpp"

#include <iomanip>
#include <sstream>

namespace rabta::gateway {

namespace {

// Label values here are rabta's own words; escape anyway, as the format requires.
std::string escape(std::string_view v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void head(std::ostringstream& o, const char* name, const char* type, const char* help) {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

// A family of one unlabelled sample.
template <typename Value>
void single(std::ostringstream& o, const char* name, const char* type, const char* help,
            Value value) {
  head(o, name, type, help);
  o << name << ' ' << value << '\n';
}

}  // namespace

void Metrics::count_request(std::string_view route, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{std::string(route), status}];
}

void Metrics::observe_hop(std::chrono::microseconds latency) {
  const double s = static_cast<double>(latency.count()) / 1e6;
  for (std::size_t i = 0; i < kHopBuckets.size(); ++i)
    if (s <= kHopBuckets[i]) {
      ++hop_buckets_[i];
      break;
    }
  ++hop_count_;
  hop_micros_ += static_cast<std::uint64_t>(latency.count());
}

std::string Metrics::render(const store::StoreStats& st, const store::MetricsSnapshot& db,
                            const DispatchCounters& d, std::int64_t now_ms) const {
  std::ostringstream o;
  o << std::setprecision(10);
  head(o, "rabta_http_requests_total", "counter", "HTTP requests by route and status code.");
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, n] : requests_)
      o << "rabta_http_requests_total{route=\"" << escape(key.first) << "\",status=\"" << key.second
        << "\"} " << n << '\n';
  }

  head(o, "rabta_ussd_hop_seconds", "histogram",
       "Time from a USSD hop's arrival to its reply, the commit included.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kHopBuckets.size(); ++i) {
    cumulative += hop_buckets_[i].load();
    o << "rabta_ussd_hop_seconds_bucket{le=\"" << kHopBuckets[i] << "\"} " << cumulative << '\n';
  }
  const auto count = hop_count_.load();
  o << "rabta_ussd_hop_seconds_bucket{le=\"+Inf\"} " << count << '\n';
  o << "rabta_ussd_hop_seconds_sum " << static_cast<double>(hop_micros_.load()) / 1e6 << '\n';
  o << "rabta_ussd_hop_seconds_count " << count << '\n';

  head(o, "rabta_store_commit_batch_size", "histogram",
       "Jobs committed together by the store's single writer (group commit).");
  cumulative = 0;
  for (std::size_t i = 0; i < st.batch_buckets.size(); ++i) {
    cumulative += st.batch_buckets[i];
    o << "rabta_store_commit_batch_size_bucket{le=\"" << store::StoreStats::kBatchBounds[i]
      << "\"} " << cumulative << '\n';
  }
  o << "rabta_store_commit_batch_size_bucket{le=\"+Inf\"} " << st.batches << '\n';
  o << "rabta_store_commit_batch_size_sum " << st.jobs << '\n';
  o << "rabta_store_commit_batch_size_count " << st.batches << '\n';
  single(o, "rabta_store_failed_jobs_total", "counter", "Store jobs rolled back on an error.",
         st.failed_jobs);
  single(o, "rabta_store_jobs_total", "counter", "Store jobs run by the writer.", st.jobs);
  single(o, "rabta_store_commits_total", "counter",
         "Transactions committed (each a WAL write and an fsync at synchronous=full).", st.commits);
  single(o, "rabta_store_shed_total", "counter",
         "Requests refused with a fast 503 because [database] max_queue writes were waiting.",
         st.shed);
  single(o, "rabta_store_unchanged_batches_total", "counter",
         "Batches whose jobs changed nothing, ended without a commit (an idle pass).",
         st.unchanged);

  head(o, "rabta_outbox_rows", "gauge", "Outbox rows by status (sent rows until purged).");
  for (const auto& [status, n] : db.outbox_by_status)
    o << "rabta_outbox_rows{status=\"" << escape(status) << "\"} " << n << '\n';
  head(o, "rabta_outbox_oldest_pending_age_seconds", "gauge",
       "Age of the oldest message waiting to be sent (0 when none).");
  o << "rabta_outbox_oldest_pending_age_seconds "
    << (db.oldest_pending_at > 0 ? static_cast<double>(now_ms - db.oldest_pending_at) / 1000 : 0)
    << '\n';
  single(o, "rabta_case_alerts_failing", "gauge",
         "Open cases whose current alert is failing (retried; the next rung is alerted at once).",
         db.failing_alerts);
  single(o, "rabta_outbox_dead_letters", "gauge",
         "Messages given up on (rabta outbox list --dead): look at each.", db.dead_letters);
  single(o, "rabta_outbox_unconfirmed", "gauge",
         "Messages to women in doubt after a crash, never sent twice (rabta outbox list "
         "--unconfirmed).",
         db.unconfirmed);
  single(o, "rabta_sms_delivery_failures", "gauge",
         "Sent messages whose delivery report says they failed or were rejected.",
         db.delivery_failures);
  head(o, "rabta_dispatch_total", "counter", "Outcomes of send attempts since start.");
  o << "rabta_dispatch_total{channel_kind=\"sms\",outcome=\"sent\"} " << d.sent << '\n'
    << "rabta_dispatch_total{channel_kind=\"sms\",outcome=\"retried\"} " << d.retried << '\n'
    << "rabta_dispatch_total{channel_kind=\"sms\",outcome=\"dead\"} " << d.dead << '\n'
    << "rabta_dispatch_total{channel_kind=\"sms\",outcome=\"refused\"} " << d.refused << '\n'
    << "rabta_dispatch_total{channel_kind=\"webhook\",outcome=\"sent\"} " << d.webhooks_sent << '\n'
    << "rabta_dispatch_total{channel_kind=\"webhook\",outcome=\"retried\"} " << d.webhooks_retried
    << '\n'
    << "rabta_dispatch_total{channel_kind=\"webhook\",outcome=\"dead\"} " << d.webhooks_dead
    << '\n';

  head(o, "rabta_cases_open", "gauge", "Cases nobody has acknowledged yet, by severity.");
  for (const char* sev : {"low", "normal", "high", "critical"}) {
    const auto it = db.open_cases.find(sev);
    o << "rabta_cases_open{severity=\"" << sev << "\"} "
      << (it == db.open_cases.end() ? 0 : it->second) << '\n';
  }
  head(o, "rabta_cases_oldest_unacknowledged_age_seconds", "gauge",
       "Age of the oldest open case nobody has acknowledged (0 when none).");
  o << "rabta_cases_oldest_unacknowledged_age_seconds "
    << (db.oldest_open_case_at > 0 ? static_cast<double>(now_ms - db.oldest_open_case_at) / 1000
                                   : 0)
    << '\n';
  return o.str();
}

}  // namespace rabta::gateway
