#include "gateway/ops/keys.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "adapters/common/cipher.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/store.hpp"
#include "gateway/ops/command_context.hpp"
#include "gateway/settings/config.hpp"

namespace rabta::gateway {

namespace {

// "_v2": every value was re-encrypted padded and the new sealed columns sealed (SECURITY #11); a
// database marked only with the old name gets one pass at the next start.
constexpr const char* kSealedKeyId = "sealed_key_id_v2";
constexpr int kBatch = 500;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("field key file '" + path + "' cannot be read");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Replaces `path` with `text` atomically (a new 0600 file beside it, renamed over it), so a
// crash leaves either the old or the new key file, never half of one.
void replace_private_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".new";
  std::error_code ec;
  std::filesystem::remove(tmp, ec);  // left by an interrupted earlier attempt
  common::write_new_private_file(tmp, text, "field key file");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::filesystem::remove(tmp, ec);
    throw std::runtime_error("field key file '" + path + "' could not be replaced");
  }
}

bool env_key_in_use(const Config& config) {
  if (config.field_key_env.empty()) return false;
  const char* v = std::getenv(config.field_key_env.c_str());
  return v != nullptr && v[0] != '\0';
}

std::string ids_text(const std::vector<std::uint8_t>& ids) {
  std::string out;
  for (auto id : ids) out += (out.empty() ? "" : ", ") + std::to_string(id);
  return out;
}

// The config, the key ring and the database; with `file_only` a key from the environment is
// refused (rotation rewrites the key file).
std::unique_ptr<CommandContext> open_keys(const std::string& config_path, std::ostream& err,
                                          bool file_only) {
  if (file_only) {
    try {
      const Config config = load_config(config_path);
      if (env_key_in_use(config)) {
        err << "rabta: the field key comes from the environment variable " << config.field_key_env
            << ": add a line '<id>:<64 hex>' to its value yourself and restart; "
               "`rabta keys reseal` then re-encrypts, `rabta keys status` shows progress\n";
        return nullptr;
      }
    } catch (const std::exception& e) {
      err << "rabta: " << e.what() << "\n";
      return nullptr;
    }
  }
  return open_command_context(config_path, err, true, file_only);
}

void print_usage(const CommandContext& c, std::ostream& out) {
  store::KeyUsage usage;
  c.store->read([&](store::Tx& tx) { usage = tx.sealed_key_usage(); });
  out << "keys in the key file: " << ids_text(c.keys.cipher->key_ids()) << " (current "
      << static_cast<int>(c.keys.cipher->current_key_id()) << ")\n";
  if (usage.empty()) out << "no encrypted values stored yet\n";
  for (const auto& [id, n] : usage) {
    if (id == 0) {
      out << "values not yet encrypted: " << n << "\n";
    } else {
      out << "values encrypted with key " << id << ": " << n << "\n";
    }
  }
}

}  // namespace

ResealStats reseal_all(store::Store& store, const common::FieldCipher& cipher, int batch,
                       const std::atomic<bool>* stop) {
  ResealStats stats;
  const std::uint8_t key = cipher.current_key_id();
  store::ResealCursor cursor;
  while (!cursor.done) {
    if (stop != nullptr && stop->load()) return stats;
    int rewritten = 0;
    bool elsewhere = false;
    const auto r = store.run([&](store::Tx& tx) {
      // Instances sharing a database (#14): one re-encrypts at a time; the others leave the pass
      // to it (it records the key id when done; a restart looks at that record).
      if (!tx.try_lock("key rotation")) {
        elsewhere = true;
        return;
      }
      rewritten = tx.reseal(cursor, batch);
    });
    if (!r.ok) throw std::runtime_error("re-encryption stopped: " + r.error);
    if (elsewhere) return stats;  // not complete here
    stats.rewritten += rewritten;
    ++stats.batches;
  }
  // Only when every value was sealed with the key still current: a rotation during the pass
  // leaves the marker behind, so the next pass runs.
  if (cipher.current_key_id() == key) {
    const auto r =
        store.run([&](store::Tx& tx) { tx.set_meta(kSealedKeyId, std::to_string(key)); });
    if (!r.ok) throw std::runtime_error("re-encryption could not be recorded: " + r.error);
  }
  stats.complete = true;
  return stats;
}

KeyRotation::KeyRotation(store::Store& store, std::shared_ptr<common::FieldCipher> cipher,
                         std::string key_file, bool watch_file, std::chrono::milliseconds interval)
    : store_(store),
      cipher_(std::move(cipher)),
      key_file_(std::move(key_file)),
      watch_file_(watch_file),
      loop_("keys", interval, [this] {
        pass();
        return false;
      }) {
  if (watch_file_) {
    try {
      file_digest_ = common::sha256_hex(read_file(key_file_));
    } catch (const std::exception&) {
      // Loaded from it a moment ago; an unreadable file shows up at the first poll.
    }
  }
}

KeyRotation::~KeyRotation() {
  stop();
}

void KeyRotation::start() {
  stopping_ = false;
  loop_.start();
}

void KeyRotation::stop() {
  stopping_ = true;  // ends a re-encryption pass at its next batch
  loop_.stop();
  // The loop's thread is gone: the next start checks again, so a pass this stop ended half-way
  // is finished then.
  first_pass_ = true;
}

bool KeyRotation::reload_if_changed() {
  if (!watch_file_) return false;
  std::string text;
  try {
    text = read_file(key_file_);
  } catch (const std::exception& e) {
    spdlog::error("keys: {} (keeping the keys loaded at start)", e.what());
    return false;
  }
  const std::string digest = common::sha256_hex(text);
  sodium_memzero(text.data(), text.size());
  if (digest == file_digest_) return false;
  try {
    common::FieldCipher next = common::FieldCipher::load(key_file_, nullptr);
    const auto in_use = cipher_->current_key_id();
    const auto ids = next.key_ids();
    if (std::find(ids.begin(), ids.end(), in_use) == ids.end()) {
      spdlog::error(
          "keys: the field key file {} no longer holds key {} that encrypts what is stored; "
          "keeping the keys in use (put the line back)",
          key_file_, static_cast<int>(in_use));
      file_digest_ = digest;  // say it once per change
      return false;
    }
    cipher_->replace_keys(next);
    file_digest_ = digest;
    spdlog::info("keys: field key file reloaded: keys {}, current {}", ids_text(ids),
                 static_cast<int>(next.current_key_id()));
    return true;
  } catch (const std::exception& e) {
    spdlog::error("keys: {} (keeping the keys in use)", e.what());
    file_digest_ = digest;
    return false;
  }
}

void KeyRotation::pass() {
  bool due = false;
  if (first_pass_) {
    first_pass_ = false;
    try {
      std::string sealed;
      store_.read([&](store::Tx& tx) { sealed = tx.meta(kSealedKeyId); });
      due = sealed != std::to_string(cipher_->current_key_id());
    } catch (const std::exception& e) {
      spdlog::error("keys: {}", e.what());
    }
  } else {
    due = reload_if_changed();
  }
  if (!due) return;
  try {
    const ResealStats s = reseal_all(store_, *cipher_, kBatch, &stopping_);
    if (s.complete)
      spdlog::info("keys: every stored value is encrypted with key {} ({} re-encrypted)",
                   static_cast<int>(cipher_->current_key_id()), s.rewritten);
  } catch (const std::exception& e) {
    spdlog::error("keys: {}", e.what());
  }
}

int keys_rotate(const std::string& config_path, std::ostream& out, std::ostream& err) {
  auto c = open_keys(config_path, err, true);
  if (!c) return 2;
  const std::string& path = c->config.field_key_file;
  const auto ids = c->keys.cipher->key_ids();
  const int next_id = static_cast<int>(ids.back()) + 1;
  if (next_id > 255) {
    err << "rabta: key ids go up to 255: retire old keys and renumber by hand\n";
    return 1;
  }
  try {
    std::string text = read_file(path);
    // A file with a single bare key is key 1; with a second key, ids are required.
    std::istringstream lines(text);
    std::string line;
    std::string rewritten;
    while (std::getline(lines, line)) {
      const auto first = line.find_first_not_of(" \t\r");
      const bool bare =
          first != std::string::npos && line[first] != '#' && line.find(':') == std::string::npos;
      rewritten += (bare ? "1:" + line.substr(first) : line) + "\n";
      sodium_memzero(line.data(), line.size());
    }
    sodium_memzero(text.data(), text.size());
    unsigned char key[common::FieldCipher::kKeyBytes];
    randombytes_buf(key, sizeof key);
    char hex[2 * sizeof key + 1];
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    sodium_memzero(key, sizeof key);
    rewritten += std::to_string(next_id) + ":" + hex + "\n";
    sodium_memzero(hex, sizeof hex);
    replace_private_file(path, rewritten);
    sodium_memzero(rewritten.data(), rewritten.size());
    c->keys.cipher->replace_keys(common::FieldCipher::load(path, nullptr));
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return 2;
  }
  out << "added key " << next_id << " to " << path << " (back this file up now, apart from the "
      << "database backups)\n";
  try {
    const ResealStats s = reseal_all(*c->store, *c->keys.cipher, kBatch);
    out << "re-encrypted " << s.rewritten << " stored values with key " << next_id << "\n";
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return 2;
  }
  out << "a running rabta takes the new key within seconds, without a restart, and re-encrypts "
         "what it wrote meanwhile; when `rabta keys status` shows nothing under an old key, "
         "`rabta keys retire <id>` removes it\n";
  print_usage(*c, out);
  c->store->close();
  return 0;
}

int keys_reseal(const std::string& config_path, std::ostream& out, std::ostream& err) {
  auto c = open_keys(config_path, err, false);
  if (!c) return 2;
  try {
    const ResealStats s = reseal_all(*c->store, *c->keys.cipher, kBatch);
    out << "re-encrypted " << s.rewritten << " stored values with key "
        << static_cast<int>(c->keys.cipher->current_key_id()) << "\n";
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return 2;
  }
  print_usage(*c, out);
  c->store->close();
  return 0;
}

int keys_status(const std::string& config_path, std::ostream& out, std::ostream& err) {
  auto c = open_keys(config_path, err, false);
  if (!c) return 2;
  try {
    print_usage(*c, out);
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return 2;
  }
  c->store->close();
  return 0;
}

int keys_retire(const std::string& config_path, int key_id, std::ostream& out, std::ostream& err) {
  auto c = open_keys(config_path, err, true);
  if (!c) return 2;
  const auto ids = c->keys.cipher->key_ids();
  if (key_id < 1 || key_id > 255 ||
      std::find(ids.begin(), ids.end(), static_cast<std::uint8_t>(key_id)) == ids.end()) {
    err << "rabta: key " << key_id << " is not in " << c->config.field_key_file << " (keys "
        << ids_text(ids) << ")\n";
    return 1;
  }
  if (key_id == c->keys.cipher->current_key_id()) {
    err << "rabta: key " << key_id << " is the current key: `rabta keys rotate` first\n";
    return 1;
  }
  store::KeyUsage usage;
  try {
    c->store->read([&](store::Tx& tx) { usage = tx.sealed_key_usage(); });
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return 2;
  }
  if (const auto it = usage.find(key_id); it != usage.end() && it->second > 0) {
    err << "rabta: " << it->second << " stored values still use key " << key_id
        << ": wait for the running server's re-encryption, or run `rabta keys reseal`\n";
    return 1;
  }
  try {
    std::string text = read_file(c->config.field_key_file);
    std::istringstream lines(text);
    std::string line;
    std::string kept;
    const std::string prefix = std::to_string(key_id) + ":";
    while (std::getline(lines, line)) {
      const auto first = line.find_first_not_of(" \t");
      if (first == std::string::npos || line.compare(first, prefix.size(), prefix) != 0)
        kept += line + "\n";
      sodium_memzero(line.data(), line.size());
    }
    sodium_memzero(text.data(), text.size());
    replace_private_file(c->config.field_key_file, kept);
    sodium_memzero(kept.data(), kept.size());
  } catch (const std::exception& e) {
    err << "rabta: " << e.what() << "\n";
    return 2;
  }
  out << "removed key " << key_id << " from " << c->config.field_key_file
      << "; a running rabta takes the change within seconds\n";
  c->store->close();
  return 0;
}

}  // namespace rabta::gateway
