// A request of an adapter fixture table (tests/fixtures/sms/, tests/fixtures/ussd/) handed over as
// the gateway hands one to an adapter: header names lower-cased, the path and the raw query split
// off `public_url`, the body from "body" or, for bytes that are not UTF-8, "body_hex".
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "adapters/sms/sms_adapter.hpp"

namespace rabta::test {

inline std::string hex_decode(const std::string& hex) {
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::invalid_argument("body_hex is not hex");
  };
  if (hex.size() % 2 != 0) throw std::invalid_argument("body_hex has an odd length");
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2)
    out.push_back(static_cast<char>((nibble(hex[i]) << 4) | nibble(hex[i + 1])));
  return out;
}

inline adapters::sms::InboundHttp fixture_request(const nlohmann::json& r) {
  adapters::sms::InboundHttp req;
  req.method = r.at("method").get<std::string>();
  req.public_url = r.at("public_url").get<std::string>();
  std::string rest = req.public_url;
  if (const auto hash = rest.find('#'); hash != std::string::npos) rest.resize(hash);
  const auto scheme = rest.find("://");
  const auto path_begin = rest.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const std::string path_query = path_begin == std::string::npos ? "/" : rest.substr(path_begin);
  if (const auto q = path_query.find('?'); q != std::string::npos) {
    req.path = path_query.substr(0, q);
    req.query = path_query.substr(q + 1);
  } else {
    req.path = path_query;
  }
  if (r.contains("headers"))
    for (const auto& [k, v] : r.at("headers").items()) {
      std::string name = k;
      for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      req.headers.emplace_back(std::move(name), v.get<std::string>());
    }
  if (r.contains("body_hex"))
    req.body = hex_decode(r.at("body_hex").get<std::string>());
  else
    req.body = r.value("body", std::string());
  return req;
}

}  // namespace rabta::test
