#include <memory>

#include "adapters/store/store.hpp"

namespace rabta::store {

std::unique_ptr<Store> open_store(const StoreOptions& options) {
  return options.url.empty() ? open_sqlite_store(options) : open_postgres_store(options);
}

}  // namespace rabta::store
