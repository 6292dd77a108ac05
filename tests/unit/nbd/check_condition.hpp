// A CHECK CONDITION completion with the given key/ASC/ASCQ, as the SCSI engine would hand it to
// the NBD front end: what the tests of the NBD error mapping and transmission plan feed in.
#pragma once

#include <cstdint>

#include "vstor/command.hpp"
#include "vstor/sense.hpp"

namespace vstor::nbd::test {

inline Completion check_condition(std::uint8_t key, std::uint8_t asc, std::uint8_t ascq, bool descriptor = false) {
    Completion c;
    c.status = scsi_status::check_condition;
    scsi::Sense s;
    s.key = key;
    s.asc = asc;
    s.ascq = ascq;
    c.sense_len = descriptor ? scsi::encode_descriptor(s, c.sense.data(), c.sense.size())
                             : scsi::encode_fixed(s, c.sense.data(), c.sense.size());
    return c;
}

}  // namespace vstor::nbd::test
