// "language": she picks the language of every later screen; remembered for her next session.
#include "flows/node_kind.hpp"

namespace rabta::flows {
namespace {

class LanguageKind final : public NodeKind {
 public:
  std::string_view name() const override { return "language"; }

  void check(const Node& n, const FlowSet& set, std::vector<Diagnostic>& errors) const override {
    if (n.text.empty())
      errors.push_back({n.pos, "node '" + n.id + "': a language screen needs 'text'"});
    if (n.next.empty())
      errors.push_back({n.pos, "node '" + n.id + "': a language screen needs 'next'"});
    if (!n.options.empty())
      errors.push_back(
          {n.pos, "node '" + n.id +
                      "': a language screen lists the configured languages; remove 'options'"});
    if (set.settings.languages.size() > 9)
      errors.push_back({n.pos, "node '" + n.id + "': more than 9 languages cannot be numbered"});
  }

  Screen render(const Node& n, const FlowSet& set, const std::string& language, std::uint32_t,
                const Vars& vars) const override {
    Screen s;
    s.text = fill(n.text.in(language, set.settings.default_language), vars);
    std::uint32_t i = 0;
    for (const auto& code : set.settings.languages) {
      const auto it = set.settings.language_names.find(code);
      if (i > 0) s.choices += "\n";
      s.choices += numbered(++i, it == set.settings.language_names.end() ? code : it->second);
    }
    return s;
  }

  Answer answer(const Node& n, const FlowSet& set, const std::string& input, const std::string&,
                std::uint32_t) const override {
    const std::uint32_t k = choice_number(input);
    Answer a;
    if (k == 0 || k > set.settings.languages.size()) return a;
    a.kind = Answer::Kind::next;
    a.next = n.next;
    EffectSpec e;
    e.kind = EffectKind::set_language;
    e.value = set.settings.languages[k - 1];
    a.effects.push_back(e);
    return a;
  }
};

}  // namespace

const NodeKind& language_kind() {
  static const LanguageKind k;
  return k;
}

}  // namespace rabta::flows
