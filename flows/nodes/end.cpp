// "end": the last screen of a path. Its effects (e.g. open_case) run as it is entered, so the
// text can show the case reference as {ref}.
#include "flows/node_kind.hpp"

namespace rabta::flows {
namespace {

class EndKind final : public NodeKind {
 public:
  std::string_view name() const override { return "end"; }

  void check(const Node& n, const FlowSet&, std::vector<Diagnostic>& errors) const override {
    const std::string w = "node '" + n.id + "'";
    if (n.text.empty()) errors.push_back({n.pos, w + ": an end screen needs 'text'"});
    if (!n.options.empty() || !n.next.empty())
      errors.push_back({n.pos, w + ": an end screen has no 'options' or 'next'"});
  }

  Screen render(const Node& n, const FlowSet& set, const std::string& language, std::uint32_t,
                const Vars& vars) const override {
    Screen s;
    s.text = fill(n.text.in(language, set.settings.default_language), vars);
    s.end = true;
    return s;
  }

  Answer answer(const Node&, const FlowSet&, const std::string&, const std::string&,
                std::uint32_t) const override {
    return {};  // an ended session takes no more input
  }
};

}  // namespace

const NodeKind& end_kind() {
  static const EndKind k;
  return k;
}

}  // namespace rabta::flows
