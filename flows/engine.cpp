#include "flows/engine.hpp"

#include <algorithm>
#include <stdexcept>

#include "flows/node_kind.hpp"
#include "flows/text.hpp"

namespace rabta::flows {

std::string SeededIds::case_reference(std::size_t length) {
  std::string out;
  for (std::size_t i = 0; i < length; ++i) {
    // xorshift64*: deterministic and good enough to spread test references.
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    const std::uint64_t r = state_ * 0x2545F4914F6CDD1DULL;
    out.push_back(reference_alphabet[(r >> 33) % reference_alphabet.size()]);
  }
  return out;
}

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::shown:
      return "shown";
    case Outcome::invalid:
      return "invalid";
    case Outcome::ended:
      return "ended";
    case Outcome::too_many_invalid:
      return "too_many_invalid";
    case Outcome::quick_exit:
      return "quick_exit";
  }
  return "?";
}

namespace {

// The case leaving at this state raises: the node's exit_case, else its flow's (none while a
// resume is offered: the session it offers holds the report).
const EffectSpec* exit_case_in(const FlowSet& set, const SessionState& state) {
  if (state.resume_pending) return nullptr;
  if (const Node* n = set.find(state.flow, state.node); n && n->exit_case) return &*n->exit_case;
  const std::string& fid = state.flow.empty() ? set.find(set.settings.entry)->flow : state.flow;
  const auto it = set.flows.find(fid);
  return it != set.flows.end() && it->second.exit_case ? &*it->second.exit_case : nullptr;
}

}  // namespace

Engine::Engine(std::shared_ptr<const FlowSet> flows) : flows_(std::move(flows)) {
  if (!flows_) throw std::invalid_argument("Engine needs a validated FlowSet");
}

// One step's work: the state being changed and the effects produced.
struct Engine::Run {
  const FlowSet& set;
  IdSource* ids;
  StepResult result;

  const std::string& lang() const {
    return result.state.language.empty() ? set.settings.default_language : result.state.language;
  }
  const std::string& msg(const std::string& key) const {
    return set.message(key).in(lang(), set.settings.default_language);
  }

  const Node& current() const {
    const Node* n = set.find(result.state.flow, result.state.node);
    if (!n)
      throw std::runtime_error("session is at unknown node '" + result.state.flow + ":" +
                               result.state.node + "'");
    return *n;
  }

  Vars vars() const {
    Vars v = result.state.vars;
    v["ref"] = result.state.case_reference;
    return v;
  }

  Screen render() const {
    const Node& n = current();
    return find_node_kind(n.kind)->render(n, set, lang(), result.state.page, vars());
  }

  // "$name|default" takes her answer `name`; anything else is literal.
  std::string value_of(const std::string& spec) const {
    if (spec.empty() || spec[0] != '$') return spec;
    const auto bar = spec.find('|');
    const std::string name = spec.substr(1, bar == std::string::npos ? std::string::npos : bar - 1);
    const auto it = result.state.vars.find(name);
    if (it != result.state.vars.end() && !it->second.empty()) return it->second;
    return bar == std::string::npos ? std::string() : spec.substr(bar + 1);
  }

  void save(const std::string& key, const std::string& value) {
    result.state.vars[key] = value;
    Effect e;
    e.kind = EffectKind::save_answer;
    e.key = key;
    e.value = value;
    result.effects.push_back(std::move(e));
  }

  void apply(const EffectSpec& spec) {
    Effect e;
    e.kind = spec.kind;
    switch (spec.kind) {
      case EffectKind::save_answer:
        save(spec.key, value_of(spec.value));
        return;
      case EffectKind::open_case:
        // One case per session: a later open_case (e.g. quick exit after a report) adds nothing.
        if (!result.state.case_reference.empty()) return;
        e.category = value_of(spec.category);
        e.severity = value_of(spec.severity);
        e.reference = ids->case_reference(set.settings.reference_length);
        result.state.case_reference = e.reference;
        break;
      case EffectKind::consent:
        e.key = spec.key;
        e.value = spec.value;
        break;
      case EffectKind::set_language:
        e.value = spec.value;
        result.state.language = spec.value;
        break;
      case EffectKind::quick_exit:
        break;
    }
    result.effects.push_back(std::move(e));
  }

  void show(const Screen& s) {
    result.screen = s.full();
    result.end = s.end;
    if (s.end) {
      result.state.ended = true;
      result.outcome = Outcome::ended;
    }
  }

  void enter(const std::string& from_flow, const std::string& ref) {
    const Node* n = set.find(from_flow, ref);
    if (!n) throw std::runtime_error("transition to unknown node '" + ref + "'");
    result.state.flow = n->flow;
    result.state.node = n->id;
    result.state.invalid = 0;
    result.state.page = 0;
    for (const auto& e : n->effects) apply(e);
    show(render());
  }

  void end_with(const std::string& text, Outcome outcome) {
    result.screen = text;
    result.end = true;
    result.state.ended = true;
    result.outcome = outcome;
  }

  void invalid(const Screen& again) {
    result.outcome = Outcome::invalid;
    if (++result.state.invalid >= set.settings.max_invalid) {
      // Ended by wrong answers is still leaving: what she started is raised (SAFETY W4).
      if (const EffectSpec* ec = exit_case_in(set, result.state)) apply(*ec);
      if (!result.state.case_reference.empty()) {
        Effect qe;
        qe.kind = EffectKind::quick_exit;
        result.effects.push_back(qe);
      }
      end_with(msg("too_many_invalid"), Outcome::too_many_invalid);
      return;
    }
    const std::string& err = msg("invalid");
    const std::string full = err + "\n" + again.full();
    result.screen =
        fits_ussd_screen(full) || again.choices.empty() ? full : err + "\n" + again.choices;
    result.end = false;
  }
};

StepResult Engine::start(const std::string& language, IdSource& ids) const {
  Run run{*flows_, &ids, {}};
  const Settings& s = flows_->settings;
  const bool known = !language.empty() && std::find(s.languages.begin(), s.languages.end(),
                                                    language) != s.languages.end();
  // A one-language deployment without a language screen starts everyone at the entry.
  const bool only = !known && s.language_node.empty() && s.languages.size() == 1;
  run.result.state.language = known ? language : (only ? s.languages.front() : "");
  run.enter("", known || only ? s.entry : s.language_node);
  return run.result;
}

StepResult Engine::start_at(const std::string& node, const std::string& language,
                            IdSource& ids) const {
  if (!flows_->find(node)) throw std::invalid_argument("no node '" + node + "'");
  Run run{*flows_, &ids, {}};
  const Settings& s = flows_->settings;
  const bool known =
      std::find(s.languages.begin(), s.languages.end(), language) != s.languages.end();
  run.result.state.language = known ? language : "";
  run.enter("", node);
  return run.result;
}

StepResult Engine::offer_resume(const SessionState& unfinished,
                                const std::string& restart_at) const {
  Run run{*flows_, nullptr, {}};
  run.result.state = unfinished;
  run.result.state.resume_pending = true;
  run.result.state.restart_at = restart_at.empty() || !flows_->find(restart_at) ? "" : restart_at;
  run.result.state.invalid = 0;
  run.result.state.ended = false;
  run.result.screen = run.msg("resume") + "\n" + numbered(1, run.msg("resume_yes")) + "\n" +
                      numbered(2, run.msg("resume_restart"));
  return run.result;
}

const EffectSpec* Engine::exit_case_at(const SessionState& state) const {
  return exit_case_in(*flows_, state);
}

StepResult Engine::abandon(const SessionState& unfinished, IdSource& ids) const {
  Run run{*flows_, &ids, {}};
  run.result.state = unfinished;
  run.result.outcome = Outcome::shown;
  if (unfinished.ended) return run.result;
  if (const EffectSpec* ec = exit_case_at(unfinished)) run.apply(*ec);
  if (!run.result.state.case_reference.empty()) {
    Effect qe;
    qe.kind = EffectKind::quick_exit;
    run.result.effects.push_back(qe);
  }
  return run.result;
}

std::string Engine::screen(const SessionState& state) const {
  Run run{*flows_, nullptr, {}};
  run.result.state = state;
  if (state.resume_pending)
    return run.msg("resume") + "\n" + numbered(1, run.msg("resume_yes")) + "\n" +
           numbered(2, run.msg("resume_restart"));
  return run.render().full();
}

StepResult Engine::step(const SessionState& state, std::string_view raw_input,
                        IdSource& ids) const {
  Run run{*flows_, &ids, {}};
  run.result.state = state;
  const Settings& s = flows_->settings;
  if (state.ended) throw std::logic_error("step on an ended session");

  std::string raw(raw_input);
  const std::string input = normalise_input(raw);
  {  // trim the raw text the same way, but keep its case and digits for free-text answers
    const auto b = raw.find_first_not_of(" \t\r\n");
    const auto e = raw.find_last_not_of(" \t\r\n");
    raw = b == std::string::npos ? std::string() : raw.substr(b, e - b + 1);
  }

  if (input == s.quick_exit) {
    // Leave at once on neutral text. A report she started is still raised (SAFETY S3).
    if (const EffectSpec* ec = exit_case_at(state)) run.apply(*ec);
    Effect qe;
    qe.kind = EffectKind::quick_exit;
    run.result.effects.push_back(qe);
    run.end_with(run.msg("quick_exit"), Outcome::quick_exit);
    return run.result;
  }

  if (state.resume_pending) {
    const std::uint32_t k = choice_number(input);
    if (k == 1) {
      run.result.state.resume_pending = false;
      run.result.state.restart_at.clear();
      run.result.state.invalid = 0;
      run.show(run.render());
      return run.result;
    }
    if (k == 2) {
      SessionState fresh;
      fresh.language = state.language;
      run.result.state = fresh;
      run.enter("", state.restart_at.empty() ? s.entry : state.restart_at);
      return run.result;
    }
    Screen again;
    again.text = run.msg("resume");
    again.choices =
        numbered(1, run.msg("resume_yes")) + "\n" + numbered(2, run.msg("resume_restart"));
    run.invalid(again);
    return run.result;
  }

  const Node& node = run.current();
  const NodeKind* kind = find_node_kind(node.kind);
  const Answer a = kind->answer(node, *flows_, input, raw, state.page);
  switch (a.kind) {
    case Answer::Kind::invalid:
      run.invalid(run.render());
      break;
    case Answer::Kind::page:
      run.result.state.page = a.page;
      run.result.state.invalid = 0;
      run.show(run.render());
      break;
    case Answer::Kind::next:
      for (const auto& [key, value] : a.saves) run.save(key, value);
      for (const auto& e : a.effects) run.apply(e);
      run.enter(node.flow, a.next);
      break;
  }
  return run.result;
}

}  // namespace rabta::flows
