// One inbound SMS, from decoded message to reply, inside a store transaction (writer thread).
// The same flows as USSD, one question per message; keywords start a flow, STOP/START opt out
// and in; a reply to the weekly check-in SMS is recognised; floods and auto-reply loops get no
// answer (SAFETY T6); a report is never confirmed by SMS unless she asked for it (S5).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/store/store.hpp"
#include "flows/engine.hpp"
#include "gateway/inbound/ussd_service.hpp"
#include "gateway/responders/case_service.hpp"
#include "gateway/settings/sms_texts.hpp"

namespace rabta::gateway {

struct SmsPolicy {
  std::chrono::milliseconds conversation_timeout{3'600'000};
  std::chrono::milliseconds throttle_window{600'000};
  int throttle_max_messages = 20;  // more from one number within the window: no answer
  std::chrono::milliseconds loop_window{600'000};
  int loop_max_repeats = 3;  // the same text this many times within the window: no answer
  std::chrono::milliseconds reply_ttl{3'600'000};  // a reply not sent by then is dropped
};

struct SmsIn {
  std::string channel;  // configured channel name, e.g. "kannel"
  std::string provider_message_id;
  std::string pseudonym;
  std::string phone;  // E.164; used only to queue a reply through the outbox
  std::string text;
};

struct SmsOut {
  std::string reply;  // "" = no reply
  bool ucs2 = false;
  bool queued = false;     // the reply went to the outbox (channels without in-band replies)
  bool duplicate = false;  // the same provider message id again: same answer, no effect
  std::string outcome;     // for logs and metrics, never her text
  std::int64_t session = 0;
};

class SmsService {
 public:
  SmsService(std::shared_ptr<const flows::Engine> engine, std::shared_ptr<const SmsTexts> texts,
             SmsPolicy policy, SessionPolicy sessions, const common::Clock& clock,
             flows::IdSource& ids, const common::FieldCipher& cipher,
             const common::Pseudonymizer& key);

  SmsOut handle(store::Tx& tx, const SmsIn& in, bool reply_in_band);
  // SMS conversations with no message since `idle_before` end as dropped (SAFETY W4): a report
  // left half-way is raised. Returns how many ended (at most `limit`).
  int expire_idle(store::Tx& tx, std::int64_t idle_before, int limit = 500);

  // Responders answer alerts by SMS ("ACK K7P2QX"): set once the responder queue is configured.
  // A responder's PIN is checked with the key (responder_pin_hash).
  void set_case_service(const CaseService* cases) { cases_ = cases; }

 private:
  std::string reply_text(const store::ContactRecord& contact, const flows::StepResult& r) const;

  std::shared_ptr<const flows::Engine> engine_;
  std::shared_ptr<const SmsTexts> texts_;
  SmsPolicy policy_;
  SessionPolicy sessions_;
  const common::Clock& clock_;
  flows::IdSource& ids_;
  const common::FieldCipher& cipher_;
  // Keys inbound.text_hash (SECURITY #11: without the key a word list cannot recover a text)
  // and responders' PINs.
  const common::Pseudonymizer& key_;
  const CaseService* cases_ = nullptr;

  // A message from a registered responder's phone.
  std::string responder_reply(store::Tx& tx, const store::ResponderRecord& responder,
                              const SmsIn& in, const std::string& normalised);
};

}  // namespace rabta::gateway
