// RFC 7143 13 key negotiation: result functions, declarative keys, NotUnderstood/Reject/Irrelevant.
#include <gtest/gtest.h>

#include "iscsi/negotiation.hpp"

namespace vstor::iscsi {
namespace {

std::string answer(const KeyValues& out, const std::string& key) { return find_key(out, key).value_or("<none>"); }

TEST(Negotiation, ResultFunctions) {
    KeyValues in = {{"HeaderDigest", "CRC32C,None"}, {"DataDigest", "None"},   {"InitialR2T", "No"},
                    {"ImmediateData", "Yes"},        {"MaxBurstLength", "1048576"}, {"FirstBurstLength", "2097152"},
                    {"DefaultTime2Wait", "0"},       {"MaxOutstandingR2T", "64"}, {"ErrorRecoveryLevel", "2"},
                    {"MaxRecvDataSegmentLength", "65536"}};
    KeyValues out;
    SessionParams p;
    LoginKeys keys;
    ASSERT_EQ(negotiate_keys(in, out, p, keys, true), "");
    EXPECT_EQ(answer(out, "HeaderDigest"), "CRC32C");
    EXPECT_TRUE(p.header_digest);
    EXPECT_EQ(answer(out, "InitialR2T"), "No");          // OR: both may say No
    EXPECT_EQ(answer(out, "MaxBurstLength"), "1048576");  // min
    EXPECT_EQ(answer(out, "DefaultTime2Wait"), "2");      // max
    EXPECT_EQ(answer(out, "MaxOutstandingR2T"), "16");    // min with ours
    EXPECT_EQ(answer(out, "ErrorRecoveryLevel"), "0");
    EXPECT_EQ(p.max_recv_data_segment_length_initiator, 65536u);
    EXPECT_LE(p.first_burst_length, p.max_burst_length);
}

TEST(Negotiation, UnknownBadAndRepeatedKeys) {
    KeyValues out;
    SessionParams p;
    LoginKeys keys;
    EXPECT_EQ(negotiate_keys({{"X-Vendor-Thing", "1"}, {"MaxBurstLength", "12"}, {"HeaderDigest", "MD5"}}, out, p,
                             keys, true),
              "");
    EXPECT_EQ(answer(out, "X-Vendor-Thing"), "NotUnderstood");
    EXPECT_EQ(answer(out, "MaxBurstLength"), "Reject");  // below 512
    EXPECT_EQ(answer(out, "HeaderDigest"), "Reject");
    KeyValues out2;
    EXPECT_NE(negotiate_keys({{"InitialR2T", "Yes"}, {"InitialR2T", "No"}}, out2, p, keys, true), "");
}

TEST(Negotiation, SessionKeysAreIrrelevantInDiscovery) {
    KeyValues out;
    SessionParams p;
    LoginKeys keys;
    keys.session_type = SessionType::discovery;
    ASSERT_EQ(negotiate_keys({{"InitialR2T", "No"}}, out, p, keys, true), "");
    EXPECT_EQ(answer(out, "InitialR2T"), "Irrelevant");
}

}  // namespace
}  // namespace vstor::iscsi
