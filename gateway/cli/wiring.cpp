#include "gateway/cli/wiring.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <stdexcept>
#include <utility>

#include "gateway/ops/retention.hpp"
#include "gateway/responders/console.hpp"
#include "gateway/responders/roster_sync.hpp"

namespace rabta::gateway {

HttpServerOptions http_server_options(const Config& config) {
  HttpServerOptions o;
  o.host = config.host;
  o.port = config.port;
  o.body_limit = config.body_limit;
  o.header_limit = config.header_limit;
  o.read_timeout = config.read_timeout;
  o.idle_timeout = config.idle_timeout;
  o.max_connections_per_peer = config.max_connections_per_peer;
  o.threads = config.threads;
  return o;
}

SmsPolicy sms_policy_of(const Config& config) {
  return {config.sms.conversation_timeout,  config.sms.throttle_window,
          config.sms.throttle_max_messages, config.sms.loop_window,
          config.sms.loop_max_repeats,      config.sms.reply_ttl};
}

Wiring::Wiring(const Config& config, StartupPlan& plan, store::Store& store,
               const common::Clock& clock, flows::IdSource& ids, Timer timer)
    : config_(config),
      store_(store),
      clock_(clock),
      rng_(std::random_device{}()),
      texts_(plan.texts),
      pseudonymizer_(std::move(plan.keys.pseudonymizer)),
      cipher_(plan.keys.cipher) {
  if (!plan.ok() || !pseudonymizer_ || !cipher_ || !plan.zone)
    throw std::runtime_error("the configuration has not been validated");
  const flows::Zone zone = *plan.zone;

  AppOptions app_options;
  app_options.ussd = plan.ussd;
  app_options.public_url = config.public_url;
  app_options.metrics_allow = config.metrics_allow;
  app_options.trusted_proxies = config.trusted_proxies;

  // SMS channels: one adapter each, built again now that the address for Kannel's delivery
  // reports is known (validated with the configured one).
  std::vector<ChannelRuntime> runtimes;
  std::vector<flows::Diagnostic> channel_errors;
  for (auto& ch : build_channels(config, config.public_url, channel_errors)) {
    app_options.channels.push_back({ch.name, ch.path, ch.adapter, ch.allow_from});
    runtimes.push_back({ch.name, ch.adapter, ch.rate_per_second});
  }
  if (!channel_errors.empty()) {
    std::string all;
    for (const auto& e : channel_errors) all += (all.empty() ? "" : "; ") + e.to_string();
    throw std::runtime_error(all);
  }

  engine_ = std::make_shared<const flows::Engine>(plan.flows.flows);
  // The duress code is each USSD channel's (UssdChannel::duress_code_sha256).
  const SessionPolicy policy{config.resume_window, config.quiet_period, texts_->answer_key, ""};
  ussd_ = std::make_unique<UssdService>(engine_, policy, clock, ids, cipher_.get());
  sms_ = std::make_unique<SmsService>(engine_, texts_, sms_policy_of(config), policy, clock, ids,
                                      *cipher_, *pseudonymizer_);

  DispatcherOptions dispatch_options;
  dispatch_options.max_attempts = config.outbox.max_attempts;
  dispatch_options.backoff_base = config.outbox.backoff_base;
  dispatch_options.backoff_cap = config.outbox.backoff_cap;
  dispatch_options.poll_interval = config.outbox.poll_interval;
  dispatch_options.lease = config.outbox.lease;
  dispatcher_ = std::make_unique<Dispatcher>(store, runtimes, *cipher_, clock, zone,
                                             dispatch_options, [this] { return random01(); });
  // The screens of asynchronous USSD gateways (kind = "http" with send.url).
  std::vector<UssdReplyChannel> async_ussd;
  for (const auto& u : plan.ussd)
    if (!u.adapter->replies_in_band()) async_ussd.push_back({u.name, u.adapter});
  if (!async_ussd.empty())
    ussd_replies_ =
        std::make_unique<UssdReplyDispatcher>(store, std::move(async_ussd), *cipher_, clock,
                                              UssdReplyOptions{}, [this] { return random01(); });
  app_options.cipher = cipher_;
  app_options.outbox_ready = [this] {
    dispatcher_->wake();
    if (ussd_replies_) ussd_replies_->wake();
  };

  // The responder queue: who is alerted about a case, how it escalates, and the caseworkers'
  // API and console.
  if (plan.roster) {
    roster_ = plan.roster;
    const auto synced = store.run([&](store::Tx& tx) {
      sync_roster(tx, *roster_, *pseudonymizer_, *cipher_, clock.now_ms());
    });
    if (!synced.ok)
      throw std::runtime_error("the responder roster could not be stored: " + synced.error);
    cases_ = std::make_unique<CaseService>(roster_, *cipher_, clock, roster_->outcomes);
    sms_->set_case_service(cases_.get());
    responder_menu_ = std::make_unique<ResponderUssd>(*cases_, *pseudonymizer_, clock,
                                                      roster_->responder_ussd_code);
    ussd_->set_responder_menu(responder_menu_.get());
    escalation_ = std::make_unique<Escalation>(
        store, roster_, *cipher_, clock, EscalationOptions{zone, roster_->alert_channel, 100});
    const auto add_sink = [&](const adapters::webhook::WebhookSink& sink,
                              const std::string& where) {
      try {
        webhooks_.push_back(std::make_unique<WebhookDispatcher>(
            store, sink, clock, WebhookDispatcherOptions{}, [this] { return random01(); }));
      } catch (const std::invalid_argument& e) {
        throw std::runtime_error(config.responders_file + ": " + where + ": " + e.what());
      }
    };
    if (roster_->webhook.enabled) add_sink(roster_->webhook, "[webhook]");
    for (const auto& partner : roster_->partners) add_sink(partner, "[[partners]] " + partner.name);
    api_ = std::make_unique<CaseworkerApi>(store, *cases_, clock, zone);
    app_options.prefix_routes.emplace_back("/api/v1/", [this](HttpRequest&& r, Responder respond) {
      api_->handle(std::move(r), std::move(respond));
    });
    app_options.prefix_routes.emplace_back("/console", console_handler());
  }

  // GET /metrics (Prometheus): the app's counters and the database's gauges when scraped.
  app_options.metrics = &metrics_;
  app_options.metrics_text = [this] {
    store::MetricsSnapshot snapshot;
    store_.read([&](store::Tx& tx) { snapshot = tx.metrics_snapshot(); });
    const auto ds = dispatcher_->stats();
    DispatchCounters d{ds.sent, ds.retried, ds.dead, ds.refused, 0, 0, 0};
    for (const auto& w : webhooks_) {
      const auto ws = w->stats();
      d.webhooks_sent += ws.sent;
      d.webhooks_retried += ws.retried;
      d.webhooks_dead += ws.dead;
    }
    return metrics_.render(store_.stats(), snapshot, d, clock_.now_ms());
  };
  app_ = std::make_unique<App>(std::move(app_options), store, *ussd_, sms_.get(), *pseudonymizer_,
                               clock, std::move(timer));

  // The periodic jobs, each on its own PassLoop: a pass blocks on the store.
  sweep_loop_ = std::make_unique<PassLoop>("idle sessions", std::chrono::seconds(30), [this] {
    sweep_idle_sessions();
    return false;
  });
  if (config.checkins.enabled && !plan.checkin_channel.empty()) {
    SchedulerOptions so;
    so.zone = zone;
    so.channel = plan.checkin_channel;
    so.reminder_after = config.checkins.reminder_after;
    so.deadline = config.checkins.deadline;
    so.missed_severity = config.checkins.missed_severity;
    so.missed_again_severity = config.checkins.missed_again_severity;
    scheduler_ =
        std::make_unique<Scheduler>(store, texts_, plan.flows.flows, *cipher_, clock, ids, so);
    checkin_loop_ = std::make_unique<PassLoop>("check-ins", config.checkins.interval, [this] {
      const auto r = scheduler_->run_once();
      if (r.queued || r.reminded) dispatcher_->wake();
      return false;
    });
  }
  if (escalation_) {
    escalation_loop_ = std::make_unique<PassLoop>("escalation", config.escalation_interval, [this] {
      const auto r = escalation_->run_once();
      if (r.alerts) dispatcher_->wake();
      if (r.webhooks)
        for (const auto& w : webhooks_) w->wake();
      return false;
    });
  }
  // Retention (SAFETY D4): purge on schedule; the first pass runs at start.
  retention_loop_ = std::make_unique<PassLoop>("retention", config.retention.interval, [this] {
    const PurgeReport report = run_purge(store_, cutoffs_for(config_.retention, clock_.now_ms()));
    if (report.deleted.total() > 0 || !report.error.empty())
      spdlog::info("retention: deleted {}{}", describe(report.deleted),
                   report.error.empty() ? "" : "; " + report.error);
    return false;
  });
  // Field key rotation: re-encrypts in the background; follows the key file (not the env).
  const char* key_env = std::getenv(config.field_key_env.c_str());
  key_rotation_ = std::make_unique<KeyRotation>(store, cipher_, config.field_key_file,
                                                key_env == nullptr || key_env[0] == '\0',
                                                std::chrono::seconds(2));
}

Wiring::~Wiring() {
  stop();
}

double Wiring::random01() {
  std::lock_guard lock(rng_mutex_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

void Wiring::sweep_idle_sessions() {
  const std::int64_t now = clock_.now_ms();
  const std::int64_t before = now - config_.session_idle.count();
  const std::int64_t sms_before = now - config_.sms.conversation_timeout.count();
  const store::JobResult r = store_.run([&](store::Tx& tx) {
    ussd_->expire_idle(tx, before);
    sms_->expire_idle(tx, sms_before);
  });
  if (!r.ok) spdlog::error("idle-session sweep failed: {}", r.error);
}

void Wiring::start() {
  if (started_) return;
  started_ = true;
  dispatcher_->start();
  if (ussd_replies_) ussd_replies_->start();
  for (const auto& w : webhooks_) w->start();
  for (auto* loop :
       {sweep_loop_.get(), checkin_loop_.get(), escalation_loop_.get(), retention_loop_.get()})
    if (loop) loop->start();
  key_rotation_->start();
}

void Wiring::stop() {
  if (!started_) return;
  started_ = false;
  for (auto* loop :
       {sweep_loop_.get(), checkin_loop_.get(), escalation_loop_.get(), retention_loop_.get()})
    if (loop) loop->stop();
  dispatcher_->stop();
  if (ussd_replies_) ussd_replies_->stop();
  for (const auto& w : webhooks_) w->stop();
  key_rotation_->stop();
}

}  // namespace rabta::gateway
