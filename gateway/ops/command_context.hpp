// What rabta's commands share: loading the keys, and opening config, keys and database for an
// operator command (contacts, outbox, keys). One loader, so every command reads the keys the
// same way (the environment variable wins over the file) and opens the store with the field key.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>

#include "adapters/common/cipher.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/store.hpp"
#include "gateway/settings/config.hpp"

namespace rabta::gateway {

struct Keys {
  std::unique_ptr<common::Pseudonymizer> pseudonymizer;
  std::shared_ptr<common::FieldCipher> cipher;
};

// Both keys as configured. `field_key_file_only`: ignore the field key's environment variable
// (key rotation rewrites the file). Throws std::runtime_error naming the source, never a key.
Keys load_keys(const Config& config, bool field_key_file_only = false);

struct CommandContext {
  Config config;
  Keys keys;  // empty unless asked for
  std::unique_ptr<store::Store> store;
};

// The config, the keys when `with_keys`, and the store (with the field key when loaded); the
// problem written to `err` as "rabta: ..." and null on any failure. Logging drops to warnings.
std::unique_ptr<CommandContext> open_command_context(const std::string& config_path,
                                                     std::ostream& err, bool with_keys,
                                                     bool field_key_file_only = false);

}  // namespace rabta::gateway
