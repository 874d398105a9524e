// "directory": the help-line directory from config, one "Name: number" per line, split over pages;
// "9. More" shows the next page, the last page ends the session.
#include "flows/node_kind.hpp"
#include "flows/nodes/paging.hpp"

namespace rabta::flows {
namespace {

std::string entry_line(const FlowSet& set, const std::string& lang, std::size_t i) {
  const DirectoryEntry& d = set.directory[i];
  return d.name.in(lang, set.settings.default_language) + ": " + d.number;
}

std::vector<PageRange> pages_of(const Node& n, const FlowSet& set) {
  return paginate(set, n.text, set.directory.size(), false,
                  [&](const std::string& lang, std::size_t i, std::uint32_t) {
                    return entry_line(set, lang, i);
                  });
}

class DirectoryKind final : public NodeKind {
 public:
  std::string_view name() const override { return "directory"; }

  void check(const Node& n, const FlowSet& set, std::vector<Diagnostic>& errors) const override {
    const std::string w = "node '" + n.id + "'";
    if (n.text.empty()) errors.push_back({n.pos, w + ": a directory needs 'text' (its heading)"});
    if (set.directory.empty()) errors.push_back({n.pos, w + ": the directory file has no entries"});
    if (!n.options.empty() || !n.next.empty())
      errors.push_back({n.pos, w + ": a directory has no 'options' or 'next'"});
  }

  std::uint32_t pages(const Node& n, const FlowSet& set, const std::string&) const override {
    return static_cast<std::uint32_t>(pages_of(n, set).size());
  }

  Screen render(const Node& n, const FlowSet& set, const std::string& language, std::uint32_t page,
                const Vars& vars) const override {
    const auto ranges = pages_of(n, set);
    const PageRange r = ranges[std::min<std::size_t>(page, ranges.size() - 1)];
    Screen s;
    s.text = fill(n.text.in(language, set.settings.default_language), vars);
    std::vector<std::string> lines;
    for (std::size_t i = r.begin; i < r.end; ++i) lines.push_back(entry_line(set, language, i));
    const bool more = r.end < set.directory.size();
    s.choices = page_text(set, language, n.text, r, more, lines);
    s.end = !more;
    return s;
  }

  Answer answer(const Node& n, const FlowSet& set, const std::string& input, const std::string&,
                std::uint32_t page) const override {
    const auto ranges = pages_of(n, set);
    Answer a;
    if (choice_number(input) == more_choice && page + 1 < ranges.size()) {
      a.kind = Answer::Kind::page;
      a.page = page + 1;
    }
    return a;
  }
};

}  // namespace

const NodeKind& directory_kind() {
  static const DirectoryKind k;
  return k;
}

}  // namespace rabta::flows
