#include "gateway/ops/command_context.hpp"

#include <spdlog/spdlog.h>

#include <ostream>

#include "gateway/responders/case_service.hpp"

namespace rabta::gateway {

Keys load_keys(const Config& config, bool field_key_file_only) {
  Keys k;
  k.pseudonymizer = std::make_unique<common::Pseudonymizer>(
      common::Pseudonymizer::load_key(config.pseudonym_key_file, config.pseudonym_key_env.c_str()));
  k.cipher = std::make_shared<common::FieldCipher>(common::FieldCipher::load(
      config.field_key_file, field_key_file_only ? nullptr : config.field_key_env.c_str()));
  return k;
}

std::unique_ptr<CommandContext> open_command_context(const std::string& config_path,
                                                     std::ostream& err, bool with_keys,
                                                     bool field_key_file_only) {
  auto c = std::make_unique<CommandContext>();
  try {
    spdlog::set_level(spdlog::level::warn);
    c->config = load_config(config_path);
    if (with_keys) c->keys = load_keys(c->config, field_key_file_only);
    store::StoreOptions so = store_options(c->config);
    so.cipher = c->keys.cipher;
    if (c->keys.pseudonymizer) so.audit_key = audit_key(*c->keys.pseudonymizer);
    c->store = store::open_store(so);
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return nullptr;
  }
  return c;
}

}  // namespace rabta::gateway
