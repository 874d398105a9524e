#include "adapters/generic/emulator.hpp"

#include <nlohmann/json.hpp>

#include "adapters/common/crypto.hpp"
#include "adapters/common/form.hpp"
#include "adapters/sms/support.hpp"

namespace rabta::adapters::generic {

namespace {

struct Parts {
  std::vector<common::FormField> form, query;
  nlohmann::json json = nlohmann::json::object();
  std::vector<std::pair<std::string, std::string>> headers;
};

void put(Parts& p, const Source& s, const std::string& value) {
  switch (s.where) {
    case Source::Where::form:
      p.form.push_back({s.name, value});
      break;
    case Source::Where::query:
      p.query.push_back({s.name, value});
      break;
    case Source::Where::json:
      p.json[nlohmann::json::json_pointer(s.name)] = value;
      break;
    case Source::Where::header:
      p.headers.emplace_back(s.label, value);
      break;
  }
}

}  // namespace

EmulatedRequest GatewayEmulator::build(const EmulatedSession& s, Op op, const std::string& input,
                                       bool wrong) const {
  // The end of a session by the events URL, when the gateway has no end operation.
  const bool ends = op == Op::end && (!a_.operation_ || a_.end_.empty());
  Parts p;
  EmulatedRequest r;
  r.method = a_.method_;
  std::string path = a_.path_;
  if (ends) {
    const auto& e = *a_.events_;
    path = e.path;
    put(p, e.session_id, s.session_id);
    put(p, e.status, e.status_values.empty() ? "ended" : e.status_values.front());
    if (e.phone) put(p, *e.phone, s.phone);
  } else {
    put(p, a_.session_id_, s.session_id);
    put(p, a_.phone_, s.phone);
    if (a_.service_code_) put(p, *a_.service_code_, s.service_code);
    // Only the newest input, or the whole path; at the first hop of a gateway that sends the
    // newest input, the string she dialled.
    put(p, a_.input_, a_.input_is_path_ ? s.path : op == Op::begin ? s.service_code : input);
    if (a_.operation_)
      put(p, *a_.operation_,
          op == Op::begin  ? a_.begin_.front()
          : op == Op::more ? a_.continue_.front()
                           : a_.end_.front());
    if (a_.sequence_) put(p, *a_.sequence_, std::to_string(s.hops - 1 + a_.sequence_first_));
  }
  if (a_.body_ == Fields::Body::form) {
    r.body = common::form_encode(p.form);
    p.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  } else if (a_.body_ == Fields::Body::json) {
    r.body = p.json.dump();
    p.headers.emplace_back("Content-Type", "application/json");
  }
  a_.auth_.sign(p.headers, p.query, r.body, wrong);
  r.path_and_query = path + (p.query.empty() ? "" : "?" + common::form_encode(p.query));
  r.headers = std::move(p.headers);
  return r;
}

EmulatedRequest GatewayEmulator::dial(EmulatedSession& s) const {
  s.path.clear();
  s.hops = 1;
  s.last = build(s, Op::begin, "", false);
  return s.last;
}

EmulatedRequest GatewayEmulator::press(EmulatedSession& s, const std::string& input) const {
  s.path = s.hops <= 1 && s.path.empty() ? input : s.path + "*" + input;
  ++s.hops;
  s.last = build(s, Op::more, input, false);
  return s.last;
}

std::optional<EmulatedRequest> GatewayEmulator::hang_up(const EmulatedSession& s) const {
  if (a_.operation_ && !a_.end_.empty()) return build(s, Op::end, "", false);
  if (a_.events_) return build(s, Op::end, "", false);
  return std::nullopt;
}

EmulatedRequest GatewayEmulator::with_wrong_credentials(const EmulatedSession& s,
                                                        bool begin) const {
  return build(s, begin ? Op::begin : Op::more, "", true);
}

std::optional<EmulatedScreen> GatewayEmulator::read_reply(
    int status, const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& raw) const {
  if (status != 200 || asynchronous()) return std::nullopt;
  std::string body = raw;
  if (a_.utf16_) {
    auto decoded = from_utf16be(raw);
    if (!decoded) return std::nullopt;
    body = std::move(*decoded);
  }
  std::optional<bool> end;
  const std::string& end_name = a_.end_header_name_;
  const std::string& more_name = a_.continue_header_name_;
  if (!end_name.empty() || !more_name.empty()) {
    const auto header = [&headers](const std::string& name) -> std::optional<std::string> {
      for (const auto& [n, v] : headers)
        if (sms::support::lower_ascii(n) == sms::support::lower_ascii(name)) return v;
      return std::nullopt;
    };
    const bool says_end = !end_name.empty() && header(end_name) == a_.end_header_value_;
    const bool says_more = !more_name.empty() && header(more_name) == a_.continue_header_value_;
    if (says_end != says_more)
      end = says_end;
    else if (end_name.empty() || more_name.empty())
      end = !more_name.empty();  // only one is sent: its absence means the other
    else
      return std::nullopt;
  }
  const auto more = a_.continue_reply_.match(body);
  const auto last = a_.end_reply_.match(body);
  if (!end) {
    if (!more && !last) return std::nullopt;
    // Both match when one template is the other with less text: the more specific one wins.
    end = last && (!more || a_.end_reply_.literal_size() >= a_.continue_reply_.literal_size());
  }
  const auto& vars = *end ? last : more;
  if (!vars) return std::nullopt;
  return EmulatedScreen{*end, vars->at("text"), ""};
}

std::optional<EmulatedScreen> GatewayEmulator::read_send(const std::string& body) const {
  if (!asynchronous()) return std::nullopt;
  const auto vars = a_.send_->body.match(body);
  if (!vars || !vars->count("op")) return std::nullopt;
  const std::string& op = vars->at("op");
  if (op != a_.end_op_ && op != a_.continue_op_) return std::nullopt;
  const auto sid = vars->find("session_id");
  return EmulatedScreen{op == a_.end_op_, vars->at("text"),
                        sid == vars->end() ? std::string() : sid->second};
}

std::string GatewayEmulator::send_answer() const {
  return a_.send_ ? a_.send_->success_answer() : std::string("{}");
}

bool GatewayEmulator::is_ack(int status, const std::string& body, const EmulatedSession& s) const {
  return asynchronous() && status == a_.ack_status_ &&
         body ==
             a_.ack_body_.render({{"session_id", s.session_id}, {"service_code", s.service_code}});
}

}  // namespace rabta::adapters::generic
