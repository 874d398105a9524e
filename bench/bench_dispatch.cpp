// The outbound dispatcher's sends per second: COUNT messages queued in a fresh database, sent
// through the Africa's Talking adapter to a loopback server that answers like Africa's
// Talking's SMS API (HTTP 201, statusCode 101), rate limit off. Each result is recorded through
// the store's group commit (synchronous=FULL). Usage: rabta_bench_dispatch DIR [COUNT]
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <thread>

#include "adapters/common/cipher.hpp"
#include "adapters/sms/sms_adapter.hpp"
#include "adapters/store/store.hpp"
#include "gateway/http/http_server.hpp"
#include "gateway/outbound/dispatcher.hpp"
#include "gateway/outbound/outbound_sms.hpp"

using namespace rabta;
using SteadyClock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: rabta_bench_dispatch DIR [COUNT]\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const std::string dir = argv[1];
  const int count = argc > 2 ? std::stoi(argv[2]) : 20'000;
  std::filesystem::create_directories(dir);
  const std::string db = dir + "/dispatch.db";
  std::filesystem::remove(db);

  std::atomic<int> received{0};
  gateway::HttpServerOptions ho;
  ho.port = 0;
  ho.max_connections_per_peer = 1000;
  gateway::HttpServer aggregator(ho, [&](gateway::HttpRequest&& req, gateway::Responder respond) {
    const int n = ++received;
    auto r = gateway::HttpResponse::text(
        201,
        R"({"SMSMessageData":{"Message":"Sent to 1/1 Total Cost: KES 0.8000","Recipients":[{"statusCode":101,"number":"+254711000000","status":"Success","cost":"KES 0.8000","messageId":"ATXid_)" +
            std::to_string(n) + R"("}]}})");
    r.content_type = "application/json";
    (void)req;
    respond(std::move(r));
  });
  aggregator.listen();
  std::thread server([&] { aggregator.run(); });

  common::FieldCipher::Key key;
  key.fill(0x11);
  const common::FieldCipher cipher({{1, key}}, 1);
  store::StoreOptions so;
  so.path = db;
  auto store = store::open_sqlite_store(so);
  common::SystemClock clock;
  const auto now = clock.now_ms();
  for (int first = 0; first < count; first += 5000) {
    store->run([&](store::Tx& tx) {
      for (int i = first; i < std::min(count, first + 5000); ++i) {
        gateway::SmsPayload p;
        p.to = "+2547110" + std::to_string(10000 + i);
        p.text = "Case K7P3QX (high): please acknowledge. Reply ACK K7P3QX";
        p.purpose = "case_alert";
        tx.insert_outbox(gateway::make_sms_outbox("at", "bench:" + std::to_string(i), "bench", 0, p,
                                                  now, now, 0, cipher));
      }
    });
  }
  adapters::sms::Settings settings{
      {"username", "sandbox"},
      {"api_key", "bench-key"},
      {"secret", "bench-callback-secret"},
      {"base_url", "http://127.0.0.1:" + std::to_string(aggregator.port())}};
  std::vector<gateway::ChannelRuntime> channels{
      {"at", adapters::sms::make_adapter("africastalking", settings), 0}};
  std::mt19937_64 rng(1);
  gateway::DispatcherOptions o;
  o.poll_interval = std::chrono::milliseconds(10);
  gateway::Dispatcher dispatcher(*store, std::move(channels), cipher, clock,
                                 flows::require_zone("Asia/Karachi"), o,
                                 [&] { return std::uniform_real_distribution<double>(0, 1)(rng); });
  const auto t0 = SteadyClock::now();
  int sent = 0;
  while (sent < count) {
    const auto r = dispatcher.run_once();
    sent += r.sent;
    if (r.claimed == 0 && r.sent == 0) break;
  }
  const double s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  aggregator.stop();
  server.join();
  store->close();
  std::printf("RESULT messages=%d sent=%d received=%d seconds=%.2f sends_per_s=%.0f\n", count, sent,
              received.load(), s, sent / s);
  return sent == count && received.load() == count ? 0 : 1;
}
