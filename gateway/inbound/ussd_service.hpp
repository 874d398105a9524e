// One USSD hop, from decoded request to reply, inside a store transaction. Runs on the store's
// writer thread (so hops of one session are applied in order); the reply is sent only after the
// transaction commits.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/store/store.hpp"
#include "flows/engine.hpp"

namespace rabta::gateway {

struct UssdHop {
  std::string provider;       // adapter name
  std::string session_id;     // the aggregator's
  std::string pseudonym;      // of her phone number
  std::string phone;          // E.164: stored (encrypted) only if she consents to a callback
  std::string text;           // the aggregator's accumulated input path, or only the newest input
  bool text_is_path = true;   // false: `text` is only the newest input (adapters/ussd)
  std::int64_t sequence = 0;  // the aggregator's 1-based hop counter, 0 = none
  bool begins = false;        // the aggregator says the hop opens the session
  std::string service_code;   // the code she dialled, e.g. "*786#" (the duress code, SAFETY S4)
  // SAFETY S4 for the channel this hop came on: overrides SessionPolicy's when not empty.
  std::string duress_code_sha256;
};

struct UssdReply {
  bool end = false;
  std::string text;          // without CON/END
  std::int64_t session = 0;  // rabta's session id, for logs
  std::int64_t contact = 0;  // whose session it is
  int hop = 0;               // the session's hop this reply answers (1 = the first)
  std::string outcome;       // what happened, for logs and metrics (never what she typed)
};

struct SessionPolicy {
  std::chrono::milliseconds resume_window{600'000};
  std::chrono::milliseconds quiet_period{86'400'000};
  std::string checkin_answer_key;  // saving this answer answers her open weekly check-in
  // SAFETY S4: lowercase SHA-256 hex of the dialled code that means duress (e.g. of
  // "*786*9#"); "" = none. Dialled, it shows exactly the ordinary screens while the first hop
  // raises a critical "duress" case, committed before the first reply.
  std::string duress_code_sha256;
};

class UssdService {
 public:
  // `ids` is used only on the writer thread.
  UssdService(std::shared_ptr<const flows::Engine> engine, SessionPolicy policy,
              const common::Clock& clock, flows::IdSource& ids,
              const common::FieldCipher* cipher = nullptr);

  UssdReply handle_hop(store::Tx& tx, const UssdHop& hop);
  // The responder menu (responder_ussd.hpp): set once the responder queue is configured; a hop
  // from a registered responder's number then gets her menu, not the women's service.
  void set_responder_menu(const class ResponderUssd* menu) { responder_menu_ = menu; }
  // The aggregator's end-of-session notification, for the number whose pseudonym it names.
  // Returns false when that number has no such session (or the notification names no number).
  bool handle_end(store::Tx& tx, const std::string& provider, const std::string& session_id,
                  const std::string& status, const std::string& pseudonym = "");
  // Active USSD sessions with no hop since `idle_before` end as dropped (SAFETY W4): what a
  // quick exit raises is raised. Returns how many ended (at most `limit`).
  int expire_idle(store::Tx& tx, std::int64_t idle_before, int limit = 500);

  // The input a hop carries, from the previous hop's path and this one's (see PROTOCOLS §1.1:
  // the path grows by '*' + input; an input may itself contain '*').
  static std::string new_input(const std::string& previous_path, const std::string& path);

 private:
  flows::StepResult step_new_session(const store::ContactRecord& contact, const std::string& path,
                                     flows::IdSource& ids);
  bool at_entry(const flows::SessionState& state) const;
  void offer_resume_after(store::Tx& tx, std::int64_t contact_id, const flows::SessionState& before,
                          flows::StepResult& result);

  std::shared_ptr<const flows::Engine> engine_;
  SessionPolicy policy_;
  const common::Clock& clock_;
  flows::IdSource& ids_;
  const common::FieldCipher* cipher_;
  const class ResponderUssd* responder_menu_ = nullptr;
};

}  // namespace rabta::gateway
