#include "gateway/inbound/responder_ussd.hpp"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "adapters/common/crypto.hpp"
#include "gateway/responders/responders.hpp"

namespace rabta::gateway {

namespace {

using nlohmann::json;

constexpr const char* kPrefix = "responder_ussd:";
constexpr std::size_t kMaxItems = 5;
// As by SMS (sms_service.cpp): wrong PINs allowed per responder and hour, by SMS and USSD
// together.
constexpr int kMaxWrongPins = 5;
constexpr std::int64_t kPinWindowMs = 60LL * 60 * 1000;

std::string age(std::int64_t ms) {
  const std::int64_t minutes = std::max<std::int64_t>(0, ms / 60'000);
  if (minutes < 60) return std::to_string(minutes) + "m";
  if (minutes < 48 * 60) return std::to_string(minutes / 60) + "h";
  return std::to_string(minutes / (24 * 60)) + "d";
}

// The menu of one session, as kept in the meta table.
struct MenuState {
  std::int64_t responder = 0;
  std::string step = "list";       // "pin", "list", "item"
  std::vector<std::string> shown;  // references, in the order she saw them
  std::string chosen;              // the reference of the item screen
  // The path so far, as its length and a keyed hash (the pseudonym key, kept outside the
  // database). Never the path itself: it holds her PIN.
  std::size_t path_len = 0;
  std::string path_hash;
  std::int64_t hops = 0;
  std::string last_reply;  // "CON ..." / "END ...", for a retried hop
};

std::string key_of(const UssdHop& hop) {
  return std::string(kPrefix) + hop.provider + ":" + hop.session_id;
}

// "<13-digit ms>|<json>": the time first, so that expire() compares values as text.
std::string encode(const MenuState& s, std::int64_t now) {
  char stamp[24];
  std::snprintf(stamp, sizeof stamp, "%013lld", static_cast<long long>(now));
  const json j = {{"responder", s.responder}, {"step", s.step},
                  {"shown", s.shown},         {"chosen", s.chosen},
                  {"path_len", s.path_len},   {"path_hash", s.path_hash},
                  {"hops", s.hops},           {"last_reply", s.last_reply}};
  return std::string(stamp) + "|" + j.dump();
}

std::optional<MenuState> decode(const std::string& value) {
  const auto bar = value.find('|');
  if (bar == std::string::npos) return std::nullopt;
  const json j = json::parse(value.substr(bar + 1), nullptr, false);
  if (!j.is_object()) return std::nullopt;
  MenuState s;
  try {
    s.responder = j.at("responder").get<std::int64_t>();
    s.step = j.at("step").get<std::string>();
    s.shown = j.at("shown").get<std::vector<std::string>>();
    s.chosen = j.at("chosen").get<std::string>();
    s.path_len = j.at("path_len").get<std::size_t>();
    s.path_hash = j.at("path_hash").get<std::string>();
    s.hops = j.at("hops").get<std::int64_t>();
    s.last_reply = j.at("last_reply").get<std::string>();
  } catch (const json::exception&) {
    return std::nullopt;
  }
  return s;
}

std::string path_hash(const common::Pseudonymizer& key, std::string_view path) {
  return key.keyed("rabta responder menu path v1:" + std::string(path));
}

// The input this hop adds: what follows the path so far and its '*' (gateways that send the
// whole path), or the text itself.
std::string input_of(const common::Pseudonymizer& key, const UssdHop& hop, const MenuState& s) {
  if (!hop.text_is_path || s.path_len == 0) return hop.text;
  const std::string& t = hop.text;
  if (t.size() > s.path_len && t[s.path_len] == '*' &&
      path_hash(key, std::string_view(t).substr(0, s.path_len)) == s.path_hash)
    return t.substr(s.path_len + 1);
  return t;
}

}  // namespace

std::string responder_menu_line(const store::CaseRecord& c, std::int64_t now) {
  return c.reference + " " + c.severity + " " + age(now - c.created_at);
}

ResponderUssd::ResponderUssd(const CaseService& cases, const common::Pseudonymizer& key,
                             const common::Clock& clock, std::string code)
    : cases_(cases), key_(key), clock_(clock), code_(std::move(code)) {}

int ResponderUssd::expire(store::Tx& tx, std::int64_t before) const {
  char stamp[24];
  std::snprintf(stamp, sizeof stamp, "%013lld", static_cast<long long>(before));
  return tx.delete_meta(kPrefix, stamp);
}

std::optional<UssdReply> ResponderUssd::handle(store::Tx& tx, const UssdHop& hop) const {
  const std::int64_t now = clock_.now_ms();
  const std::string key = key_of(hop);
  std::optional<MenuState> state;
  std::optional<store::ResponderRecord> who;
  if (const std::string stored = tx.meta(key); !stored.empty()) {
    state = decode(stored);
    if (state) who = tx.find_responder(state->responder);
    // Another number with her session id (SAFETY W5: a session is the number's that opened it):
    // the women's service's, which keeps it apart. She was removed meanwhile: the menu is over.
    if (!state || !who || who->phone_pseudonym != hop.pseudonym) return std::nullopt;
    if (!who->active) {
      UssdReply r;
      r.end = true;
      r.text = "Session ended.";
      r.outcome = "responder_menu_refused";
      return r;
    }
  } else {
    if (!code_.empty() && hop.service_code != code_) return std::nullopt;
    if (tx.find_session(hop.provider, hop.session_id)) return std::nullopt;  // a woman's session
    who = tx.find_responder_by_phone(hop.pseudonym);
    if (!who || !who->active) return std::nullopt;
    state = MenuState{};
    state->responder = who->id;
    state->step = who->pin_hash.empty() ? "list" : "pin";
  }
  MenuState& s = *state;

  // A retried hop gets the same answer, and nothing is applied twice.
  // As UssdService: without a path, the gateway's hop counter or a second "begin" tells a retry.
  const bool repeated =
      s.hops > 0 &&
      (hop.text_is_path ? hop.text.size() == s.path_len && path_hash(key_, hop.text) == s.path_hash
                        : ((hop.sequence > 0 && hop.sequence <= s.hops) || hop.begins));
  UssdReply reply;
  reply.hop = static_cast<int>(s.hops);
  // A session number of its own for the screens an asynchronous gateway takes by a separate
  // call (their outbox rows are keyed by session and hop): negative, so never a women's session.
  reply.session = -static_cast<std::int64_t>(std::stoull(
      key_.keyed("rabta responder menu session v1:" + hop.provider + ":" + hop.session_id)
          .substr(0, 13),
      nullptr, 16));
  if (repeated) {
    reply.end = s.last_reply.rfind("END ", 0) == 0;
    reply.text = s.last_reply.substr(4);
    reply.outcome = "repeated";
    return reply;
  }
  const bool first = s.hops == 0;
  const std::string input = first ? std::string() : input_of(key_, hop, s);
  if (hop.text_is_path) {
    s.path_len = hop.text.size();
    s.path_hash = path_hash(key_, hop.text);
  }
  ++s.hops;

  Actor actor;
  actor.responder_id = who->id;
  actor.name = who->name;
  actor.role = who->role;
  actor.team = who->team;
  actor.via = "ussd";
  actor.channel = hop.provider;
  actor.message_id = hop.session_id;

  std::string screen;
  bool end = false;
  const auto list_screen = [&] {
    // What waits in her team: not yet acknowledged first, then acknowledged and nobody's; the
    // most severe and the oldest first.
    store::CaseFilter f;
    f.open_only = true;
    f.limit = 200;
    std::vector<store::CaseRecord> cases = cases_.list(tx, actor, f);
    std::erase_if(
        cases, [](const store::CaseRecord& c) { return c.status == store::case_status::claimed; });
    std::sort(cases.begin(), cases.end(), [](const auto& a, const auto& b) {
      const bool ao = a.status == store::case_status::open;
      const bool bo = b.status == store::case_status::open;
      if (ao != bo) return ao;
      if (severity_rank(a.severity) != severity_rank(b.severity))
        return severity_rank(a.severity) < severity_rank(b.severity);
      return a.id < b.id;
    });
    if (cases.empty()) {
      end = true;
      screen = "Nothing waits for you.";
      return;
    }
    if (cases.size() > kMaxItems) cases.resize(kMaxItems);
    s.step = "list";
    s.shown.clear();
    screen = std::to_string(cases.size()) + " waiting:";
    for (std::size_t i = 0; i < cases.size(); ++i) {
      s.shown.push_back(cases[i].reference);
      screen += "\n" + std::to_string(i + 1) + " " + responder_menu_line(cases[i], now);
    }
    screen += "\n0 Exit";
  };
  const auto item_screen = [&](const std::string& reference) {
    const auto c = tx.find_case(reference);
    s.step = "item";
    s.chosen = reference;
    screen = (c ? responder_menu_line(*c, now) : reference) + "\n1 Acknowledge\n2 Take it\n0 Back";
  };

  if (s.step == "pin") {
    if (first) {
      screen = "Enter your PIN";
    } else {
      const std::string by_sms = "sms:" + std::to_string(who->id);
      const std::string by_ussd = "ussd:" + std::to_string(who->id);
      const int wrong = tx.count_audit_since(by_sms, "pin_wrong,", now - kPinWindowMs) +
                        tx.count_audit_since(by_ussd, "pin_wrong,", now - kPinWindowMs);
      const bool right =
          wrong < kMaxWrongPins && valid_pin(input) &&
          common::constant_time_equal(who->pin_hash, responder_pin_hash(key_, who->id, input));
      if (!right) {
        tx.append_audit(now, by_ussd, "responder.menu", "",
                        sms_audit_detail(wrong >= kMaxWrongPins ? "locked" : "pin_wrong", actor));
        end = true;
        screen = "Not accepted.";
      } else {
        list_screen();
      }
    }
  } else if (s.step == "list") {
    if (first) {
      list_screen();
    } else if (input == "0") {
      end = true;
      screen = "Goodbye.";
    } else {
      std::size_t n = 0;
      for (const char ch : input) n = ch >= '0' && ch <= '9' && n < 100 ? n * 10 + (ch - '0') : 999;
      if (n >= 1 && n <= s.shown.size()) {
        item_screen(s.shown[n - 1]);
      } else {
        list_screen();
        if (!end) screen = "Choose a number.\n" + screen;
      }
    }
  } else {  // item
    if (input == "0") {
      list_screen();
    } else if (input == "1" || input == "2") {
      const bool ack = input == "1";
      const CaseResult r =
          ack ? cases_.acknowledge(tx, actor, s.chosen) : cases_.claim(tx, actor, s.chosen);
      end = true;
      if (r == CaseResult::ok)
        screen = s.chosen + (ack ? " acknowledged." : " is yours now.");
      else if (r == CaseResult::conflict || r == CaseResult::invalid)
        screen = s.chosen + " is closed.";
      else
        screen = s.chosen + " is not in your queue.";
    } else {
      item_screen(s.chosen);
      screen = "Choose 1, 2 or 0.\n" + screen;
    }
  }

  reply.end = end;
  reply.text = screen;
  reply.hop = static_cast<int>(s.hops);
  reply.outcome = end ? "responder_menu_end" : "responder_menu";
  s.last_reply = (end ? "END " : "CON ") + screen;
  // Ended: the state stays until the idle sweep, so that a retried last hop gets its answer.
  tx.set_meta(key, encode(s, now));
  return reply;
}

}  // namespace rabta::gateway
