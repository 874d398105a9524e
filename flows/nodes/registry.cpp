// Every node kind, one line each. A kind listed here needs tests/fixtures/nodes/<name>.scenario.
#include "flows/node_kind.hpp"

namespace rabta::flows {

const NodeKind& language_kind();
const NodeKind& menu_kind();
const NodeKind& input_kind();
const NodeKind& list_kind();
const NodeKind& end_kind();
const NodeKind& directory_kind();

std::vector<const NodeKind*> node_kinds() {
  return {
      &language_kind(), &menu_kind(), &input_kind(), &list_kind(), &end_kind(), &directory_kind(),
  };
}

const NodeKind* find_node_kind(std::string_view name) {
  for (const NodeKind* k : node_kinds())
    if (k->name() == name) return k;
  return nullptr;
}

}  // namespace rabta::flows
