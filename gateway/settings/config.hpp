// rabta.toml: the operator's configuration, read and checked at start-up and by `rabta check`.
// Relative paths in the file are resolved against the file's own folder.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/store/store.hpp"
#include "flows/flow.hpp"
#include "gateway/http/allow_list.hpp"

namespace rabta::gateway {

// A configuration problem: "file:line: reason" (never a secret's value).
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One USSD aggregator: [ussd.<name>] (or the older [adapters.africastalking], read as
// [ussd.africastalking] of kind "africastalking"). `settings` go to the adapter
// (adapters/ussd/registry.cpp): the table's keys flattened ("request.session_id"), on top of its
// preset's; a setting `x_env` or `x_file` provides setting `x` as for [channels.X].
struct UssdChannelConfig {
  std::string name;
  std::string kind;    // a registered kind: africastalking, http
  std::string path;    // where its hops arrive (settings["path"] too)
  std::string preset;  // the preset file it starts from ("" = none)
  std::map<std::string, std::string> settings;
  std::map<std::string, std::string> files;       // setting -> the file it is read from (x_file)
  std::map<std::string, flows::SourcePos> where;  // setting -> where it was written
  flows::SourcePos pos;                           // the table's own line
  AllowList allow_from;                           // empty: any address (the key still applies)
  // SAFETY S4: SHA-256 hex of the dialled code that means duress ("" = none); see FLOWS.md.
  std::string duress_code_sha256;
  // Where setting `key` was written: its line (or its x_env / x_file line), else the table's.
  flows::SourcePos at(const std::string& key) const;
};

// One SMS channel: [channels.<name>]. `settings` go to the adapter (adapters/sms): the table's
// keys, sub-tables flattened ("send.url"), on top of its preset's; a setting `x_env` or `x_file`
// provides setting `x` from the environment (wins) or a file's first line.
struct ChannelConfig {
  std::string name;
  std::string kind;  // a registered adapter: africastalking, twilio, kannel
  std::string path;  // where its callbacks arrive, e.g. "/sms/kannel"
  double rate_per_second = 10;
  std::map<std::string, std::string> settings;
  std::map<std::string, std::string> files;  // setting -> the file it is read from (x_file)
  AllowList allow_from;                      // empty: any address (the signature still applies)
  // kind = "http": the preset it starts from (config/presets/sms/), and where each setting was
  // written (rabta.toml or the preset), for messages at file:line.
  std::string preset;
  std::map<std::string, flows::SourcePos> where;
  flows::SourcePos pos;  // the table's own line
  flows::SourcePos at(const std::string& key) const;
};

struct SmsConfig {
  std::string keywords = "keywords.toml";
  std::string templates = "templates.toml";
  std::string banned_words = "banned_words.toml";  // the neutral-wording lint (SAFETY S2)
  std::chrono::milliseconds conversation_timeout{3'600'000};
  std::chrono::milliseconds throttle_window{600'000};
  int throttle_max_messages = 20;
  std::chrono::milliseconds loop_window{600'000};
  int loop_max_repeats = 3;
  std::chrono::milliseconds reply_ttl{3'600'000};
};

struct CheckinConfig {
  bool enabled = true;
  std::string timezone = "Asia/Karachi";
  std::string channel;  // the [channels.X] that sends check-ins ("" = the first channel)
  std::chrono::milliseconds reminder_after{7'200'000};
  std::chrono::milliseconds deadline{172'800'000};
  std::string missed_severity = "normal";
  std::string missed_again_severity = "high";
  std::chrono::milliseconds interval{60'000};
};

// [retention] (SAFETY D4): how long each kind of row is kept, in days; 0 = forever.
struct RetentionConfig {
  int sessions_days = 30;       // finished sessions: what she typed and saw, her answers
  int closed_cases_days = 180;  // closed cases with their notes and session
  int outbox_days = 30;         // sent, dead, expired and unconfirmed messages
  int inbound_days = 30;        // records of SMS received (for duplicate detection)
  int checkins_days = 180;      // finished weekly check-ins
  std::chrono::milliseconds interval{6 * 3'600'000};  // how often `rabta serve` purges
};

struct OutboxConfig {
  int max_attempts = 8;
  std::chrono::milliseconds backoff_base{2'000};
  std::chrono::milliseconds backoff_cap{600'000};
  std::chrono::milliseconds poll_interval{500};
  // How long a claimed row is the claimer's: longer than a send may take (15 s). With several
  // instances on PostgreSQL, a dead instance's rows in flight are settled this long after it
  // claimed them (docs/SCALING.md).
  std::chrono::milliseconds lease{60'000};
};

struct Config {
  std::string source;  // the file it was read from
  // The line of every key and table in the file by its dotted name ("checkins.channel",
  // "channels.kannel"), so that checks made after reading still name file:line.
  std::map<std::string, std::uint32_t> lines;
  // `key`'s place in the file: its own line, else its table's, else the file alone.
  flows::SourcePos at(const std::string& key) const;

  // [server]
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::size_t body_limit = 8 * 1024;
  std::size_t header_limit = 8 * 1024;
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds idle_timeout{30'000};
  std::size_t max_connections_per_peer = 256;
  unsigned threads = 1;

  // [database]
  std::string database = "rabta.db";
  // [database] url: a PostgreSQL server instead of the SQLite file (#14), libpq's URL without a
  // password (it comes from ~/.pgpass or PGPASSWORD). "" = the SQLite file `database`.
  std::string database_url;
  bool synchronous_full = true;
  std::size_t max_queue = 1024;  // [database] max_queue: waiting writes before requests get 503

  std::string public_url;  // how aggregators reach rabta ("" = http://host:port as listening)

  // [keys]
  std::string pseudonym_key_file = "keys/pseudonym.key";
  std::string pseudonym_key_env = "RABTA_PSEUDONYM_KEY";
  std::string field_key_file = "keys/field.key";  // AEAD key(s) for phone numbers and free text
  std::string field_key_env = "RABTA_FIELD_KEY";

  // [flows]
  std::string flows_settings = "messages.toml";
  std::string flows_lists = "lists.toml";
  std::string flows_directory = "directory.toml";
  std::vector<std::string> flow_files;  // from `dir` (every *.toml, sorted) or `files`

  // [sessions]
  std::chrono::milliseconds session_idle{
      180'000};  // an active USSD session with no hop this long is incomplete
  std::chrono::milliseconds resume_window{
      600'000};  // an unfinished session can be resumed this long (offered after a root choice)
  std::chrono::milliseconds quiet_period{
      86'400'000};  // nothing is sent to her this long after a quick exit

  // [log]
  std::string log_level = "info";

  // [numbers] (SAFETY W1): how numbers written without a country code are read. Loading the
  // config makes this the process's plan (common::set_default_number_plan).
  std::string default_country = "PK";

  std::vector<UssdChannelConfig> ussd;  // in file order ([adapters.africastalking] first)
  SmsConfig sms;
  CheckinConfig checkins;
  OutboxConfig outbox;
  RetentionConfig retention;
  AllowList metrics_allow;  // [metrics] allow_from: who may GET /metrics (empty: loopback only)
  // [server] trusted_proxies: the reverse proxies whose Forwarded / X-Forwarded-For name the
  // client (SECURITY #11); empty: those headers are ignored and the connection's address counts.
  AllowList trusted_proxies;
  std::vector<ChannelConfig> channels;  // in file order

  // [responders]
  std::string responders_file;  // "" = no responder queue (cases wait in the outbox)
  std::chrono::milliseconds escalation_interval{2'000};
};

// Reads and checks the file. Throws ConfigError.
Config load_config(const std::string& path);

// Reads the flow files named by the config and validates them (pure loader in flows/).
flows::LoadResult load_flows(const Config& config);

// The store's options from [database] (path or url, synchronous, max_queue); the caller adds the
// keys (cipher, audit key).
store::StoreOptions store_options(const Config& config);

// "the database PATH" or "the database postgresql HOST/DB", for messages.
std::string database_name(const Config& config);

}  // namespace rabta::gateway
