#include "adapters/sms/sms_adapter.hpp"

namespace rabta::adapters::sms {

const char* to_string(Delivery d) {
  switch (d) {
    case Delivery::queued:
      return "queued";
    case Delivery::sent:
      return "sent";
    case Delivery::delivered:
      return "delivered";
    case Delivery::failed:
      return "failed";
    case Delivery::unknown:
      return "unknown";
  }
  return "unknown";
}

}  // namespace rabta::adapters::sms
