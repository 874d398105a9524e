#include "adapters/africastalking/ussd.hpp"

#include <set>
#include <utility>

#include "adapters/common/crypto.hpp"
#include "adapters/common/form.hpp"

namespace rabta::adapters::africastalking {

namespace {

using common::FormField;

bool is_form(std::string_view content_type) {
  const auto semi = content_type.find(';');
  std::string_view media = content_type.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  std::string lower(media);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return lower == "application/x-www-form-urlencoded";
}

// Parses the form and checks it is UTF-8; a Rejection when not.
std::variant<std::vector<FormField>, Rejection> form_of(std::string_view content_type,
                                                        std::string_view body) {
  if (!is_form(content_type))
    return Rejection{415, "expected Content-Type application/x-www-form-urlencoded"};
  auto parsed = common::parse_form(body);
  if (auto* err = std::get_if<common::FormParseError>(&parsed)) return Rejection{400, err->reason};
  auto fields = std::get<std::vector<FormField>>(std::move(parsed));
  // A field is named only when it is one rabta reads: the sender chose the other names, and a
  // name may be anything, her number included.
  static const std::set<std::string> known = {"sessionId", "serviceCode", "phoneNumber", "text",
                                              "status"};
  for (const auto& f : fields)
    if (!common::is_valid_utf8(f.value) || !common::is_valid_utf8(f.name))
      return Rejection{400, known.count(f.name)
                                ? "field '" + f.name + "' is not valid UTF-8"
                                : std::string("a field of the body is not valid UTF-8")};
  return fields;
}

// Copies a required field, or names the missing one.
bool take(const std::vector<FormField>& fields, const char* name, std::string& out, bool required,
          Rejection& why) {
  const std::string* v = common::find_field(fields, name);
  if (!v) {
    if (required) why = {400, std::string("missing field '") + name + "'"};
    return !required;
  }
  out = *v;
  return true;
}

}  // namespace

std::variant<UssdRequest, Rejection> decode_ussd(std::string_view content_type,
                                                 std::string_view body) {
  auto form = form_of(content_type, body);
  if (auto* r = std::get_if<Rejection>(&form)) return *r;
  const auto& fields = std::get<std::vector<FormField>>(form);
  UssdRequest req;
  Rejection why;
  if (!take(fields, "sessionId", req.session_id, true, why) ||
      !take(fields, "serviceCode", req.service_code, true, why) ||
      !take(fields, "phoneNumber", req.phone_number, true, why) ||
      !take(fields, "text", req.text, true, why) ||
      !take(fields, "networkCode", req.network_code, false, why))
    return why;
  if (req.session_id.empty() || req.session_id.size() > 128)
    return Rejection{400, "field 'sessionId' must be 1 to 128 characters"};
  if (common::normalise_msisdn(req.phone_number).empty())
    return Rejection{400, "field 'phoneNumber' is not a phone number"};
  return req;
}

std::variant<SessionEvent, Rejection> decode_session_event(std::string_view content_type,
                                                           std::string_view body) {
  auto form = form_of(content_type, body);
  if (auto* r = std::get_if<Rejection>(&form)) return *r;
  const auto& fields = std::get<std::vector<FormField>>(form);
  SessionEvent ev;
  Rejection why;
  if (!take(fields, "sessionId", ev.session_id, true, why) ||
      !take(fields, "status", ev.status, true, why) ||
      !take(fields, "phoneNumber", ev.phone_number, false, why) ||
      !take(fields, "hopsCount", ev.hops_count, false, why) ||
      !take(fields, "durationInMillis", ev.duration_ms, false, why) ||
      !take(fields, "errorMessage", ev.error_message, false, why))
    return why;
  if (ev.session_id.empty() || ev.session_id.size() > 128)
    return Rejection{400, "field 'sessionId' must be 1 to 128 characters"};
  if (ev.status != "Incomplete" && ev.status != "Success" && ev.status != "Failed")
    return Rejection{400, "field 'status' must be Incomplete, Success or Failed"};
  return ev;
}

bool authenticate(std::string_view header_key, std::string_view query, std::string_view secret) {
  if (secret.empty()) return false;
  if (!header_key.empty()) return common::constant_time_equal(header_key, secret);
  auto parsed = common::parse_form(query);
  const auto* fields = std::get_if<std::vector<FormField>>(&parsed);
  if (!fields) return false;
  const std::string* key = common::find_field(*fields, "key");
  return key && common::constant_time_equal(*key, secret);
}

std::string encode_reply(bool end, std::string_view text) {
  std::string out = end ? "END " : "CON ";
  out += text;
  return out;
}

UssdChannel::UssdChannel(std::string path, std::string secret, std::string provider)
    : path_(std::move(path)),
      events_path_(path_ + "/events"),
      secret_(std::move(secret)),
      provider_(std::move(provider)),
      label_("ussd_" + provider_),
      events_label_(label_ + "_events") {}

std::string_view UssdChannel::route(std::string_view path) const {
  if (path == path_) return label_;
  if (path == events_path_) return events_label_;
  return {};
}

std::variant<ussd::Inbound, ussd::Rejection> UssdChannel::decode(
    const ussd::InboundHttp& request) const {
  if (request.method != "POST") return ussd::Rejection{405, "use POST"};
  // Authenticate before anything is decoded or stored (SAFETY T1).
  if (!authenticate(request.header("x-rabta-key"), request.query, secret_))
    return ussd::Rejection{403, "missing or wrong key"};
  const std::string_view content_type = request.header("content-type");
  if (request.path == path_) {
    auto decoded = decode_ussd(content_type, request.body);
    if (auto* r = std::get_if<Rejection>(&decoded)) return ussd::Rejection{r->status, r->reason};
    auto& req = std::get<UssdRequest>(decoded);
    return ussd::Inbound{ussd::Hop{std::move(req.session_id), std::move(req.service_code),
                                   std::move(req.phone_number), std::move(req.text)}};
  }
  auto decoded = decode_session_event(content_type, request.body);
  if (auto* r = std::get_if<Rejection>(&decoded)) return ussd::Rejection{r->status, r->reason};
  auto& ev = std::get<SessionEvent>(decoded);
  return ussd::Inbound{
      ussd::SessionEnd{std::move(ev.session_id), std::move(ev.status), std::move(ev.phone_number)}};
}

ussd::HttpReply UssdChannel::encode_reply(const ussd::ReplyTo&, bool end,
                                          std::string_view text) const {
  ussd::HttpReply r;
  r.body = africastalking::encode_reply(end, text);
  return r;
}

ussd::HttpReply UssdChannel::busy_reply(const ussd::ReplyTo&) const {
  ussd::HttpReply r;
  r.status = 503;
  r.body = "END Service busy, please try again later.";
  return r;
}

}  // namespace rabta::adapters::africastalking
