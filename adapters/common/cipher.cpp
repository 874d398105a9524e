#include "adapters/common/cipher.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "adapters/common/crypto.hpp"

namespace rabta::common {
namespace {

static_assert(FieldCipher::kKeyBytes == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(FieldCipher::kNonceBytes == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(FieldCipher::kTagBytes == crypto_aead_xchacha20poly1305_ietf_ABYTES);

constexpr std::size_t kHexKeyChars = 2 * FieldCipher::kKeyBytes;

void ensure_sodium() {
  // sodium_init() is thread-safe and idempotent; the static makes it run once per process.
  static const int rc = sodium_init();
  if (rc < 0) throw std::runtime_error("libsodium could not be initialised");
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

unsigned char* bytes(std::string& s) {
  return reinterpret_cast<unsigned char*>(s.data());
}

// Wipes a string holding key material when it goes out of scope, also on an exception.
class Wiped {
 public:
  explicit Wiped(std::string& s) : s_(s) {}
  ~Wiped() { sodium_memzero(s_.data(), s_.size()); }
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;

 private:
  std::string& s_;
};

bool is_hex(std::string_view s) {
  for (const char c : s) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!ok) return false;
  }
  return true;
}

bool is_identifier(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const bool ok =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

FieldCipher::Key decode_key(std::string_view hex) {
  FieldCipher::Key key{};
  std::size_t len = 0;
  if (hex.size() != kHexKeyChars || !is_hex(hex) ||
      sodium_hex2bin(key.data(), key.size(), hex.data(), hex.size(), nullptr, &len, nullptr) != 0 ||
      len != key.size()) {
    sodium_memzero(key.data(), key.size());
    throw std::invalid_argument("key must be 64 hex characters");
  }
  return key;
}

// Parses the key ring text. `source` names where it came from, for error messages:
// "field key file '/etc/rabta/field.key'" or "field key environment variable RABTA_FIELD_KEY".
FieldCipher parse_key_ring(std::string_view text, const std::string& source) {
  struct KeyLine {
    std::size_t line;
    bool bare;
  };
  FieldCipher::KeyRing ring;
  std::vector<KeyLine> key_lines;
  std::uint8_t current = 0;
  std::size_t line_no = 0;
  const auto fail = [&](std::size_t line, const std::string& reason) {
    for (auto& [id, key] : ring) sodium_memzero(key.data(), key.size());
    throw std::runtime_error(source + " line " + std::to_string(line) + ": " + reason);
  };

  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t nl = text.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? text.size() : nl;
    const std::string_view line = trim(text.substr(pos, end - pos));
    ++line_no;
    pos = end + 1;
    if (line.empty() || line.front() == '#') continue;

    std::uint8_t id = 1;
    std::string_view hex = line;
    const std::size_t colon = line.find(':');
    const bool bare = colon == std::string_view::npos;
    if (!bare) {
      const std::string_view id_text = trim(line.substr(0, colon));
      hex = trim(line.substr(colon + 1));
      int value = 0;
      const bool digits = !id_text.empty() && id_text.size() <= 3 &&
                          id_text.find_first_not_of("0123456789") == std::string_view::npos;
      if (digits) {
        for (const char c : id_text) value = value * 10 + (c - '0');
      }
      if (!digits || value < 1 || value > 255)
        fail(line_no, "key id must be a number from 1 to 255");
      id = static_cast<std::uint8_t>(value);
    } else if (line.size() != kHexKeyChars || !is_hex(line)) {
      fail(line_no, "expected <id>:<64 hex characters>");
    }
    if (ring.contains(id)) fail(line_no, "duplicate key id " + std::to_string(id));
    try {
      ring.emplace(id, decode_key(hex));
    } catch (const std::invalid_argument& e) {
      fail(line_no, e.what());
    }
    key_lines.push_back({line_no, bare});
    current = id;
  }

  if (key_lines.empty()) {
    throw std::runtime_error(source + " holds no key (expected lines <id>:<64 hex characters>)");
  }
  if (key_lines.size() > 1) {
    for (const KeyLine& k : key_lines) {
      if (k.bare) fail(k.line, "a key without '<id>:' is allowed only as the only key");
    }
  }
  return FieldCipher(std::move(ring), current);
}

std::string read_key_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw std::runtime_error("field key file '" + path + "' is missing");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("field key file '" + path + "' cannot be opened");
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    sodium_memzero(data.data(), data.size());
    throw std::runtime_error("field key file '" + path + "' could not be read");
  }
  return data;
}

}  // namespace

// Random nonces without a system call each: 24 bytes at a time from a per-thread buffer filled
// by the system's CSPRNG (randombytes_buf) 4 KiB at a time. XChaCha20's 192-bit nonces are
// safe to choose at random; each buffer byte is used once.
static void random_nonce(unsigned char* out) {
  thread_local std::array<unsigned char, 4096> pool{};
  thread_local std::size_t used = pool.size();
  if (used + FieldCipher::kNonceBytes > pool.size()) {
    randombytes_buf(pool.data(), pool.size());
    used = 0;
  }
  std::memcpy(out, pool.data() + used, FieldCipher::kNonceBytes);
  sodium_memzero(pool.data() + used, FieldCipher::kNonceBytes);
  used += FieldCipher::kNonceBytes;
}

FieldCipher::FieldCipher(KeyRing keys, std::uint8_t current_key_id)
    : keys_(std::move(keys)), current_(current_key_id) {
  ensure_sodium();
  if (keys_.empty()) throw std::invalid_argument("field cipher key ring is empty");
  if (keys_.contains(0)) throw std::invalid_argument("field cipher key id 0 is not allowed");
  if (!keys_.contains(current_)) {
    throw std::invalid_argument("field cipher current key id " + std::to_string(current_) +
                                " is not in the key ring");
  }
}

FieldCipher::~FieldCipher() {
  for (auto& [id, key] : keys_) sodium_memzero(key.data(), key.size());
}

FieldCipher::FieldCipher(const FieldCipher& other) {
  const std::shared_lock lock(other.mutex_);
  keys_ = other.keys_;
  current_ = other.current_;
}

FieldCipher& FieldCipher::operator=(const FieldCipher& other) {
  if (this != &other) replace_keys(other);
  return *this;
}

FieldCipher::FieldCipher(FieldCipher&& other) noexcept {
  const std::unique_lock lock(other.mutex_);
  keys_.swap(other.keys_);
  current_ = other.current_;
}

FieldCipher& FieldCipher::operator=(FieldCipher&& other) noexcept {
  if (this != &other) {
    const std::scoped_lock lock(mutex_, other.mutex_);
    keys_.swap(other.keys_);
    current_ = other.current_;
  }
  return *this;
}

std::uint8_t FieldCipher::current_key_id() const {
  const std::shared_lock lock(mutex_);
  return current_;
}

std::vector<std::uint8_t> FieldCipher::key_ids() const {
  const std::shared_lock lock(mutex_);
  std::vector<std::uint8_t> ids;
  for (const auto& entry : keys_) ids.push_back(entry.first);
  return ids;
}

void FieldCipher::replace_keys(const FieldCipher& newer) {
  KeyRing ring;
  std::uint8_t current = 0;
  {
    const std::shared_lock lock(newer.mutex_);
    ring = newer.keys_;
    current = newer.current_;
  }
  const std::unique_lock lock(mutex_);
  keys_.swap(ring);
  current_ = current;
  for (auto& entry : ring) sodium_memzero(entry.second.data(), entry.second.size());
}

std::size_t FieldCipher::padded_size(std::size_t plaintext_size) {
  // At least one byte of padding (the 0x80 marker); buckets of 32, 64, ..., 1024 bytes, then
  // multiples of 1024.
  const std::size_t need = plaintext_size + 1;
  std::size_t bucket = 32;
  while (bucket < need && bucket < 1024) bucket *= 2;
  if (need <= bucket) return bucket;
  return (need + 1023) / 1024 * 1024;
}

std::string FieldCipher::encrypt(std::string_view plaintext,
                                 std::string_view associated_data) const {
  if (plaintext.size() > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX - 1024 ||
      plaintext.size() > std::string().max_size() - kHeaderBytes - kTagBytes - 1024) {
    throw std::length_error("field too large to encrypt");
  }
  // Padded to its bucket (SECURITY #11): an answer drawn from a short list cannot be read from
  // the length of its ciphertext.
  const std::size_t padded_len = padded_size(plaintext.size());
  std::string padded(padded_len, '\0');
  std::copy(plaintext.begin(), plaintext.end(), padded.begin());
  std::size_t out_len = 0;
  if (sodium_pad(&out_len, bytes(padded), plaintext.size(), padded_len, padded_len) != 0 ||
      out_len != padded_len) {
    throw std::runtime_error("field padding failed");
  }
  const std::shared_lock lock(mutex_);
  const Key& key = keys_.at(current_);
  std::string blob(kHeaderBytes + padded_len + kTagBytes, '\0');
  blob[0] = static_cast<char>(kVersion);
  blob[1] = static_cast<char>(current_);
  random_nonce(bytes(blob) + 2);

  std::string ad;
  ad.reserve(2 + associated_data.size());
  ad.append(blob, 0, 2).append(associated_data);

  unsigned long long written = 0;
  const unsigned char* nonce = bytes(blob) + 2;
  if (crypto_aead_xchacha20poly1305_ietf_encrypt(bytes(blob) + kHeaderBytes, &written,
                                                 bytes(padded), padded_len, bytes(ad), ad.size(),
                                                 nullptr, nonce, key.data()) != 0 ||
      written != padded_len + kTagBytes) {
    sodium_memzero(padded.data(), padded.size());
    throw std::runtime_error("field encryption failed");
  }
  sodium_memzero(padded.data(), padded.size());
  return blob;
}

std::optional<std::string> FieldCipher::decrypt(std::string_view blob,
                                                std::string_view associated_data) const {
  const std::optional<std::uint8_t> id = key_id_of(blob);
  if (!id) return std::nullopt;
  const std::shared_lock lock(mutex_);
  const auto it = keys_.find(*id);
  if (it == keys_.end()) return std::nullopt;

  std::string ad;
  ad.reserve(2 + associated_data.size());
  ad.append(blob.substr(0, 2)).append(associated_data);

  const std::string_view sealed = blob.substr(kHeaderBytes);
  std::string plaintext(sealed.size() - kTagBytes, '\0');
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(bytes(plaintext), &len, nullptr, bytes(sealed),
                                                 sealed.size(), bytes(ad), ad.size(),
                                                 bytes(blob) + 2, it->second.data()) != 0 ||
      len != plaintext.size()) {
    return std::nullopt;
  }
  if (static_cast<std::uint8_t>(blob[0]) == kVersionUnpadded) return plaintext;
  std::size_t unpadded = 0;
  if (plaintext.empty() ||
      sodium_unpad(&unpadded, bytes(plaintext), plaintext.size(), plaintext.size()) != 0)
    return std::nullopt;
  plaintext.resize(unpadded);
  return plaintext;
}

std::string FieldCipher::associated_data(std::string_view table, std::string_view column,
                                         std::int64_t row_id) {
  if (!is_identifier(table) || !is_identifier(column)) {
    throw std::invalid_argument(
        "associated data needs a table and a column name made of letters, digits and '_'");
  }
  std::string out;
  out.reserve(table.size() + column.size() + 22);
  out.append(table).append(".").append(column).append(":").append(std::to_string(row_id));
  return out;
}

std::optional<std::uint8_t> FieldCipher::key_id_of(std::string_view blob) {
  if (blob.size() < kHeaderBytes + kTagBytes) return std::nullopt;
  const auto version = static_cast<std::uint8_t>(blob[0]);
  if (version != kVersion && version != kVersionUnpadded) return std::nullopt;
  const auto id = static_cast<std::uint8_t>(blob[1]);
  if (id == 0) return std::nullopt;
  return id;
}

FieldCipher FieldCipher::load(const std::string& key_file, const char* env_var) {
  ensure_sodium();
  if (env_var != nullptr) {
    const char* env_value = std::getenv(env_var);
    if (env_value != nullptr && env_value[0] != '\0') {
      return parse_key_ring(env_value, "field key environment variable " + std::string(env_var));
    }
  }
  require_private_file(key_file, "field key file");
  std::string text = read_key_file(key_file);
  const Wiped wipe(text);
  return parse_key_ring(text, "field key file '" + key_file + "'");
}

std::optional<std::string> base64_decode(std::string_view in) {
  ensure_sodium();
  std::string out(in.size() / 4 * 3 + 3, '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                        in.size(), nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != in.data() + in.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

void FieldCipher::create_key_file(const std::string& path) {
  ensure_sodium();
  Key key{};
  randombytes_buf(key.data(), key.size());
  std::string text(2 + kHexKeyChars + 1, '\0');  // "1:" + hex + NUL from sodium_bin2hex
  const Wiped wipe(text);
  text[0] = '1';
  text[1] = ':';
  sodium_bin2hex(text.data() + 2, kHexKeyChars + 1, key.data(), key.size());
  sodium_memzero(key.data(), key.size());
  text.back() = '\n';  // replaces the NUL terminator
  write_new_private_file(path, text, "field key file");
}

}  // namespace rabta::common
