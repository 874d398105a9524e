// One validation for `rabta check` and `rabta serve` (SECURITY #11 "One validation"): whatever
// serve would refuse to start with, check refuses too, with the same "file:line: reason", because
// both call this and nothing else. It reads the files the config names (flows, SMS texts, banned
// words, the roster, the key files, the secrets) and builds every SMS adapter, but opens no
// database and no socket.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/sms/sms_adapter.hpp"
#include "flows/flow.hpp"
#include "flows/local_time.hpp"
#include "gateway/inbound/app.hpp"
#include "gateway/ops/command_context.hpp"
#include "gateway/responders/responders.hpp"
#include "gateway/settings/config.hpp"
#include "gateway/settings/sms_texts.hpp"

namespace rabta::gateway {

// One [channels.X] with its adapter built from its settings.
struct ChannelSetup {
  std::string name;
  std::string path;
  std::shared_ptr<const adapters::sms::SmsAdapter> adapter;
  AllowList allow_from;
  double rate_per_second = 10;
};

struct StartupPlan {
  flows::LoadResult flows;
  std::shared_ptr<const SmsTexts> texts;
  std::optional<flows::Zone> zone;
  Keys keys;                      // both keys, loaded and checked (file mode included)
  std::vector<UssdChannel> ussd;  // every [ussd.X] with its adapter built
  std::vector<ChannelSetup> channels;
  std::string checkin_channel;           // "" = no weekly check-ins
  std::shared_ptr<const Roster> roster;  // null without a [responders] file
  std::vector<flows::Diagnostic> errors;
  std::vector<flows::Diagnostic> warnings;
  bool ok() const { return errors.empty(); }
};

// Everything serve checks before it opens the database. `public_url` is where Kannel's delivery
// reports come back (serve passes the address it listens on; "" = http://host:port).
StartupPlan validate_config(const Config& config, const std::string& public_url = "");

// The SMS adapters of the config, each built from its settings; a channel that cannot be built
// is an error at its [channels.X] line. serve builds them again once it knows its address.
std::vector<ChannelSetup> build_channels(const Config& config, const std::string& public_url,
                                         std::vector<flows::Diagnostic>& errors);

// The USSD adapters of the config, each built from its settings (and its preset's); a setting
// that cannot be used is an error at the line it was written, in rabta.toml or the preset file.
std::vector<UssdChannel> build_ussd(const Config& config, std::vector<flows::Diagnostic>& errors);

}  // namespace rabta::gateway
