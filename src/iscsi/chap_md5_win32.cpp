// The CHAP response digest on Windows: MD5 from the system's CNG provider (bcrypt.dll), since
// Nettle has no mingw-w64 build. Linux: chap_md5_nettle.cpp.
#include <windows.h>
#include <bcrypt.h>

#include "iscsi/chap.hpp"

namespace vstor::iscsi::chap {

std::vector<std::uint8_t> response(std::uint8_t id, const std::string& secret,
                                   const std::vector<std::uint8_t>& challenge) {
    std::vector<std::uint8_t> digest(16);
    std::vector<std::uint8_t> msg;
    msg.reserve(1 + secret.size() + challenge.size());
    msg.push_back(id);
    msg.insert(msg.end(), secret.begin(), secret.end());
    msg.insert(msg.end(), challenge.begin(), challenge.end());
    // One-shot hash; an empty digest on failure never matches a response.
    BCRYPT_ALG_HANDLE alg = nullptr;
    if (BCryptOpenAlgorithmProvider(&alg, BCRYPT_MD5_ALGORITHM, nullptr, 0) < 0) return {};
    BCRYPT_HASH_HANDLE hash = nullptr;
    bool ok = BCryptCreateHash(alg, &hash, nullptr, 0, nullptr, 0, 0) >= 0;
    ok = ok && BCryptHashData(hash, msg.data(), static_cast<ULONG>(msg.size()), 0) >= 0;
    ok = ok && BCryptFinishHash(hash, digest.data(), static_cast<ULONG>(digest.size()), 0) >= 0;
    if (hash) BCryptDestroyHash(hash);
    BCryptCloseAlgorithmProvider(alg, 0);
    if (!ok) return {};
    return digest;
}

}  // namespace vstor::iscsi::chap
