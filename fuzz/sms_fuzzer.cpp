// One SMS adapter (RABTA_FUZZ_ADAPTER: africastalking, twilio or kannel), configured as in its
// test fixture, fed arbitrary callbacks (method, path, query, body, content type, signature)
// and arbitrary provider responses to a send. It must never crash: whatever it cannot
// authenticate or read is a Rejection or a SendResult.
//
// Input layout: fields separated by NUL bytes: method selector, path, query, body,
// content-type, signature header, HTTP status (decimal) for parse_send.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/sms/sms_adapter.hpp"

namespace {

using rabta::adapters::sms::SmsAdapter;

std::unique_ptr<SmsAdapter> make() {
  const std::string path =
      std::string(RABTA_SOURCE_DIR) + "/tests/fixtures/sms/" + RABTA_FUZZ_ADAPTER + ".json";
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const auto fixture = nlohmann::json::parse(text.str());
  rabta::adapters::sms::Settings settings;
  for (const auto& [k, v] : fixture.at("settings").items()) settings[k] = v.get<std::string>();
  return rabta::adapters::sms::make_adapter(RABTA_FUZZ_ADAPTER, settings);
}

std::vector<std::string_view> split(std::string_view in) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= in.size(); ++i) {
    if (i == in.size() || in[i] == '\0') {
      parts.push_back(in.substr(start, i - start));
      start = i + 1;
    }
  }
  while (parts.size() < 7) parts.emplace_back();
  return parts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::unique_ptr<SmsAdapter> adapter = make();
  const auto p = split(std::string_view(reinterpret_cast<const char*>(data), size));
  rabta::adapters::sms::InboundHttp req;
  req.method = !p[0].empty() && (p[0][0] & 1) ? "GET" : "POST";
  req.path = std::string(p[1]);
  req.query = std::string(p[2]);
  req.body = std::string(p[3]);
  req.public_url =
      "https://rabta.example.org" + req.path + (req.query.empty() ? "" : "?") + req.query;
  req.headers = {{"content-type", std::string(p[4])}, {"x-twilio-signature", std::string(p[5])}};
  (void)adapter->decode(req);
  long status = 0;
  for (const char c : p[6].substr(0, 4))
    if (c >= '0' && c <= '9') status = status * 10 + (c - '0');
  (void)adapter->parse_send(status, req.body);
  (void)adapter->encode_reply(req.body, !p[0].empty() && (p[0][0] & 2));
  return 0;
}
