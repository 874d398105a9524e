#pragma once

#include "flows/node_kind.hpp"
#include "flows/text.hpp"

namespace rabta::flows {

template <typename LineFn>
std::vector<PageRange> paginate(const FlowSet& set, const Translated& header, std::size_t count,
                                bool numbered_items, LineFn line) {
  const Settings& s = set.settings;
  std::vector<PageRange> pages;
  std::size_t begin = 0;
  while (begin < count) {
    std::size_t end = begin + 1;
    // Grow the page while the next item still fits (with a "more" line if items remain).
    while (end < count && (!numbered_items || end - begin < max_items_per_page)) {
      bool fits = true;
      for (const auto& lang : s.languages) {
        std::string items;
        for (std::size_t i = begin; i <= end; ++i)
          items += "\n" + line(lang, i, static_cast<std::uint32_t>(i - begin + 1));
        if (end + 1 < count)
          items += "\n" + numbered(more_choice, set.message("more").in(lang, s.default_language));
        // The page must fit on its own and after the short error line of a re-prompt.
        if (!fits_ussd_screen(header.in(lang, s.default_language) + items) ||
            !fits_ussd_screen(set.message("invalid").in(lang, s.default_language) + items)) {
          fits = false;
          break;
        }
      }
      if (!fits) break;
      ++end;
    }
    pages.push_back({begin, end});
    begin = end;
  }
  if (pages.empty()) pages.push_back({0, 0});
  return pages;
}

}  // namespace rabta::flows
