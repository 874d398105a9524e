// The field cipher of the tests: one key (id 1), every byte `fill`, so that two tests that need
// "another key" pass another fill.
#pragma once

#include "adapters/common/cipher.hpp"

namespace rabta::test {

inline common::FieldCipher test_cipher(unsigned char fill = 0xAA) {
  common::FieldCipher::Key key{};
  key.fill(fill);
  return common::FieldCipher({{1, key}}, 1);
}

}  // namespace rabta::test
