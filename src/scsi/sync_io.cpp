#include "scsi/sync_io.hpp"

namespace vstor::util {

std::string& last_io_message() {
    thread_local std::string message;
    return message;
}

}  // namespace vstor::util
