#include "gateway/outbound/recorder.hpp"

#include <spdlog/spdlog.h>

#include <utility>

namespace rabta::gateway {

OutcomeRecorder::OutcomeRecorder(store::Store& store, std::string label)
    : store_(store), label_(std::move(label)), state_(std::make_shared<State>()) {}

void OutcomeRecorder::add(std::int64_t outbox_id, const char* what, store::Job job) {
  {
    std::lock_guard lock(state_->mutex);
    ++state_->outstanding;
  }
  store_.submit(std::move(job),
                [state = state_, label = label_, outbox_id, what](const store::JobResult& r) {
                  if (!r.ok)
                    spdlog::error("{} {}: {} not recorded: {}", label, outbox_id, what, r.error);
                  std::lock_guard lock(state->mutex);
                  --state->outstanding;
                  state->cv.notify_all();
                });
}

void OutcomeRecorder::sent(std::int64_t id, std::string provider_id, std::int64_t now) {
  add(id, "sent", [id, provider_id = std::move(provider_id), now](store::Tx& tx) {
    tx.outbox_sent(id, provider_id, now);
  });
}

void OutcomeRecorder::retry(std::int64_t id, std::int64_t not_before, std::string error,
                            std::int64_t now) {
  add(id, "retry", [id, not_before, error = std::move(error), now](store::Tx& tx) {
    tx.outbox_retry(id, not_before, error, now);
  });
}

void OutcomeRecorder::cancel(std::int64_t id, std::string reason, std::int64_t now) {
  add(id, "cancel",
      [id, reason = std::move(reason), now](store::Tx& tx) { tx.outbox_cancel(id, reason, now); });
}

void OutcomeRecorder::dead(std::int64_t id, std::string error, std::int64_t now) {
  add(id, "dead",
      [id, error = std::move(error), now](store::Tx& tx) { tx.outbox_dead(id, error, now); });
}

void OutcomeRecorder::wait() {
  std::unique_lock lock(state_->mutex);
  state_->cv.wait(lock, [this] { return state_->outstanding == 0; });
}

}  // namespace rabta::gateway
