// How both outbox consumers (the SMS dispatcher and the webhook dispatcher) record what became of
// each row they claimed: one store job per outcome, submitted to the writer so that the outcomes
// of one pass commit together, and a wait for all of them before the pass ends.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "adapters/store/store.hpp"

namespace rabta::gateway {

class OutcomeRecorder {
 public:
  // `label` names the rows in the log line of an outcome that could not be recorded
  // ("outbox 12: sent not recorded: ..."); never a payload.
  OutcomeRecorder(store::Store& store, std::string label);
  OutcomeRecorder(const OutcomeRecorder&) = delete;
  OutcomeRecorder& operator=(const OutcomeRecorder&) = delete;
  ~OutcomeRecorder() { wait(); }

  void sent(std::int64_t id, std::string provider_id, std::int64_t now);
  void retry(std::int64_t id, std::int64_t not_before, std::string error, std::int64_t now);
  void cancel(std::int64_t id, std::string reason, std::int64_t now);
  void dead(std::int64_t id, std::string error, std::int64_t now);
  // Blocks until every outcome submitted so far has been committed or has failed.
  void wait();

 private:
  void add(std::int64_t outbox_id, const char* what, store::Job job);

  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    int outstanding = 0;
  };
  store::Store& store_;
  std::string label_;
  std::shared_ptr<State> state_;
};

}  // namespace rabta::gateway
