// Responders' SMS commands (ACK/CLAIM and their Urdu and Roman Urdu forms) and PINs
// (responders.hpp).
#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/common/crypto.hpp"
#include "flows/engine.hpp"
#include "flows/text.hpp"
#include "gateway/responders/responders.hpp"

namespace rabta::gateway {

namespace {

// Folds what phones vary in Urdu script (Arabic yeh, kaf and heh for the Urdu letters; direction
// and joiner marks) and treats punctuation as spaces, then splits into words.
std::vector<std::string> command_words(const std::string& normalised) {
  std::u32string text = flows::utf8_decode(normalised);
  std::u32string folded;
  for (const char32_t c : text) {
    if (c == U'\u200c' || c == U'\u200d' || c == U'\u200e' || c == U'\u200f') continue;
    if (c == U'\u064a' || c == U'\u0649')
      folded.push_back(U'\u06cc');
    else if (c == U'\u0643')
      folded.push_back(U'\u06a9');
    else if (c == U'\u0647')
      folded.push_back(U'\u06c1');
    else if (c == U':' || c == U',' || c == U'.' || c == U'!' || c == U'\u06d4' || c == U'\u060c' ||
             c == U'\t' || c == U'\n' || c == U'\r')
      folded.push_back(U' ');
    else
      folded.push_back(c);
  }
  std::vector<std::string> words;
  std::istringstream in(flows::utf8_encode(folded));
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// A case reference: 5 to 12 characters of the reference alphabet (compared upper-cased).
std::optional<std::string> reference_of(const std::string& word) {
  if (word.size() < 5 || word.size() > 12) return std::nullopt;
  std::string ref;
  for (const char c : word) {
    const char u = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    if (flows::reference_alphabet.find(u) == std::string_view::npos) return std::nullopt;
    ref.push_back(u);
  }
  return ref;
}

using Phrase = std::vector<std::string>;

const std::vector<Phrase>& ack_phrases() {
  static const std::vector<Phrase> p = {
      {"ack"},  {"ok"},  {"okay"}, {"theek"}, {"theek", "hai"}, {"ji"},   {"ji", "haan"},
      {"haan"}, {"han"}, {"جی"},   {"ہاں"},   {"جی", "ہاں"},    {"ٹھیک"}, {"ٹھیک", "ہے"},
  };
  return p;
}
const std::vector<Phrase>& claim_phrases() {
  static const std::vector<Phrase> p = {{"claim"}, {"le", "liya"}, {"لے", "لیا"}};
  return p;
}
bool words_equal(const std::vector<std::string>& w, std::size_t from, const Phrase& p) {
  if (from + p.size() > w.size()) return false;
  return std::equal(p.begin(), p.end(), w.begin() + static_cast<std::ptrdiff_t>(from));
}

// A PIN: 4 to 8 digits (Urdu digits were folded to ASCII by normalise_input).
bool is_pin(const std::string& w) {
  return w.size() >= 4 && w.size() <= 8 &&
         std::all_of(w.begin(), w.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "PHRASE REF" or "REF PHRASE", each optionally followed by a PIN: {reference, pin}.
std::optional<std::pair<std::string, std::string>> phrase_and_reference(
    const std::vector<std::string>& words, const std::vector<Phrase>& phrases) {
  std::vector<std::string> w = words;
  std::string pin;
  if (w.size() >= 3 && is_pin(w.back())) {
    pin = w.back();
    w.pop_back();
  }
  for (const auto& p : phrases) {
    if (w.size() != p.size() + 1) continue;
    if (words_equal(w, 0, p))
      if (auto ref = reference_of(w.back())) return std::pair{*ref, pin};
    if (words_equal(w, 1, p))
      if (auto ref = reference_of(w.front())) return std::pair{*ref, pin};
  }
  return std::nullopt;
}

}  // namespace

std::optional<ResponderCommand> parse_responder_sms(const std::string& normalised) {
  const std::vector<std::string> w = command_words(normalised);
  if (w.empty()) return std::nullopt;
  if (auto r = phrase_and_reference(w, ack_phrases()))
    return ResponderCommand{ResponderCommand::Kind::ack, r->first, r->second};
  if (auto r = phrase_and_reference(w, claim_phrases()))
    return ResponderCommand{ResponderCommand::Kind::claim, r->first, r->second};
  return std::nullopt;
}

std::string responder_pin_hash(const common::Pseudonymizer& key, std::int64_t responder_id,
                               std::string_view pin) {
  return key.keyed("responder-pin:" + std::to_string(responder_id) + ":" + std::string(pin));
}

bool valid_pin(std::string_view pin) {
  return is_pin(std::string(pin));
}

}  // namespace rabta::gateway
