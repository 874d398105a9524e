// "menu": a question with numbered choices; each choice may save an answer, run effects and
// leads to its own next node.
#include "flows/node_kind.hpp"

namespace rabta::flows {
namespace {

class MenuKind final : public NodeKind {
 public:
  std::string_view name() const override { return "menu"; }

  void check(const Node& n, const FlowSet&, std::vector<Diagnostic>& errors) const override {
    const std::string w = "node '" + n.id + "'";
    if (n.text.empty()) errors.push_back({n.pos, w + ": a menu needs 'text'"});
    if (n.options.empty())
      errors.push_back({n.pos, w + ": a menu needs at least one [[nodes." + n.id + ".options]]"});
    if (n.options.size() > 9) errors.push_back({n.pos, w + ": a menu can have at most 9 options"});
    if (!n.next.empty())
      errors.push_back({n.pos, w + ": a menu goes on through its options' 'next', not 'next'"});
    if (n.save.empty())
      for (const auto& o : n.options)
        if (!o.value.empty()) {
          errors.push_back(
              {o.pos, w + ": an option has a 'value' but the menu has no 'save' name"});
          break;
        }
  }

  Screen render(const Node& n, const FlowSet& set, const std::string& language, std::uint32_t,
                const Vars& vars) const override {
    Screen s;
    s.text = fill(n.text.in(language, set.settings.default_language), vars);
    for (std::size_t i = 0; i < n.options.size(); ++i)
      s.choices += (i ? "\n" : "") +
                   numbered(static_cast<std::uint32_t>(i + 1),
                            n.options[i].label.in(language, set.settings.default_language));
    return s;
  }

  Answer answer(const Node& n, const FlowSet&, const std::string& input, const std::string&,
                std::uint32_t) const override {
    const std::uint32_t k = choice_number(input);
    Answer a;
    if (k == 0 || k > n.options.size()) return a;
    const Option& o = n.options[k - 1];
    a.kind = Answer::Kind::next;
    a.next = o.next;
    a.effects = o.effects;
    if (!n.save.empty())
      a.saves.emplace_back(n.save, o.value.empty() ? std::to_string(k) : o.value);
    return a;
  }
};

}  // namespace

const NodeKind& menu_kind() {
  static const MenuKind k;
  return k;
}

}  // namespace rabta::flows
