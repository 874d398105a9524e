// Captures every log line (any level) while alive, so a test can assert what rabta logs, and
// above all what it never logs (a number, a text, a secret). Thread-safe: a test may read the
// text while rabta's threads log, and wait for a line (the server's own event, not a sleep).
#pragma once

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

namespace rabta::test {

class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()), sink_(std::make_shared<Sink>()) {
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::string text() const {
    std::lock_guard lock(sink_->text_mutex);
    return sink_->text;
  }
  // True once a line containing `needle` has been logged; false after `bound` without one.
  bool wait_for(const std::string& needle,
                std::chrono::milliseconds bound = std::chrono::seconds(10)) const {
    std::unique_lock lock(sink_->text_mutex);
    return sink_->logged.wait_for(lock, bound,
                                  [&] { return sink_->text.find(needle) != std::string::npos; });
  }

 private:
  struct Sink : spdlog::sinks::base_sink<std::mutex> {
    std::mutex text_mutex;
    std::condition_variable logged;
    std::string text;

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      spdlog::memory_buf_t line;
      formatter_->format(msg, line);
      {
        std::lock_guard lock(text_mutex);
        text.append(line.data(), line.size());
      }
      logged.notify_all();
    }
    void flush_() override {}
  };

  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<Sink> sink_;
};

}  // namespace rabta::test
