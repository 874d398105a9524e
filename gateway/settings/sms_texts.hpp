// SMS keywords and outbound templates (config/keywords.toml, config/templates.toml), checked
// against the flows at start-up like the flows themselves.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "flows/flow.hpp"

namespace rabta::gateway {

enum class KeywordAction { flow, stop, start };

struct Keyword {
  std::string name;  // the table's name: incident, checkin, language, stop, start
  KeywordAction action = KeywordAction::flow;
  std::string target;                                     // "flow:node" for KeywordAction::flow
  std::map<std::string, std::vector<std::string>> words;  // language -> normalised words
};

struct KeywordMatch {
  const Keyword* keyword = nullptr;
  std::string language;  // the language of the word that matched
};

// How her SMS reply to the weekly check-in reads (SAFETY W3): one of the menu's options, or
// unclear (a negation such as "theek nahi", words of two options, nothing recognisable), which
// gets one clarifying question and is never read as "fine".
struct CheckinReading {
  int option = 0;        // 1.. when the whole message means exactly one option
  bool unclear = false;  // option == 0: ask once which she means
  bool urgent = false;   // a word or digit of the urgent option appears (even negated)
};

// Splits a normalised message into words: letters and digits only (punctuation, Urdu
// punctuation and symbols separate words; an apostrophe is dropped, so "don't" is "dont"), and a
// run of one repeated Latin letter counts once ("theeek" = "thek", "nahiii" = "nahi").
std::vector<std::string> answer_tokens(const std::string& normalised);

struct SmsTexts {
  std::vector<Keyword> keywords;
  std::string checkin_node;                                 // "flow:node" of the check-in question
  std::string answer_key;                                   // the answer that question saves
  std::map<int, std::vector<std::string>> checkin_answers;  // option number -> normalised words
  std::vector<std::string> negations;  // [checkin_answers] negations: "nahi", "not", "نہیں", ...
  std::vector<std::string> unclear_words;  // [checkin_answers] unclear: "bad", "pareshan", ...
  std::vector<std::string> filler_words;   // [checkin_answers] filler: "hoon", "ji", "thanks", ...
  int urgent_option = 3;  // [checkin_answers] urgent: wins over the others unless negated
  std::map<std::string, flows::Translated> templates;

  // `normalised` is flows::normalise_input of her message. Matches a word at its start.
  KeywordMatch match_keyword(const std::string& normalised) const;
  // The check-in option her reply means, read as a whole (digits or words, any order). The
  // urgent option wins when it appears without a negation; otherwise a negation, an unclear
  // word, two different options or an unknown number make it unclear, and "fine" needs every
  // word of the message to be a fine word or a filler ("theek hoon ji"), so that "ok so he hit
  // me" is never fine (SAFETY W3).
  CheckinReading read_checkin_answer(const std::string& normalised) const;
  const std::string& text(const std::string& name, const std::string& language,
                          const std::string& fallback) const;
};

// Template names every deployment needs.
inline const std::vector<std::string> required_templates = {
    "checkin_prompt", "checkin_reminder", "checkin_dial", "checkin_clarify",
    "opt_out",        "opt_in",           "closing"};

// Reads and checks both files against the flows. Problems as "file:line: reason" in `errors`.
SmsTexts load_sms_texts(const std::string& keywords_path, const std::string& templates_path,
                        const flows::FlowSet& flows, std::vector<flows::Diagnostic>& errors);

}  // namespace rabta::gateway
