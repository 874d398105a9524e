#include "gateway/cli/validate.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <utility>

#include "adapters/common/form.hpp"
#include "adapters/generic/fields.hpp"
#include "adapters/generic/sms.hpp"
#include "gateway/settings/lint.hpp"
#include "gateway/settings/secrets.hpp"

namespace rabta::gateway {

namespace {

flows::Diagnostic error_at(flows::SourcePos pos, std::string reason) {
  return flows::Diagnostic{std::move(pos), std::move(reason)};
}

// A key that could not be loaded, with the way out when its file is simply not there yet.
std::string key_problem(const std::exception& e) {
  std::string reason = e.what();
  if (reason.find("is missing") != std::string::npos)
    reason +=
        " (`rabta init` creates it; never beside an existing database, whose key it would "
        "not open)";
  return reason;
}

// Channel settings that name a file the operator has not created, e.g. a secret.
std::string missing_files_hint(const ChannelConfig& ch) {
  std::string hint;
  for (const auto& [setting, file] : ch.files)
    if (!ch.settings.count(setting))
      hint += " (" + setting + ": file " + file + " is missing; `rabta init` creates it)";
  return hint;
}

}  // namespace

std::vector<UssdChannel> build_ussd(const Config& config, std::vector<flows::Diagnostic>& errors) {
  std::vector<UssdChannel> out;
  for (const auto& u : config.ussd) {
    // Only the older [adapters.africastalking] (or its default, when rabta.toml has neither) has
    // no [ussd.X] line.
    const std::string table = config.lines.count("ussd." + u.name) ? "[ussd." + u.name + "]"
                                                                   : "[adapters.africastalking]";
    try {
      std::shared_ptr<const adapters::ussd::UssdAdapter> adapter =
          adapters::ussd::make_adapter(u.kind, u.name, u.settings);
      out.push_back({u.name, std::move(adapter), u.allow_from, u.duress_code_sha256});
    } catch (const adapters::generic::SettingError& e) {
      std::string reason = table + " " + e.what();
      if (const auto f = u.files.find(e.key); f != u.files.end() && !u.settings.count(e.key))
        reason += " (file " + f->second + " is missing; `rabta init` creates it)";
      if (!u.preset.empty() && u.at(e.key).file == u.preset) reason += " (from the preset)";
      errors.push_back(error_at(u.at(e.key), std::move(reason)));
    } catch (const std::invalid_argument& e) {
      errors.push_back(error_at(u.pos, table + ": " + e.what()));
    }
  }
  return out;
}

std::vector<ChannelSetup> build_channels(const Config& config, const std::string& public_url,
                                         std::vector<flows::Diagnostic>& errors) {
  std::vector<ChannelSetup> out;
  const std::string base =
      public_url.empty() ? "http://" + config.host + ":" + std::to_string(config.port) : public_url;
  for (ChannelConfig ch : config.channels) {
    const std::string where = "channels." + ch.name;
    const auto& kinds = adapters::sms::adapter_kinds();
    if (std::find(kinds.begin(), kinds.end(), ch.kind) == kinds.end()) {
      std::string known;
      for (const auto& k : kinds) known += (known.empty() ? "" : ", ") + k;
      errors.push_back(
          error_at(config.at(where + ".kind"),
                   "[" + where + "] kind '" + ch.kind + "' is not an adapter (" + known + ")"));
      continue;
    }
    // Kannel's delivery reports come back to this channel's own path (the adapter adds its key).
    if (ch.kind == "kannel" && !ch.settings.count("dlr_url"))
      ch.settings["dlr_url"] = base + ch.path;
    // A configured gateway learns its path, and the URL its delivery reports go to (with the key
    // when the channel's calls carry it in the query).
    if (ch.kind == "http") {
      ch.settings["path"] = ch.path;
      const std::string suffix = adapters::generic::HttpSms::dlr_suffix(ch.settings);
      if (!suffix.empty() && !ch.settings.count("dlr_url")) {
        std::string url = base + ch.path + suffix;
        const auto get = [&](const char* k) {
          const auto it = ch.settings.find(k);
          return it == ch.settings.end() ? std::string() : it->second;
        };
        if (get("auth.mode") == "key" && !get("auth.key_query").empty() && !get("auth.key").empty())
          url += "?" + common::percent_encode(get("auth.key_query")) + "=" +
                 common::percent_encode(get("auth.key"));
        ch.settings["dlr_url"] = url;
      }
    }
    try {
      std::shared_ptr<const adapters::sms::SmsAdapter> adapter =
          adapters::sms::make_adapter(ch.kind, ch.settings);
      out.push_back({ch.name, ch.path, std::move(adapter), ch.allow_from, ch.rate_per_second});
    } catch (const adapters::generic::SettingError& e) {
      std::string reason = "[" + where + "] " + e.what();
      if (const auto f = ch.files.find(e.key); f != ch.files.end() && !ch.settings.count(e.key))
        reason += " (file " + f->second + " is missing; `rabta init` creates it)";
      if (!ch.preset.empty() && ch.at(e.key).file == ch.preset) reason += " (from the preset)";
      errors.push_back(error_at(ch.at(e.key).line ? ch.at(e.key) : config.at(where), reason));
    } catch (const std::invalid_argument& e) {
      errors.push_back(
          error_at(config.at(where), "[" + where + "]: " + e.what() + missing_files_hint(ch)));
    }
  }
  return out;
}

StartupPlan validate_config(const Config& config, const std::string& public_url) {
  StartupPlan plan;
  auto& errors = plan.errors;

  // The flows, the SMS texts and their wording.
  plan.flows = load_flows(config);
  for (const auto& e : plan.flows.errors) errors.push_back(e);
  plan.warnings = plan.flows.warnings;
  if (plan.flows.flows) {
    std::vector<flows::Diagnostic> text_errors;
    auto texts = std::make_shared<const SmsTexts>(
        load_sms_texts(config.sms.keywords, config.sms.templates, *plan.flows.flows, text_errors));
    if (text_errors.empty()) {
      const BannedWords banned = load_banned_words(config.sms.banned_words, text_errors);
      for (auto& d : lint_wording(*texts, plan.flows.flows, banned))
        text_errors.push_back(std::move(d));
    }
    for (auto& e : text_errors) errors.push_back(std::move(e));
    plan.texts = std::move(texts);
  }

  // The keys: present, well-formed, readable by the service user only.
  try {
    plan.keys.pseudonymizer =
        std::make_unique<common::Pseudonymizer>(common::Pseudonymizer::load_key(
            config.pseudonym_key_file, config.pseudonym_key_env.c_str()));
  } catch (const std::exception& e) {
    errors.push_back(error_at(config.at("keys.pseudonym_key_file"), key_problem(e)));
  }
  try {
    plan.keys.cipher = std::make_shared<common::FieldCipher>(
        common::FieldCipher::load(config.field_key_file, config.field_key_env.c_str()));
  } catch (const std::exception& e) {
    errors.push_back(error_at(config.at("keys.field_key_file"), key_problem(e)));
  }

  plan.zone = flows::parse_zone(config.checkins.timezone);
  if (!plan.zone)
    errors.push_back(error_at(config.at("checkins.timezone"),
                              "[checkins] timezone '" + config.checkins.timezone +
                                  "' is not known (e.g. \"Asia/Karachi\" or \"UTC+05:00\")"));

  plan.ussd = build_ussd(config, errors);

  plan.channels = build_channels(config, public_url, errors);

  if (config.checkins.enabled) {
    plan.checkin_channel = config.checkins.channel;
    if (plan.checkin_channel.empty() && !config.channels.empty())
      plan.checkin_channel = config.channels.front().name;
    if (!plan.checkin_channel.empty()) {
      const bool found =
          std::any_of(config.channels.begin(), config.channels.end(),
                      [&](const ChannelConfig& c) { return c.name == plan.checkin_channel; });
      if (!found)
        errors.push_back(
            error_at(config.at("checkins.channel"),
                     "[checkins] channel '" + plan.checkin_channel + "' is not a [channels.X]"));
    }
  }

  if (plan.flows.flows && !config.responders_file.empty()) {
    std::vector<flows::Diagnostic> roster_errors;
    auto roster = std::make_shared<const Roster>(
        load_roster(config.responders_file, *plan.flows.flows, roster_errors));
    const bool known =
        std::any_of(config.channels.begin(), config.channels.end(),
                    [&](const ChannelConfig& c) { return c.name == roster->alert_channel; });
    if (!roster->alert_channel.empty() && !known)
      roster_errors.push_back(error_at({config.responders_file, roster->alert_channel_line},
                                       "alert_channel '" + roster->alert_channel +
                                           "' is not a [channels.X] in " + config.source));
    for (auto& e : roster_errors) errors.push_back(std::move(e));
    plan.roster = std::move(roster);
  }
  return plan;
}

}  // namespace rabta::gateway
