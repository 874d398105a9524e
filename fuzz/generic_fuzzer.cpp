// The configurable adapter (kind = "http") with each shipped preset (config/presets/), its
// authentication turned off so that the fuzzer reaches the decoders: arbitrary calls (method,
// path, query, body, content type, a header) must decode or be refused, never crash; and
// whatever the adapter writes (a reply, a send call) the gateway's side of the same settings
// (the emulator) must read back to the same text. Arbitrary answers of a send API must parse.
//
// Input layout: the first byte picks the preset and the method; then fields separated by NUL
// bytes: path suffix, query, body, content type, header value, the screen for the round trip.
#include <toml++/toml.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/common/form.hpp"
#include "adapters/generic/emulator.hpp"
#include "adapters/generic/sms.hpp"
#include "adapters/generic/ussd.hpp"

namespace {

namespace generic = rabta::adapters::generic;
using Settings = rabta::adapters::sms::Settings;

void flatten(const toml::table& t, const std::string& prefix, Settings& out) {
  for (const auto& [k, v] : t) {
    const std::string key = prefix + std::string(k.str());
    if (const auto* sub = v.as_table()) {
      flatten(*sub, key + ".", out);
    } else if (const auto* list = v.as_array()) {
      std::string joined;
      for (const auto& item : *list)
        joined += (joined.empty() ? "" : ", ") + item.value_or(std::string());
      out[key] = joined;
    } else if (auto s = v.value_exact<std::string>()) {
      out[key] = *s;
    } else if (auto b = v.value_exact<bool>()) {
      out[key] = *b ? "true" : "false";
    } else if (auto i = v.value_exact<std::int64_t>()) {
      out[key] = std::to_string(*i);
    }
  }
}

Settings preset(const std::string& folder, const std::string& name) {
  Settings s;
  flatten(toml::parse_file(std::string(RABTA_SOURCE_DIR) + "/config/presets/" + folder + "/" +
                           name + ".toml"),
          "", s);
  s.erase("kind");
  s["auth.mode"] = "none";
  for (const auto* k : {"auth.key_query", "auth.key_header"}) s.erase(k);
  if (s.count("send.url")) {
    s["send.url"] = "http://127.0.0.1:9/send";
    s["send.account"] = "APP_1";
    s["send.secret"] = "fuzz-secret";
  }
  return s;
}

struct Adapters {
  std::vector<std::unique_ptr<generic::HttpUssd>> ussd;
  std::unique_ptr<generic::HttpSms> sms;
  Adapters() {
    for (const char* name : {"africastalking", "hubtel", "hollatags", "bdapps"})
      ussd.push_back(std::make_unique<generic::HttpUssd>(name, preset("ussd", name)));
    Settings s = preset("sms", "vonage");
    s["path"] = "/sms/vonage";
    s["dlr_url"] = "http://127.0.0.1/sms/vonage/dlr";
    s["send.from"] = "12345";
    s["auth.mode"] = "key";  // delivery reports need a key in their URL
    s["auth.key_query"] = "key";
    s["auth.key"] = "fuzz-key-0123456789";
    sms = std::make_unique<generic::HttpSms>(s);
  }
};

std::vector<std::string_view> split(std::string_view in) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= in.size(); ++i)
    if (i == in.size() || in[i] == '\0') {
      parts.push_back(in.substr(start, i - start));
      start = i + 1;
    }
  return parts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Adapters adapters;
  if (size < 1) return 0;
  const std::uint8_t pick = data[0];
  const auto parts = split(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  const auto part = [&parts](std::size_t i) {
    return i < parts.size() ? std::string(parts[i]) : std::string();
  };
  rabta::adapters::sms::InboundHttp r;
  r.method = (pick & 0x10) ? "GET" : "POST";
  r.query = part(1);
  r.body = part(2);
  r.headers = {{"content-type", part(3)}, {"x-fuzz", part(4)}};
  const std::string screen = part(5);
  const std::size_t which = pick % 5;
  if (which == 4) {
    const auto& sms = *adapters.sms;
    r.path = "/sms/vonage" + part(0);
    (void)sms.decode(r);
    if (rabta::common::is_valid_utf8(screen))
      (void)sms.build_send({7, "+923001234567", screen, (pick & 0x20) != 0});
    (void)sms.parse_send((pick & 0x40) ? 200 : 503, part(2));
    return 0;
  }
  const auto& a = *adapters.ussd[which];
  static const char* const kNames[] = {"africastalking", "hubtel", "hollatags", "bdapps"};
  r.path = std::string("/ussd/") + kNames[which] + part(0);
  (void)a.decode(r);
  if (!rabta::common::is_valid_utf8(screen)) return 0;
  const generic::GatewayEmulator emulator(a);
  const bool end = (pick & 0x20) != 0;
  if (a.replies_in_band()) {
    const auto reply = a.encode_reply({"s-1", "*786#"}, end, screen);
    const auto read = emulator.read_reply(reply.status, reply.headers, reply.body);
    // What rabta writes, the gateway's side reads back: the same screen, the same end.
    if (!read || read->text != screen || read->end != end) std::abort();
  } else {
    const auto call = a.build_send({"s-1", "+923001234567", screen, end});
    const auto read = emulator.read_send(call.body);
    if (!read || read->text != screen || read->end != end) std::abort();
    (void)a.parse_send((pick & 0x40) ? 200 : 0, part(2));
  }
  return 0;
}
