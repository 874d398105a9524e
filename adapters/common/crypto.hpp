// Signature checks for provider webhooks, digests, and phone-number pseudonyms (OpenSSL).
// Nothing here logs or puts a phone number or key into an exception message.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/common/phone.hpp"

namespace rabta::common {

// Compares in time that depends only on the lengths, never on where the contents differ.
// Unequal lengths return false.
bool constant_time_equal(std::string_view a, std::string_view b);

std::string hmac_sha256_hex(std::string_view key, std::string_view msg);     // lowercase hex
std::string hmac_sha256_base64(std::string_view key, std::string_view msg);  // standard, padded
std::string hmac_sha1_base64(std::string_view key, std::string_view msg);    // Twilio signatures
std::string sha256_hex(std::string_view data);                               // lowercase hex
std::string hex_encode(std::string_view bytes);                              // lowercase hex
// Throws (naming the file and its mode, never its content) when group or others may read `path`
// (SECURITY #11). A missing file passes: reading it reports that.
void require_private_file(const std::string& path, std::string_view what);
std::string base64_encode(std::string_view data);  // standard, padded
// Standard, padded base64; nullopt unless the whole input is valid.
std::optional<std::string> base64_decode(std::string_view text);

// normalise_msisdn: adapters/common/phone.hpp (one canonical E.164 form, SAFETY W1).

// Keyed, one-way pseudonyms for phone numbers, so stores and logs can correlate a caller
// without holding the number. Without the key a pseudonym cannot be brute-forced over the
// (small) space of phone numbers, which a plain hash could.
// Creates `path` with exactly mode 0600 and writes `text`, refusing to overwrite an existing
// file; a partial file is removed. `what` names the file in errors ("pseudonym key file").
void write_new_private_file(const std::string& path, std::string_view text,
                            const std::string& what);

class Pseudonymizer {
 public:
  static constexpr std::size_t kMinKeyBytes = 32;

  // Throws std::invalid_argument if the key is shorter than kMinKeyBytes.
  explicit Pseudonymizer(std::string key);

  // 64 lowercase hex chars: HMAC-SHA256(key, normalise_msisdn(raw_number)). Input that does
  // not normalise (e.g. an alphanumeric sender id) is keyed as given, so distinct senders
  // still get distinct pseudonyms instead of all sharing the pseudonym of "".
  std::string pseudonym(std::string_view raw_number) const;
  // HMAC of exactly these bytes, not normalised: for re-keying pseudonyms written before the
  // canonical form existed (SAFETY W1 migration).
  std::string keyed(std::string_view exact) const;

  // The key from env_var when it is set and non-empty, else from file_path. Either source
  // is hex-decoded when it is 64 or more hex characters (even length), otherwise taken as
  // raw bytes; a file's trailing newline is dropped. Throws std::runtime_error naming the
  // source and the reason ("missing", "shorter than 32 bytes", ...), never the key.
  // env_var may be nullptr to consult only the file.
  static std::string load_key(const std::string& file_path, const char* env_var);

  // Writes 32 random bytes, hex-encoded, to a new file with mode 0600. Throws
  // std::runtime_error if the file exists (a key is never overwritten: that would orphan
  // every stored pseudonym) or cannot be written.
  static void create_key_file(const std::string& path);

 private:
  std::string key_;
};

}  // namespace rabta::common
