#include "adapters/africastalking/ussd.hpp"

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
  for (const auto& f : fields)
    if (!common::is_valid_utf8(f.value) || !common::is_valid_utf8(f.name))
      return Rejection{400, "field '" +
                                (common::is_valid_utf8(f.name) ? f.name : std::string("?")) +
                                "' is not valid UTF-8"};
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
  if (ev.session_id.empty()) return Rejection{400, "field 'sessionId' is empty"};
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

}  // namespace rabta::adapters::africastalking
