// "list": a choice from a configured list (e.g. districts), split over pages that fit the screen;
// "9. More" shows the next page.
#include "flows/node_kind.hpp"
#include "flows/nodes/paging.hpp"

namespace rabta::flows {
namespace {

const std::vector<ListItem>& items_of(const Node& n, const FlowSet& set) {
  static const std::vector<ListItem> none;
  const auto it = set.lists.find(n.list);
  return it == set.lists.end() ? none : it->second;
}

std::vector<PageRange> pages_of(const Node& n, const FlowSet& set) {
  const auto& items = items_of(n, set);
  return paginate(set, n.text, items.size(), true,
                  [&](const std::string& lang, std::size_t i, std::uint32_t number) {
                    return numbered(number, items[i].label.in(lang, set.settings.default_language));
                  });
}

class ListKind final : public NodeKind {
 public:
  std::string_view name() const override { return "list"; }

  void check(const Node& n, const FlowSet& set, std::vector<Diagnostic>& errors) const override {
    const std::string w = "node '" + n.id + "'";
    if (n.text.empty()) errors.push_back({n.pos, w + ": a list needs 'text'"});
    if (n.list.empty())
      errors.push_back({n.pos, w + ": a list needs 'list' (the name of a list in the lists file)"});
    else if (items_of(n, set).empty())
      errors.push_back({n.pos, w + ": list '" + n.list + "' is not defined or empty"});
    if (n.save.empty()) errors.push_back({n.pos, w + ": a list needs 'save' (the answer's name)"});
    if (n.next.empty()) errors.push_back({n.pos, w + ": a list needs 'next'"});
  }

  std::uint32_t pages(const Node& n, const FlowSet& set, const std::string&) const override {
    return static_cast<std::uint32_t>(pages_of(n, set).size());
  }

  Screen render(const Node& n, const FlowSet& set, const std::string& language, std::uint32_t page,
                const Vars& vars) const override {
    const auto ranges = pages_of(n, set);
    const auto& items = items_of(n, set);
    const PageRange r = ranges[std::min<std::size_t>(page, ranges.size() - 1)];
    Screen s;
    s.text = fill(n.text.in(language, set.settings.default_language), vars);
    std::vector<std::string> lines;
    for (std::size_t i = r.begin; i < r.end; ++i)
      lines.push_back(numbered(static_cast<std::uint32_t>(i - r.begin + 1),
                               items[i].label.in(language, set.settings.default_language)));
    s.choices = page_text(set, language, n.text, r, r.end < items.size(), lines);
    return s;
  }

  Answer answer(const Node& n, const FlowSet& set, const std::string& input, const std::string&,
                std::uint32_t page) const override {
    const auto ranges = pages_of(n, set);
    const auto& items = items_of(n, set);
    const PageRange r = ranges[std::min<std::size_t>(page, ranges.size() - 1)];
    const std::uint32_t k = choice_number(input);
    Answer a;
    if (k == more_choice && r.end < items.size()) {
      a.kind = Answer::Kind::page;
      a.page = page + 1;
      return a;
    }
    if (k == 0 || k > r.end - r.begin) return a;
    a.kind = Answer::Kind::next;
    a.next = n.next;
    a.saves.emplace_back(n.save, items[r.begin + k - 1].key);
    return a;
  }
};

}  // namespace

const NodeKind& list_kind() {
  static const ListKind k;
  return k;
}

}  // namespace rabta::flows
