#include "adapters/common/crypto.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <system_error>

namespace rabta::common {
namespace {

const unsigned char* bytes(std::string_view s) {
  // OpenSSL wants unsigned char; an empty view may have a null data() which some OpenSSL
  // entry points reject, so give them a valid pointer instead.
  static constexpr unsigned char kEmpty[1] = {0};
  return s.empty() ? kEmpty : reinterpret_cast<const unsigned char*>(s.data());
}

int int_len(std::string_view s) {
  if (s.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw std::length_error("input too large for OpenSSL");
  }
  return static_cast<int>(s.size());
}

std::string to_hex(const unsigned char* data, std::size_t len) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (std::size_t i = 0; i < len; ++i) {
    out.push_back(kHex[data[i] >> 4U]);
    out.push_back(kHex[data[i] & 0x0FU]);
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A key given as 64+ hex characters is taken to be hex; create_key_file writes that form.
bool looks_like_hex_key(std::string_view s) {
  if (s.size() < 2 * Pseudonymizer::kMinKeyBytes || s.size() % 2 != 0) return false;
  for (const char c : s) {
    if (hex_digit(c) < 0) return false;
  }
  return true;
}

std::string hex_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size() / 2);
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) {
    out.push_back(static_cast<char>((hex_digit(s[i]) << 4) | hex_digit(s[i + 1])));
  }
  return out;
}

struct Digest {
  std::array<unsigned char, EVP_MAX_MD_SIZE> bytes{};
  unsigned int len = 0;
};

Digest hmac(const EVP_MD* md, std::string_view key, std::string_view msg) {
  Digest d;
  if (HMAC(md, bytes(key), int_len(key), bytes(msg), msg.size(), d.bytes.data(), &d.len) ==
      nullptr) {
    throw std::runtime_error("HMAC computation failed");
  }
  return d;
}

std::string base64_of(const unsigned char* data, std::size_t len) {
  if (len > static_cast<std::size_t>(std::numeric_limits<int>::max() / 4 * 3 - 3)) {
    throw std::length_error("input too large for base64");
  }
  // EVP_EncodeBlock writes 4 chars per 3 input bytes plus a terminating NUL.
  std::string out(4 * ((len + 2) / 3) + 1, '\0');
  const int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

std::string read_file_bytes(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw std::runtime_error("pseudonym key file '" + path + "' is missing");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("pseudonym key file '" + path + "' cannot be opened");
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error("pseudonym key file '" + path + "' could not be read");
  return data;
}

std::string strip_trailing_newline(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

std::string decode_key_text(std::string text) {
  if (looks_like_hex_key(text)) {
    std::string decoded = hex_decode(text);
    OPENSSL_cleanse(text.data(), text.size());
    return decoded;
  }
  return text;
}

}  // namespace

std::string hex_encode(std::string_view data) {
  return to_hex(bytes(data), data.size());
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    // Still touch every byte of a, so the time taken says nothing about b's content.
    (void)CRYPTO_memcmp(bytes(a), bytes(a), a.size());
    return false;
  }
  return CRYPTO_memcmp(bytes(a), bytes(b), a.size()) == 0;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view msg) {
  const Digest d = hmac(EVP_sha256(), key, msg);
  return to_hex(d.bytes.data(), d.len);
}

std::string hmac_sha256_base64(std::string_view key, std::string_view msg) {
  const Digest d = hmac(EVP_sha256(), key, msg);
  return base64_of(d.bytes.data(), d.len);
}

std::string hmac_sha1_base64(std::string_view key, std::string_view msg) {
  const Digest d = hmac(EVP_sha1(), key, msg);
  return base64_of(d.bytes.data(), d.len);
}

std::string sha256_hex(std::string_view data) {
  Digest d;
  if (EVP_Digest(bytes(data), data.size(), d.bytes.data(), &d.len, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 computation failed");
  }
  return to_hex(d.bytes.data(), d.len);
}

std::string base64_encode(std::string_view data) {
  return base64_of(bytes(data), data.size());
}

Pseudonymizer::Pseudonymizer(std::string key) : key_(std::move(key)) {
  if (key_.size() < kMinKeyBytes) {
    throw std::invalid_argument("pseudonymizer key must be at least 32 bytes");
  }
}

std::string Pseudonymizer::pseudonym(std::string_view raw_number) const {
  const std::string normalised = normalise_msisdn(raw_number);
  // A normalised number is "+digits" or "digits"; raw input that fails to normalise
  // always contains some other character (or is empty), so the two never collide.
  return hmac_sha256_hex(key_, normalised.empty() ? raw_number : normalised);
}

std::string Pseudonymizer::keyed(std::string_view exact) const {
  return hmac_sha256_hex(key_, exact);
}

void require_private_file(const std::string& path, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // reading it names what is wrong
  const auto mode = static_cast<unsigned>(st.st_mode) & 0777U;
  if ((mode & 0077U) == 0) return;
  char octal[8];
  std::snprintf(octal, sizeof octal, "%04o", mode);
  throw std::runtime_error(std::string(what) + " '" + path + "' has mode " + octal +
                           ": group or others may read it; a key file must be readable by its "
                           "owner only (chmod 600 '" +
                           path + "')");
}

std::string Pseudonymizer::load_key(const std::string& file_path, const char* env_var) {
  if (env_var != nullptr) {
    const char* env_value = std::getenv(env_var);
    if (env_value != nullptr && env_value[0] != '\0') {
      std::string key = decode_key_text(std::string(env_value));
      if (key.size() < kMinKeyBytes) {
        throw std::runtime_error("pseudonym key from environment variable " + std::string(env_var) +
                                 " is shorter than 32 bytes");
      }
      return key;
    }
  }
  require_private_file(file_path, "pseudonym key file");
  std::string key = decode_key_text(strip_trailing_newline(read_file_bytes(file_path)));
  if (key.empty()) {
    throw std::runtime_error("pseudonym key file '" + file_path + "' is empty");
  }
  if (key.size() < kMinKeyBytes) {
    throw std::runtime_error("pseudonym key file '" + file_path + "' is shorter than 32 bytes");
  }
  return key;
}

void Pseudonymizer::create_key_file(const std::string& path) {
  std::array<unsigned char, kMinKeyBytes> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    throw std::runtime_error("could not generate a random pseudonym key for '" + path + "'");
  }
  std::string text = to_hex(raw.data(), raw.size()) + "\n";
  OPENSSL_cleanse(raw.data(), raw.size());

  try {
    write_new_private_file(path, text, "pseudonym key file");
  } catch (...) {
    OPENSSL_cleanse(text.data(), text.size());
    throw;
  }
  OPENSSL_cleanse(text.data(), text.size());
}

void write_new_private_file(const std::string& path, std::string_view text,
                            const std::string& what) {
  // O_EXCL makes "refuse to overwrite" atomic: no window between a check and the create.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int e = errno;
    if (e == EEXIST)
      throw std::runtime_error(what + " '" + path + "' already exists; refusing to overwrite it");
    throw std::runtime_error("cannot create " + what + " '" + path + "': " + std::strerror(e));
  }
  // The umask may have dropped bits from the requested mode; make it exactly owner-only.
  int err = ::fchmod(fd, 0600) == 0 ? 0 : errno;
  std::size_t done = 0;
  while (err == 0 && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
    } else if (errno != EINTR) {
      err = errno;
    }
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(path.c_str());  // a partial key file would later load as a wrong key
    throw std::runtime_error("cannot write " + what + " '" + path + "': " + std::strerror(err));
  }
}

}  // namespace rabta::common
