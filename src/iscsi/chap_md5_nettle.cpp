// The CHAP response digest with Nettle's MD5 (Linux). Windows: chap_md5_win32.cpp.
#include <nettle/md5.h>

#include "iscsi/chap.hpp"

namespace vstor::iscsi::chap {

std::vector<std::uint8_t> response(std::uint8_t id, const std::string& secret,
                                   const std::vector<std::uint8_t>& challenge) {
    md5_ctx ctx;
    md5_init(&ctx);
    md5_update(&ctx, 1, &id);
    md5_update(&ctx, secret.size(), reinterpret_cast<const std::uint8_t*>(secret.data()));
    md5_update(&ctx, challenge.size(), challenge.data());
    std::vector<std::uint8_t> digest(MD5_DIGEST_SIZE);
    md5_digest(&ctx, MD5_DIGEST_SIZE, digest.data());
    return digest;
}

}  // namespace vstor::iscsi::chap
