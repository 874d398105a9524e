// Splits a long list of lines into screens that fit the USSD limit in every language.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "flows/flow.hpp"

namespace rabta::flows {

// The option number that shows the next page on a paged screen.
inline constexpr std::uint32_t more_choice = 9;
// At most this many numbered items on one page, so that `more_choice` stays free.
inline constexpr std::size_t max_items_per_page = 8;

struct PageRange {
  std::size_t begin = 0;
  std::size_t end = 0;  // one past the last item
};

// `line(lang, index, number_on_page)` renders one item; pages are cut so that header + items
// (+ the "more" line when more pages follow) fit in every language. An item that cannot fit
// even alone gets a page of its own (validation then reports it).
template <typename LineFn>
std::vector<PageRange> paginate(const FlowSet& set, const Translated& header, std::size_t count,
                                bool numbered_items, LineFn line);

std::string page_text(const FlowSet& set, const std::string& language, const Translated& header,
                      const PageRange& page, bool more, const std::vector<std::string>& lines);

}  // namespace rabta::flows

#include "flows/nodes/paging_impl.hpp"
