// The software CRC32C (used where ISA-L is absent: the Windows build) against ISA-L's crc32_iscsi
// and the RFC 7143 B.4 vectors.
#include <gtest/gtest.h>
#include <isa-l/crc.h>

#include <random>
#include <string>
#include <vector>

#include "util/crc32c.hpp"

namespace vstor::util {
namespace {

std::uint32_t finish(std::uint32_t raw) { return raw ^ 0xFFFFFFFFu; }

TEST(Crc32c, SoftwareMatchesKnownVectors) {
    std::vector<std::uint8_t> zeros(32, 0), ones(32, 0xFF), inc(32), dec(32);
    for (int i = 0; i < 32; ++i) {
        inc[i] = static_cast<std::uint8_t>(i);
        dec[i] = static_cast<std::uint8_t>(31 - i);
    }
    // RFC 7143 B.4.
    EXPECT_EQ(finish(crc32c_update_software(zeros.data(), 32, 0xFFFFFFFFu)), 0x8A9136AAu);
    EXPECT_EQ(finish(crc32c_update_software(ones.data(), 32, 0xFFFFFFFFu)), 0x62A8AB43u);
    EXPECT_EQ(finish(crc32c_update_software(inc.data(), 32, 0xFFFFFFFFu)), 0x46DD794Eu);
    EXPECT_EQ(finish(crc32c_update_software(dec.data(), 32, 0xFFFFFFFFu)), 0x113FDB5Cu);
    // The CRC catalogue's check value for CRC-32C: "123456789".
    const std::string check = "123456789";
    EXPECT_EQ(finish(crc32c_update_software(reinterpret_cast<const std::uint8_t*>(check.data()), check.size(),
                                            0xFFFFFFFFu)),
              0xE3069283u);
    EXPECT_EQ(finish(crc32c_update_software(nullptr, 0, 0xFFFFFFFFu)), 0u);
}

TEST(Crc32c, SoftwareAgreesWithIsalOnRandomBuffers) {
    std::mt19937_64 rng(7);
    std::vector<std::uint8_t> buf(70000);
    for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
    for (int i = 0; i < 2000; ++i) {
        // Every length 0..64 and offsets 0..7 (the unaligned head and tail), then random spans.
        const std::size_t off = i < 520 ? static_cast<std::size_t>(i % 8) : rng() % 4096;
        const std::size_t len = i < 520 ? static_cast<std::size_t>(i / 8) : rng() % (buf.size() - off);
        const std::uint32_t seed = i % 3 == 0 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(rng());
        const std::uint32_t want = crc32_iscsi(buf.data() + off, static_cast<int>(len), seed);
        ASSERT_EQ(crc32c_update_software(buf.data() + off, len, seed), want) << "off " << off << " len " << len;
    }
    // Continuing a running value in pieces gives the same result as one call.
    std::uint32_t crc = 0xFFFFFFFFu;
    for (std::size_t pos = 0; pos < buf.size();) {
        const std::size_t n = std::min<std::size_t>(1 + rng() % 1000, buf.size() - pos);
        crc = crc32c_update_software(buf.data() + pos, n, crc);
        pos += n;
    }
    EXPECT_EQ(crc, crc32_iscsi(buf.data(), static_cast<int>(buf.size()), 0xFFFFFFFFu));
    // And the dispatching function (ISA-L on Linux) agrees too.
    EXPECT_EQ(crc32c_update(buf.data(), buf.size(), 0xFFFFFFFFu), crc);
}

}  // namespace
}  // namespace vstor::util
