// Everything `rabta serve` runs, built from a validated config in one place: the services a
// request reaches (USSD, SMS, the caseworker API and console, /metrics), the outbox's consumers
// (SMS and webhook dispatchers) and the periodic jobs (idle-session sweep, weekly check-ins,
// escalation, retention, key rotation), each on a PassLoop. serve() adds only what belongs to the
// process: the database lock, the listening socket and the signals. tests/cli/wiring_test.cpp
// builds it the same way from the shipped config, so the wiring itself is tested.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "adapters/common/clock.hpp"
#include "adapters/store/store.hpp"
#include "flows/engine.hpp"
#include "gateway/checkins/scheduler.hpp"
#include "gateway/cli/validate.hpp"
#include "gateway/http/http_server.hpp"
#include "gateway/inbound/app.hpp"
#include "gateway/inbound/metrics.hpp"
#include "gateway/inbound/responder_ussd.hpp"
#include "gateway/inbound/sms_service.hpp"
#include "gateway/inbound/ussd_service.hpp"
#include "gateway/ops/keys.hpp"
#include "gateway/outbound/dispatcher.hpp"
#include "gateway/outbound/pass_loop.hpp"
#include "gateway/outbound/ussd_reply.hpp"
#include "gateway/outbound/webhook_dispatcher.hpp"
#include "gateway/responders/case_service.hpp"
#include "gateway/responders/caseworker_api.hpp"
#include "gateway/responders/escalation.hpp"
#include "gateway/settings/config.hpp"

namespace rabta::gateway {

// The SMS service's limits as configured ([sms]).
SmsPolicy sms_policy_of(const Config& config);

// The HTTP server's address, limits and threads as configured ([server]).
HttpServerOptions http_server_options(const Config& config);

class Wiring {
 public:
  // `config` has its public_url set (where Kannel's delivery reports come back); `plan` is
  // validate_config's, without errors. The store, clock and ids outlive the Wiring. `timer`
  // schedules the /healthz deadline on the HTTP event loop (null: no deadline). Throws
  // std::runtime_error with the reason serve refuses to start for.
  Wiring(const Config& config, StartupPlan& plan, store::Store& store, const common::Clock& clock,
         flows::IdSource& ids, Timer timer);
  ~Wiring();  // stops the background work first
  Wiring(const Wiring&) = delete;
  Wiring& operator=(const Wiring&) = delete;

  App& app() { return *app_; }
  UssdService& ussd() { return *ussd_; }
  SmsService& sms() { return *sms_; }
  Dispatcher& dispatcher() { return *dispatcher_; }
  // The sender of asynchronous USSD gateways' screens; null when none is configured.
  UssdReplyDispatcher* ussd_replies() { return ussd_replies_.get(); }

  // The dispatchers and every periodic job; stop() finishes the passes in progress. Idempotent.
  void start();
  void stop();

  // One idle-session sweep (what the "sessions" loop runs every 30 s): sessions with no hop for
  // the idle time (USSD) or the conversation timeout (SMS) end as dropped (SAFETY W4).
  void sweep_idle_sessions();

 private:
  double random01();

  const Config& config_;
  store::Store& store_;
  const common::Clock& clock_;
  std::mutex rng_mutex_;
  std::mt19937_64 rng_;

  std::shared_ptr<const SmsTexts> texts_;
  std::unique_ptr<common::Pseudonymizer> pseudonymizer_;
  std::shared_ptr<common::FieldCipher> cipher_;
  std::shared_ptr<const flows::Engine> engine_;
  std::unique_ptr<UssdService> ussd_;
  std::unique_ptr<SmsService> sms_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<UssdReplyDispatcher> ussd_replies_;  // null without an asynchronous gateway
  std::shared_ptr<const Roster> roster_;
  std::unique_ptr<CaseService> cases_;
  std::unique_ptr<Escalation> escalation_;
  // The case-management system's (when enabled), then one per referral partner.
  std::vector<std::unique_ptr<WebhookDispatcher>> webhooks_;
  std::unique_ptr<ResponderUssd> responder_menu_;  // after cases_: it holds a reference to it
  std::unique_ptr<CaseworkerApi> api_;
  std::unique_ptr<Scheduler> scheduler_;
  Metrics metrics_;
  std::unique_ptr<App> app_;
  std::unique_ptr<KeyRotation> key_rotation_;
  // Last: their threads stop before the services they call go.
  std::unique_ptr<PassLoop> sweep_loop_, checkin_loop_, escalation_loop_, retention_loop_;
  bool started_ = false;
};

}  // namespace rabta::gateway
