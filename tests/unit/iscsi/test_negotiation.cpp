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

// Every answer the negotiation gives, pinned key by key (the target's own values, the result
// functions, declarative keys) so that reorganising negotiate_keys cannot change one.
TEST(Negotiation, EveryKeyAnswerIsPinned) {
    KeyValues in = {{"HeaderDigest", "MD5,None"},        {"DataDigest", "CRC32C"},
                    {"MaxConnections", "100"},           {"InitialR2T", "Yes"},
                    {"ImmediateData", "No"},             {"MaxRecvDataSegmentLength", "4096"},
                    {"MaxBurstLength", "0x1000"},        {"FirstBurstLength", "65536"},
                    {"DefaultTime2Wait", "7"},           {"DefaultTime2Retain", "3600"},
                    {"MaxOutstandingR2T", "1"},          {"DataPDUInOrder", "No"},
                    {"DataSequenceInOrder", "No"},       {"ErrorRecoveryLevel", "1"},
                    {"IFMarker", "Yes"},                 {"OFMarker", "No"},
                    {"IFMarkInt", "2048"},               {"OFMarkInt", "1~65535"},
                    {"InitiatorName", "iqn.2026-11.org.test:i"}, {"InitiatorAlias", "box"},
                    {"TargetName", "iqn.2026-11.org.test:t"},    {"SessionType", "Normal"},
                    {"AuthMethod", "CHAP"},              {"CHAP_A", "5"}};
    KeyValues out;
    SessionParams p;
    LoginKeys keys;
    ASSERT_EQ(negotiate_keys(in, out, p, keys, true), "");
    const KeyValues expected = {{"HeaderDigest", "None"},          {"DataDigest", "CRC32C"},
                                {"MaxConnections", "8"},           {"InitialR2T", "Yes"},
                                {"ImmediateData", "No"},           {"MaxRecvDataSegmentLength", "262144"},
                                {"MaxBurstLength", "4096"},        {"FirstBurstLength", "65536"},
                                {"DefaultTime2Wait", "7"},         {"DefaultTime2Retain", "20"},
                                {"MaxOutstandingR2T", "1"},        {"DataPDUInOrder", "Yes"},
                                {"DataSequenceInOrder", "Yes"},    {"ErrorRecoveryLevel", "0"},
                                {"IFMarker", "No"},                {"OFMarker", "No"},
                                {"IFMarkInt", "Irrelevant"},       {"OFMarkInt", "Irrelevant"}};
    EXPECT_EQ(out, expected);  // declarative and authentication keys get no answer here
    EXPECT_FALSE(p.header_digest);
    EXPECT_TRUE(p.data_digest);
    EXPECT_EQ(p.max_connections, 8u);
    EXPECT_TRUE(p.initial_r2t);
    EXPECT_FALSE(p.immediate_data);
    EXPECT_EQ(p.max_recv_data_segment_length_initiator, 4096u);
    EXPECT_EQ(p.max_recv_data_segment_length_target, 262144u);
    EXPECT_EQ(p.max_burst_length, 4096u);
    EXPECT_EQ(p.first_burst_length, 4096u);  // clamped to MaxBurstLength
    EXPECT_EQ(p.default_time2wait, 7u);
    EXPECT_EQ(p.default_time2retain, 20u);
    EXPECT_EQ(p.max_outstanding_r2t, 1u);
    EXPECT_TRUE(p.data_pdu_in_order);
    EXPECT_TRUE(p.data_sequence_in_order);
    EXPECT_EQ(p.error_recovery_level, 0u);
    EXPECT_EQ(keys.initiator_name, "iqn.2026-11.org.test:i");
    EXPECT_EQ(keys.initiator_alias, "box");
    EXPECT_EQ(keys.target_name, "iqn.2026-11.org.test:t");
    EXPECT_EQ(keys.session_type, SessionType::normal);
    EXPECT_TRUE(keys.session_type_seen);
}

TEST(Negotiation, BadValuesAreRejectedAndLeaveDefaults) {
    KeyValues in = {{"SessionType", "Other"},      {"MaxRecvDataSegmentLength", "100"}, {"InitialR2T", "maybe"},
                    {"IFMarker", "perhaps"},        {"DefaultTime2Wait", "3601"},       {"ErrorRecoveryLevel", "x"},
                    {"DataDigest", "CRC64,MD5"}};
    KeyValues out;
    SessionParams p;
    LoginKeys keys;
    ASSERT_EQ(negotiate_keys(in, out, p, keys, true), "");
    for (const auto& [key, value] : in) EXPECT_EQ(answer(out, key), "Reject") << key;
    EXPECT_EQ(out.size(), in.size());
    EXPECT_FALSE(keys.session_type_seen);
    const SessionParams defaults;
    EXPECT_EQ(p.max_recv_data_segment_length_initiator, defaults.max_recv_data_segment_length_initiator);
    EXPECT_EQ(p.initial_r2t, defaults.initial_r2t);
    EXPECT_EQ(p.default_time2wait, defaults.default_time2wait);
}

TEST(Negotiation, LoginEndingFailures) {
    KeyValues out;
    SessionParams p;
    LoginKeys keys;
    EXPECT_EQ(negotiate_keys({{"InitiatorName", ""}}, out, p, keys, true), "empty InitiatorName");
    EXPECT_EQ(negotiate_keys({{"TargetName", "a"}, {"TargetName", "b"}}, out, p, keys, true),
              "key sent twice in one request: TargetName");
}

TEST(Negotiation, DiscoveryKeepsConnectionAndRecoveryKeys) {
    KeyValues out;
    SessionParams p;
    LoginKeys keys;
    keys.session_type = SessionType::discovery;
    ASSERT_EQ(negotiate_keys({{"MaxConnections", "4"}, {"ErrorRecoveryLevel", "2"}, {"MaxBurstLength", "1024"},
                              {"HeaderDigest", "CRC32C"}, {"MaxRecvDataSegmentLength", "8192"}},
                             out, p, keys, false),
              "");
    EXPECT_EQ(answer(out, "MaxConnections"), "4");
    EXPECT_EQ(answer(out, "ErrorRecoveryLevel"), "0");
    EXPECT_EQ(answer(out, "MaxBurstLength"), "Irrelevant");
    EXPECT_EQ(answer(out, "HeaderDigest"), "CRC32C");
    EXPECT_EQ(answer(out, "MaxRecvDataSegmentLength"), "262144");
    EXPECT_EQ(p.max_burst_length, SessionParams{}.max_burst_length);
}

// What is relevant follows the session type known when the request arrived: a SessionType in
// the same request applies from the next one.
TEST(Negotiation, SessionTypeAppliesFromTheNextRequest) {
    KeyValues out;
    SessionParams p;
    LoginKeys keys;
    ASSERT_EQ(negotiate_keys({{"SessionType", "Discovery"}, {"MaxBurstLength", "1024"}}, out, p, keys, false), "");
    EXPECT_EQ(keys.session_type, SessionType::discovery);
    EXPECT_EQ(answer(out, "MaxBurstLength"), "1024");
    KeyValues out2;
    ASSERT_EQ(negotiate_keys({{"MaxBurstLength", "2048"}}, out2, p, keys, true), "");
    EXPECT_EQ(answer(out2, "MaxBurstLength"), "Irrelevant");
}

}  // namespace
}  // namespace vstor::iscsi
