// Authenticated encryption of sensitive fields (SAFETY D1, D2) with libsodium's
// XChaCha20-Poly1305-IETF. Nothing here logs or puts a key or a plaintext into an exception.
//
// Blob format (binary, store it as a BLOB):
//   byte 0       format version: 2 (the plaintext padded, ISO/IEC 7816-4 via sodium_pad, to a
//                bucket of 32, 64, ..., 1024 bytes or a multiple of 1024: the length of a
//                ciphertext tells only its bucket, SECURITY #11), or 1 (unpadded, written before
//                version 2; still read, re-encrypted as 2 by key rotation)
//   byte 1       key id, 1..255 (which key of the key ring encrypted it)
//   bytes 2..25  24-byte random nonce
//   bytes 26..   ciphertext followed by the 16-byte Poly1305 tag
// The AEAD's associated data is the two header bytes followed by the caller's associated data,
// so neither the version nor the key id can be altered without failing authentication.
//
// Associated data convention: "table.column:row-id", e.g. "contacts.phone_enc:42", built by
// FieldCipher::associated_data(). It binds a ciphertext to the cell it was written to: a blob
// copied to another row or column fails to decrypt. The row id must therefore be known before
// encrypting (insert the row, then write the encrypted field, in one transaction).
//
// Key file (or environment variable) format, one key per line:
//   <id>:<64 hex characters>     id 1..255, the 32-byte key in hex
// The LAST key line is the current key (new encryptions use it); earlier lines stay for
// decrypting older blobs until they have been re-encrypted. Blank lines and lines starting
// with '#' are ignored. A file holding a single bare "<64 hex characters>" line is key id 1.
// Rotation (`rabta keys rotate`, gateway/ops/keys.hpp): append a line with a new id; a running
// server reloads the ring in place (replace_keys) and re-encrypts every blob whose key_id_of() is
// not current_key_id() in the background; `rabta keys retire` then drops the old line.
//
// Thread-safe: encrypt/decrypt may run on several threads while replace_keys swaps the ring.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace rabta::common {

class FieldCipher {
 public:
  static constexpr std::size_t kKeyBytes = 32;
  static constexpr std::size_t kNonceBytes = 24;
  static constexpr std::size_t kTagBytes = 16;
  static constexpr std::size_t kHeaderBytes = 2 + kNonceBytes;
  static constexpr std::uint8_t kVersion = 2;
  static constexpr std::uint8_t kVersionUnpadded = 1;
  // The padded length of a plaintext of this many bytes.
  static std::size_t padded_size(std::size_t plaintext_size);

  using Key = std::array<unsigned char, kKeyBytes>;
  using KeyRing = std::map<std::uint8_t, Key>;

  // Throws std::invalid_argument if the ring is empty, holds key id 0, or has no key
  // current_key_id.
  FieldCipher(KeyRing keys, std::uint8_t current_key_id);
  ~FieldCipher();  // wipes the keys
  FieldCipher(const FieldCipher& other);
  FieldCipher& operator=(const FieldCipher& other);
  FieldCipher(FieldCipher&& other) noexcept;
  FieldCipher& operator=(FieldCipher&& other) noexcept;

  // Encrypts with the current key and a fresh random nonce: encrypting the same plaintext
  // twice gives different blobs. Throws std::length_error for absurdly large input.
  std::string encrypt(std::string_view plaintext, std::string_view associated_data) const;

  // The plaintext, or nullopt on any failure: wrong associated data, a tampered or truncated
  // blob, an unknown version or key id.
  std::optional<std::string> decrypt(std::string_view blob, std::string_view associated_data) const;

  // "table.column:row-id". Throws std::invalid_argument unless table and column are non-empty
  // identifiers ([A-Za-z0-9_]), so that two different cells never share associated data.
  static std::string associated_data(std::string_view table, std::string_view column,
                                     std::int64_t row_id);

  std::uint8_t current_key_id() const;
  // The ids of every key in the ring, ascending.
  std::vector<std::uint8_t> key_ids() const;
  // Takes `newer`'s ring and current key (a reloaded key file), atomically for other threads.
  void replace_keys(const FieldCipher& newer);

  // The key id a blob was encrypted with (without decrypting it), or nullopt if the blob is
  // too short or of an unknown version. Used to find blobs that need re-encryption.
  static std::optional<std::uint8_t> key_id_of(std::string_view blob);

  // The key ring from env_var when it is set and non-empty, else from key_file (format
  // above). env_var may be nullptr to consult only the file. Throws std::runtime_error naming
  // the source, the line number and the reason, never key material.
  static FieldCipher load(const std::string& key_file, const char* env_var);

  // Writes "1:<64 hex>\n" (a fresh random key) to a new file with mode 0600. Throws
  // std::runtime_error if the file exists (overwriting a key would make every blob encrypted
  // with it unreadable) or cannot be written.
  static void create_key_file(const std::string& path);

 private:
  mutable std::shared_mutex mutex_;
  KeyRing keys_;
  std::uint8_t current_ = 0;
};

}  // namespace rabta::common
