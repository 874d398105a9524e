#include "adapters/store/sqlite/connection.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/common/cipher.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/audit_chain.hpp"
#include "adapters/store/queries.hpp"
#include "adapters/store/sqlite/migrations.hpp"
#include "adapters/store/store.hpp"

namespace rabta::store::sqlite {

[[noreturn]] void throw_with_context(const char* operation, const SQLite::Exception& e) {
  // SQLite's messages name tables and columns, never bound values.
  throw std::runtime_error(std::string("store: ") + operation + " failed: " + e.what());
}

void Connection::configure_library() {
  static std::once_flag once;
  // SQLITE_MISUSE if SQLite was already initialised in this process (a test that opened a
  // database before): it then keeps its statistics, which changes speed, not behaviour.
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

bool sealing(const FieldCipher* cipher, std::string_view plain) {
  return cipher != nullptr && !plain.empty();
}

void bind_sealed(SQLite::Statement& st, int index, const FieldCipher* cipher,
                 std::string_view plain, const char* table, const char* column, std::int64_t id) {
  if (!sealing(cipher, plain)) {
    st.bind(index, std::string(plain));
    return;
  }
  const std::string blob = cipher->encrypt(plain, FieldCipher::associated_data(table, column, id));
  st.bind(index, blob.data(), static_cast<int>(blob.size()));
}

std::string read_sealed(const SQLite::Column& col, const FieldCipher* cipher, const char* table,
                        const char* column, std::int64_t id) {
  if (col.getType() != SQLITE_BLOB) return col.getString();
  const std::string blob(static_cast<const char*>(col.getBlob()),
                         static_cast<std::size_t>(col.getBytes()));
  const std::string where = std::string(table) + "." + column + " of row " + std::to_string(id);
  if (cipher == nullptr) {
    throw std::runtime_error("store: " + where + " is encrypted and the store has no field key");
  }
  auto plain = cipher->decrypt(blob, FieldCipher::associated_data(table, column, id));
  if (!plain) {
    throw std::runtime_error("store: " + where +
                             " does not decrypt (a field key missing from the key file, or an "
                             "altered row)");
  }
  return *std::move(plain);
}

void bind_session_id(SQLite::Statement& st, int index, std::int64_t session_id) {
  if (session_id == 0) {
    st.bind(index);
  } else {
    st.bind(index, session_id);
  }
}

void bind_blob(SQLite::Statement& st, int index, const std::string& bytes) {
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw std::length_error("store: a value is too large");
  }
  st.bindNoCopy(index, static_cast<const void*>(bytes.data()), static_cast<int>(bytes.size()));
}

std::string blob_from(const SQLite::Column& column) {
  // sqlite3_column_blob first, then _bytes (the order SQLite asks for); a zero-length BLOB reads
  // as a null pointer.
  const void* data = column.getBlob();
  const int size = column.getBytes();
  if (data == nullptr || size <= 0) return {};
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

}  // namespace rabta::store::sqlite
