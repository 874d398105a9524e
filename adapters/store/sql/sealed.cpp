#include "adapters/store/sql/sealed.hpp"

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace rabta::store::sql {

bool sealing(const FieldCipher* cipher, std::string_view plain) {
  return cipher != nullptr && !plain.empty();
}

void bind_sealed(Statement& st, int index, const FieldCipher* cipher, std::string_view plain,
                 const char* table, const char* column, std::int64_t id) {
  if (!sealing(cipher, plain)) {
    st.bind(index, plain);
    return;
  }
  st.bind_blob(index, cipher->encrypt(plain, FieldCipher::associated_data(table, column, id)));
}

std::string read_sealed(const Column& col, const FieldCipher* cipher, const char* table,
                        const char* column, std::int64_t id) {
  if (col.getType() != Type::blob) return col.getString();
  const std::string blob = col.getBlob();
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

void bind_session_id(Statement& st, int index, std::int64_t session_id) {
  if (session_id == 0) {
    st.bind(index);
  } else {
    st.bind(index, session_id);
  }
}

void bind_blob(Statement& st, int index, const std::string& bytes) {
  st.bind_blob(index, bytes);
}

std::string blob_from(const Column& column) {
  return column.getBlob();
}

}  // namespace rabta::store::sql
