// The neutral-wording lint (SAFETY S2, S4): no word of config/banned_words.toml in any outbound
// template to a woman, in any language, nor in the first screens of a session (the language
// screen and the main menu in every language). Pure, but for reading the banned-words file.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flows/flow.hpp"
#include "gateway/settings/sms_texts.hpp"

namespace rabta::gateway {

struct BannedWords {
  std::map<std::string, std::vector<std::string>> by_language;  // language -> words
  std::string file;
};

// Reads the banned-words file; problems go to `errors` with file and line.
BannedWords load_banned_words(const std::string& path, std::vector<flows::Diagnostic>& errors);

// The first banned word found in `text` (any language's list), or nullopt. Words match whole
// words (Latin script case-insensitively; a phrase: its words in a row): "help" is not found in
// "helpful", nor کیس ("case") in کیسی ("how").
std::optional<std::string> find_banned(std::string_view text, const BannedWords& banned);

// One diagnostic per template and language (and per first screen) that holds a banned word.
std::vector<flows::Diagnostic> lint_wording(const SmsTexts& texts,
                                            const std::shared_ptr<const flows::FlowSet>& flows,
                                            const BannedWords& banned);

}  // namespace rabta::gateway
