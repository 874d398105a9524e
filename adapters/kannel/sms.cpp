#include "adapters/kannel/sms.hpp"

#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include "adapters/common/form.hpp"
#include "adapters/sms/support.hpp"

namespace rabta::adapters::kannel {

namespace {

using common::FormField;
using sms::Delivery;
using sms::Rejection;
namespace support = sms::support;

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80U) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800U) {
    out.push_back(static_cast<char>(0xC0U | (cp >> 6U)));
    out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
  } else if (cp < 0x10000U) {
    out.push_back(static_cast<char>(0xE0U | (cp >> 12U)));
    out.push_back(static_cast<char>(0x80U | ((cp >> 6U) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
  } else {
    out.push_back(static_cast<char>(0xF0U | (cp >> 18U)));
    out.push_back(static_cast<char>(0x80U | ((cp >> 12U) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | ((cp >> 6U) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
  }
}

// A Kannel coding/charset pair that means raw UTF-16BE bytes (%c = 2, %C = UTF-16BE).
bool is_utf16(std::string_view coding, std::string_view charset_lower) {
  return coding == "2" || charset_lower == "utf-16be" || charset_lower == "ucs-2" ||
         charset_lower == "ucs2" || charset_lower == "iso-10646-ucs-2";
}

// A positive decimal number of at most 18 digits.
std::optional<std::int64_t> positive_number(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v <= 0) return std::nullopt;
  return v;
}

// Kannel's %d for one report: the dlr-mask bit it answers (PROTOCOLS §3.5).
void apply_dlr_type(std::int64_t type, sms::DeliveryReport& report) {
  switch (type) {
    case 1:
      report.status = Delivery::delivered;
      report.final = true;
      break;
    case 2:
      report.status = Delivery::failed;
      report.final = true;
      report.error = "not delivered to phone";
      break;
    case 4:
      report.status = Delivery::queued;
      break;
    case 8:
      report.status = Delivery::sent;
      break;
    case 16:
      report.status = Delivery::failed;
      report.final = true;
      report.error = "not delivered to SMSC";
      break;
    default:
      report.status = Delivery::unknown;  // 32 = intermediate, or a future bit
      break;
  }
}

std::variant<sms::Inbound, Rejection> decode_report(const std::vector<FormField>& query) {
  const std::string* oid = common::find_field(query, "oid");
  if (oid == nullptr) return support::missing_field("oid");
  const std::string* type = common::find_field(query, "type");
  if (type == nullptr) return support::missing_field("type");
  const auto outbox_id = positive_number(*oid);
  if (!outbox_id) return Rejection{400, "field 'oid' is not an outbox id"};
  const auto type_value = positive_number(*type);
  if (!type_value) return Rejection{400, "field 'type' is not a DLR type"};
  sms::DeliveryReport report;
  report.outbox_id = *outbox_id;
  if (const std::string* fid = common::find_field(query, "fid")) report.provider_message_id = *fid;
  apply_dlr_type(*type_value, report);
  return sms::Inbound{std::move(report)};
}

// `url` with `params` appended to its query string.
std::string with_query(const std::string& url, std::string_view params) {
  const char* sep = url.find('?') == std::string::npos         ? "?"
                    : (url.back() == '?' || url.back() == '&') ? ""
                                                               : "&";
  return url + sep + std::string(params);
}

}  // namespace

std::optional<std::string> utf16be_to_utf8(std::string_view bytes) {
  if (bytes.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(bytes.size() * 3 / 2);
  const auto unit = [&](std::size_t i) {
    return static_cast<std::uint32_t>((static_cast<unsigned char>(bytes[i]) << 8U) |
                                      static_cast<unsigned char>(bytes[i + 1]));
  };
  for (std::size_t i = 0; i < bytes.size(); i += 2) {
    const std::uint32_t u = unit(i);
    if (u >= 0xD800U && u <= 0xDBFFU) {
      if (i + 3 >= bytes.size()) return std::nullopt;
      const std::uint32_t low = unit(i + 2);
      if (low < 0xDC00U || low > 0xDFFFU) return std::nullopt;
      append_utf8(out, 0x10000U + ((u - 0xD800U) << 10U) + (low - 0xDC00U));
      i += 2;
    } else if (u >= 0xDC00U && u <= 0xDFFFU) {
      return std::nullopt;
    } else {
      append_utf8(out, u);
    }
  }
  return out;
}

SmsChannel::SmsChannel(const sms::Settings& settings)
    : sendsms_url_(support::required_setting(settings, kind, "sendsms_url")),
      username_(support::required_setting(settings, kind, "username")),
      password_(support::required_setting(settings, kind, "password")),
      from_(support::required_setting(settings, kind, "from")),
      secret_(support::required_setting(settings, kind, "secret")),
      dlr_url_(support::required_setting(settings, kind, "dlr_url")) {
  support::require_http_url(kind, "sendsms_url", sendsms_url_);
  support::require_http_url(kind, "dlr_url", dlr_url_);
  // The dlr-url must bring the key back. Without one, the secret is added here, so that rabta.toml
  // need not repeat a secret read from a file; a different key would fail every report.
  const std::size_t q = dlr_url_.find('?');
  const auto query = support::parse_fields(q == std::string::npos ? "" : dlr_url_.substr(q + 1));
  if (!query)
    throw std::invalid_argument("channel kannel: setting 'dlr_url' has a malformed query");
  if (common::find_field(*query, "key") == nullptr)
    dlr_url_ = with_query(dlr_url_, "key=" + common::percent_encode(secret_));
  else if (!support::query_key_matches(dlr_url_.substr(q + 1), secret_))
    throw std::invalid_argument(
        "channel kannel: setting 'dlr_url' carries a key that is not the channel's secret");
}

std::variant<sms::Inbound, Rejection> SmsChannel::decode(const sms::InboundHttp& request) const {
  if (!support::key_matches(request.header(support::key_header), request.query, secret_))
    return Rejection{403, "missing or wrong key"};
  const auto parsed = support::parse_fields(request.query);
  if (!parsed) return Rejection{400, "malformed query string"};
  const std::vector<FormField>& query = *parsed;
  {
    // The text of a get-url request may be raw UTF-16BE: it is checked once decoded.
    std::vector<FormField> others;
    for (const auto& f : query)
      if (f.name != "text") others.push_back(f);
    if (auto bad = support::first_non_utf8(
            others, {"key", "id", "from", "to", "coding", "charset", "dlr", "oid", "type", "fid"}))
      return *bad;
  }
  const auto field = [&](std::string_view name) { return common::find_field(query, name); };

  if (const std::string* dlr = field("dlr"); dlr != nullptr && *dlr == "1")
    return decode_report(query);

  const bool post = request.method == "POST";
  if (!post && request.method != "GET") return Rejection{405, "expected GET or POST"};

  // post-url: the sender is in the query (from=%p) or, with send-sender, in X-Kannel-From.
  const auto query_or_header = [&](std::string_view name, std::string_view header) {
    const std::string* v = field(name);
    return v != nullptr && !v->empty() ? *v : std::string(request.header(header));
  };
  const std::string from = query_or_header("from", "x-kannel-from");
  if (from.empty()) return support::missing_field("from");
  if (!common::is_valid_utf8(from)) return Rejection{400, "field 'from' is not valid UTF-8"};
  const std::string* id = field("id");
  if (id == nullptr || id->empty()) return support::missing_field("id");
  const std::string to = query_or_header("to", "x-kannel-to");
  if (!common::is_valid_utf8(to)) return Rejection{400, "field 'to' is not valid UTF-8"};

  std::string_view raw;
  std::string coding;
  std::string charset;
  if (post) {
    raw = request.body;
    coding = std::string(request.header("x-kannel-coding"));
    charset = support::charset_of(request.header("content-type"));
  } else {
    const std::string* text = field("text");
    if (text == nullptr) return support::missing_field("text");
    raw = *text;
  }
  if (coding.empty())
    if (const std::string* c = field("coding")) coding = *c;
  if (charset.empty())
    if (const std::string* c = field("charset")) charset = support::lower_ascii(*c);

  std::string text;
  if (is_utf16(coding, charset)) {
    auto decoded = utf16be_to_utf8(raw);
    if (!decoded) return Rejection{400, "field 'text' is not valid UTF-16BE"};
    text = std::move(*decoded);
  } else {
    if (!common::is_valid_utf8(raw)) return Rejection{400, "field 'text' is not valid UTF-8"};
    text = std::string(raw);
  }
  return sms::Inbound{sms::InboundSms{*id, std::move(from), std::move(to), std::move(text)}};
}

sms::HttpReply SmsChannel::encode_reply(std::string_view text, bool ucs2) const {
  sms::HttpReply reply{200, "text/plain; charset=utf-8", std::string(text), {}};
  // Without it Kannel sends the UTF-8 text as GSM 7-bit and every Urdu letter becomes '?'
  // (needs accept-x-kannel-headers = true on the sms-service).
  if (ucs2 && !text.empty()) reply.headers.emplace_back("X-Kannel-Coding", "2");
  return reply;
}

sms::HttpCall SmsChannel::build_send(const sms::OutboundSms& message) const {
  // Kannel expands %d (report type) and %F (SMSC message id) when it calls the dlr-url back.
  const std::string dlr_url =
      with_query(dlr_url_, "dlr=1&oid=" + std::to_string(message.outbox_id) + "&type=%d&fid=%F");
  const std::vector<FormField> params{
      {"username", username_},
      {"password", password_},
      {"from", from_},
      {"to", message.to},
      {"text", message.text},
      {"charset", "UTF-8"},
      {"coding", message.ucs2 ? "2" : "0"},
      {"dlr-mask", "31"},
      {"dlr-url", dlr_url},
  };
  sms::HttpCall call;
  call.method = "GET";
  call.url = with_query(sendsms_url_, common::form_encode(params));
  return call;
}

sms::SendResult SmsChannel::parse_send(long status, std::string_view body) const {
  if (status == 0) return support::retry("transport error");
  if (status == 202) {
    // "0: Accepted for delivery", or "3: Queued for later delivery" when no SMSC is connected.
    if (body.substr(0, 2) == "0:" || body.substr(0, 2) == "3:") return support::sent({});
    return support::permanent("unexpected sendsms answer");
  }
  const std::string http = "HTTP " + std::to_string(status);
  if (status == 403) return support::retry("authentication failed");
  if (status == 400) return support::permanent("rejected by Kannel (HTTP 400)");
  // Kannel itself never answers 429, but a proxy in front of it may: throttling is temporary.
  if (status == 429 || (status >= 500 && status < 600)) return support::retry(http);
  return support::permanent(http);
}

}  // namespace rabta::adapters::kannel
