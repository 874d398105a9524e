// "input": a typed answer, digits or free text, with a length range.
#include "flows/node_kind.hpp"
#include "flows/text.hpp"

namespace rabta::flows {
namespace {

class InputKind final : public NodeKind {
 public:
  std::string_view name() const override { return "input"; }

  void check(const Node& n, const FlowSet&, std::vector<Diagnostic>& errors) const override {
    const std::string w = "node '" + n.id + "'";
    if (n.text.empty()) errors.push_back({n.pos, w + ": an input needs 'text'"});
    if (n.format != "digits" && n.format != "text")
      errors.push_back({n.pos, w + ": 'format' must be \"digits\" or \"text\""});
    if (n.max_length == 0) errors.push_back({n.pos, w + ": an input needs 'max_length'"});
    if (n.max_length > 160) errors.push_back({n.pos, w + ": 'max_length' must be at most 160"});
    if (n.min_length > n.max_length)
      errors.push_back({n.pos, w + ": 'min_length' is larger than 'max_length'"});
    if (n.save.empty())
      errors.push_back({n.pos, w + ": an input needs 'save' (the answer's name)"});
    if (n.next.empty()) errors.push_back({n.pos, w + ": an input needs 'next'"});
    if (!n.options.empty()) errors.push_back({n.pos, w + ": an input has no 'options'"});
  }

  Screen render(const Node& n, const FlowSet& set, const std::string& language, std::uint32_t,
                const Vars& vars) const override {
    Screen s;
    s.text = fill(n.text.in(language, set.settings.default_language), vars);
    return s;
  }

  Answer answer(const Node& n, const FlowSet&, const std::string& input, const std::string& raw,
                std::uint32_t) const override {
    Answer a;
    const std::string& value = n.format == "digits" ? input : raw;
    const std::size_t length = utf8_decode(value).size();
    if (length < n.min_length || length > n.max_length) return a;
    if (n.format == "digits" && !all_digits(value)) return a;
    a.kind = Answer::Kind::next;
    a.next = n.next;
    a.saves.emplace_back(n.save, value);
    return a;
  }
};

}  // namespace

const NodeKind& input_kind() {
  static const InputKind k;
  return k;
}

}  // namespace rabta::flows
