// A background thread that runs passes: after a pass it waits `poll_interval` or until wake(),
// or goes on at once when the pass reports more work due. Every periodic job of `rabta serve`
// runs on one (gateway/cli/wiring.cpp): the SMS and webhook dispatchers, the idle-session sweep,
// the weekly check-ins, the escalation ladder and retention.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace rabta::gateway {

class PassLoop {
 public:
  // `pass` runs one pass and returns true when more work is already due. `name` prefixes the
  // log line of a pass that throws (the loop goes on).
  PassLoop(std::string name, std::chrono::milliseconds poll_interval, std::function<bool()> pass)
      : name_(std::move(name)), poll_interval_(poll_interval), pass_(std::move(pass)) {}
  ~PassLoop() { stop(); }
  PassLoop(const PassLoop&) = delete;
  PassLoop& operator=(const PassLoop&) = delete;

  void start() {
    std::lock_guard lock(mutex_);
    if (thread_.joinable()) return;
    stopping_ = false;
    woken_ = false;
    thread_ = std::thread([this] { loop(); });
  }

  void wake() {
    std::lock_guard lock(mutex_);
    woken_ = true;
    cv_.notify_one();
  }

  // Finishes the pass in progress and joins the thread.
  void stop() {
    std::thread t;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      cv_.notify_one();
      t = std::move(thread_);
    }
    if (t.joinable()) t.join();
  }

 private:
  void loop() {
    while (true) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
      }
      bool more = false;
      try {
        more = pass_();
      } catch (const std::exception& e) {
        spdlog::error("{}: pass failed: {}", name_, e.what());
      }
      std::unique_lock lock(mutex_);
      if (!more) cv_.wait_for(lock, poll_interval_, [this] { return stopping_ || woken_; });
      woken_ = false;
      if (stopping_) return;
    }
  }

  const std::string name_;
  const std::chrono::milliseconds poll_interval_;
  const std::function<bool()> pass_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool woken_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace rabta::gateway
