// Time and randomness as injected sources, so that service logic is tested deterministically.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "flows/engine.hpp"

namespace rabta::common {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t now_ms() const = 0;  // Unix epoch milliseconds
};

class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock tests move by hand.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms) : now_(start_ms) {}
  std::int64_t now_ms() const override { return now_.load(); }
  void advance(std::chrono::milliseconds d) { now_ += d.count(); }

 private:
  std::atomic<std::int64_t> now_;
};

// Case references from the operating system's random source (libsodium).
class RandomIds final : public flows::IdSource {
 public:
  RandomIds();
  std::string case_reference(std::size_t length) override;
};

}  // namespace rabta::common
