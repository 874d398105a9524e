// Helpers shared by node kinds.
#include "flows/node_kind.hpp"
#include "flows/nodes/paging.hpp"

namespace rabta::flows {

std::string numbered(std::uint32_t number, const std::string& label) {
  std::string out = std::to_string(number);
  out += ". ";
  out += label;
  return out;
}

std::string fill(const std::string& text, const Vars& vars) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '{') {
      const auto close = text.find('}', i);
      if (close != std::string::npos) {
        const auto it = vars.find(text.substr(i + 1, close - i - 1));
        if (it != vars.end()) {
          out += it->second;
          i = close;
          continue;
        }
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::uint32_t choice_number(const std::string& input) {
  if (input.empty() || input.size() > 3 || input[0] == '0') return 0;
  std::uint32_t n = 0;
  for (char c : input) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return n;
}

std::string page_text(const FlowSet& set, const std::string& language, const Translated& header,
                      const PageRange& page, bool more, const std::vector<std::string>& lines) {
  (void)page;
  std::string text;
  for (const auto& l : lines) text += (text.empty() ? "" : "\n") + l;
  if (more)
    text += "\n" +
            numbered(more_choice, set.message("more").in(language, set.settings.default_language));
  (void)header;
  return text;
}

}  // namespace rabta::flows
