// Field key rotation (SAFETY D2): the server's background re-encryption and the operator's
// `rabta keys rotate | reseal | status | retire`.
//
// The key file holds one line per key, "<id>:<64 hex>", the last one current (see
// adapters/common/cipher.hpp). Rotating without downtime:
//   1. `rabta keys rotate` appends a new key and re-encrypts every stored value with it, in small
//      transactions beside the running server;
//   2. the running server notices the changed key file within its poll interval, takes the new
//      ring in place (nothing restarts) and re-encrypts whatever it wrote in between;
//   3. `rabta keys status` shows how many values each key still holds; `rabta keys retire 1`
//      removes key 1 from the file once no value uses it (it refuses otherwise).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

#include "gateway/outbound/pass_loop.hpp"

namespace rabta::common {
class FieldCipher;
}
namespace rabta::store {
class Store;
}

namespace rabta::gateway {

struct ResealStats {
  std::int64_t rewritten = 0;
  int batches = 0;
  bool complete = false;  // false when stopped early
};

// One complete re-encryption pass over every encrypted column, `batch` rows per transaction, so
// the server's own writes interleave. Records the key id in meta "sealed_key_id" when complete.
// `stop` (may be null) ends it early. Throws std::runtime_error when a batch fails (the reason
// names table, column and row, never a value).
ResealStats reseal_all(store::Store& store, const common::FieldCipher& cipher, int batch,
                       const std::atomic<bool>* stop = nullptr);

// Inside `rabta serve`: runs a pass at start when the database was last sealed with another key
// (or never), then polls the key file and, when it changed and still holds the key in use, takes
// the new ring in place and runs a pass. A key from the environment is never reloaded. Runs on a
// PassLoop like every periodic job; stop() ends a re-encryption pass half-way (the next start
// finishes it: the meta key id is written only by a complete pass).
class KeyRotation {
 public:
  KeyRotation(store::Store& store, std::shared_ptr<common::FieldCipher> cipher,
              std::string key_file, bool watch_file, std::chrono::milliseconds interval);
  ~KeyRotation();
  KeyRotation(const KeyRotation&) = delete;
  KeyRotation& operator=(const KeyRotation&) = delete;

  void start();
  void stop();

 private:
  void pass();
  bool reload_if_changed();  // true when the ring changed

  store::Store& store_;
  std::shared_ptr<common::FieldCipher> cipher_;
  const std::string key_file_;
  const bool watch_file_;
  std::string file_digest_;
  bool first_pass_ = true;
  std::atomic<bool> stopping_{false};
  PassLoop loop_;  // last: its thread stops before the members it uses go
};

// The operator's commands. Exit codes: 0 done, 1 refused (the reason is printed), 2 bad
// config, keys or database. Nothing printed names a number, a text or key material.
int keys_rotate(const std::string& config_path, std::ostream& out, std::ostream& err);
int keys_reseal(const std::string& config_path, std::ostream& out, std::ostream& err);
int keys_status(const std::string& config_path, std::ostream& out, std::ostream& err);
int keys_retire(const std::string& config_path, int key_id, std::ostream& out, std::ostream& err);

}  // namespace rabta::gateway
