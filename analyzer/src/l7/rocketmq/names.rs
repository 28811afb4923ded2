//! RocketMQ's names for the numbers in a remoting command: request codes (`RequestCode`),
//! response codes (`ResponseCode`) with the status DeepFlow gives each, and client versions
//! (`MQVersion.Version`, an ordinal).

use super::super::ResponseStatus;

/// The name of request code `code` (DeepFlow's `request_type`), None for codes it does not know.
pub fn request_code(code: i32) -> Option<&'static str> {
    Some(match code {
        10 => "SEND_MESSAGE",
        11 => "PULL_MESSAGE",
        12 => "QUERY_MESSAGE",
        13 => "QUERY_BROKER_OFFSET",
        14 => "QUERY_CONSUMER_OFFSET",
        15 => "UPDATE_CONSUMER_OFFSET",
        17 => "UPDATE_AND_CREATE_TOPIC",
        18 => "UPDATE_AND_CREATE_TOPIC_LIST",
        21 => "GET_ALL_TOPIC_CONFIG",
        22 => "GET_TOPIC_CONFIG_LIST",
        23 => "GET_TOPIC_NAME_LIST",
        25 => "UPDATE_BROKER_CONFIG",
        26 => "GET_BROKER_CONFIG",
        27 => "TRIGGER_DELETE_FILES",
        28 => "GET_BROKER_RUNTIME_INFO",
        29 => "SEARCH_OFFSET_BY_TIMESTAMP",
        30 => "GET_MAX_OFFSET",
        31 => "GET_MIN_OFFSET",
        32 => "GET_EARLIEST_MSG_STORETIME",
        33 => "VIEW_MESSAGE_BY_ID",
        34 => "HEART_BEAT",
        35 => "UNREGISTER_CLIENT",
        36 => "CONSUMER_SEND_MSG_BACK",
        37 => "END_TRANSACTION",
        38 => "GET_CONSUMER_LIST_BY_GROUP",
        39 => "CHECK_TRANSACTION_STATE",
        40 => "NOTIFY_CONSUMER_IDS_CHANGED",
        41 => "LOCK_BATCH_MQ",
        42 => "UNLOCK_BATCH_MQ",
        43 => "GET_ALL_CONSUMER_OFFSET",
        45 => "GET_ALL_DELAY_OFFSET",
        46 => "CHECK_CLIENT_CONFIG",
        47 => "GET_CLIENT_CONFIG",
        50 => "UPDATE_AND_CREATE_ACL_CONFIG",
        51 => "DELETE_ACL_CONFIG",
        52 => "GET_BROKER_CLUSTER_ACL_INFO",
        53 => "UPDATE_GLOBAL_WHITE_ADDRS_CONFIG",
        54 => "GET_BROKER_CLUSTER_ACL_CONFIG",
        60 => "GET_TIMER_CHECK_POINT",
        61 => "GET_TIMER_METRICS",
        100 => "PUT_KV_CONFIG",
        101 => "GET_KV_CONFIG",
        102 => "DELETE_KV_CONFIG",
        103 => "REGISTER_BROKER",
        104 => "UNREGISTER_BROKER",
        105 => "GET_ROUTEINFO_BY_TOPIC",
        106 => "GET_BROKER_CLUSTER_INFO",
        200 => "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP",
        201 => "GET_ALL_SUBSCRIPTIONGROUP_CONFIG",
        202 => "GET_TOPIC_STATS_INFO",
        203 => "GET_CONSUMER_CONNECTION_LIST",
        204 => "GET_PRODUCER_CONNECTION_LIST",
        205 => "WIPE_WRITE_PERM_OF_BROKER",
        206 => "GET_ALL_TOPIC_LIST_FROM_NAMESERVER",
        207 => "DELETE_SUBSCRIPTIONGROUP",
        208 => "GET_CONSUME_STATS",
        209 => "SUSPEND_CONSUMER",
        210 => "RESUME_CONSUMER",
        211 => "RESET_CONSUMER_OFFSET_IN_CONSUMER",
        212 => "RESET_CONSUMER_OFFSET_IN_BROKER",
        213 => "ADJUST_CONSUMER_THREAD_POOL",
        214 => "WHO_CONSUME_THE_MESSAGE",
        215 => "DELETE_TOPIC_IN_BROKER",
        216 => "DELETE_TOPIC_IN_NAMESRV",
        217 => "REGISTER_TOPIC_IN_NAMESRV",
        219 => "GET_KVLIST_BY_NAMESPACE",
        220 => "RESET_CONSUMER_CLIENT_OFFSET",
        221 => "GET_CONSUMER_STATUS_FROM_CLIENT",
        222 => "INVOKE_BROKER_TO_RESET_OFFSET",
        223 => "INVOKE_BROKER_TO_GET_CONSUMER_STATUS",
        224 => "GET_TOPICS_BY_CLUSTER",
        225 => "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST",
        300 => "QUERY_TOPIC_CONSUME_BY_WHO",
        301 => "REGISTER_FILTER_SERVER",
        302 => "REGISTER_MESSAGE_FILTER_CLASS",
        303 => "QUERY_CONSUME_TIME_SPAN",
        304 => "GET_SYSTEM_TOPIC_LIST_FROM_NS",
        305 => "GET_SYSTEM_TOPIC_LIST_FROM_BROKER",
        306 => "CLEAN_EXPIRED_CONSUMEQUEUE",
        307 => "GET_CONSUMER_RUNNING_INFO",
        308 => "QUERY_CORRECTION_OFFSET",
        309 => "CONSUME_MESSAGE_DIRECTLY",
        310 => "SEND_MESSAGE_V2",
        311 => "GET_UNIT_TOPIC_LIST",
        312 => "GET_HAS_UNIT_SUB_TOPIC_LIST",
        313 => "GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST",
        314 => "CLONE_GROUP_OFFSET",
        315 => "VIEW_BROKER_STATS_DATA",
        316 => "CLEAN_UNUSED_TOPIC",
        317 => "GET_BROKER_CONSUME_STATS",
        318 => "UPDATE_NAMESRV_CONFIG",
        319 => "GET_NAMESRV_CONFIG",
        320 => "SEND_BATCH_MESSAGE",
        321 => "QUERY_CONSUME_QUEUE",
        322 => "QUERY_DATA_VERSION",
        323 => "RESUME_CHECK_HALF_MESSAGE",
        324 => "SEND_REPLY_MESSAGE",
        325 => "SEND_REPLY_MESSAGE_V2",
        326 => "PUSH_REPLY_MESSAGE_TO_CLIENT",
        327 => "ADD_WRITE_PERM_OF_BROKER",
        328 => "GET_ALL_PRODUCER_INFO",
        329 => "DELETE_EXPIRED_COMMITLOG",
        343 => "QUERY_TOPICS_BY_CONSUMER",
        345 => "QUERY_SUBSCRIPTION_BY_CONSUMER",
        351 => "GET_TOPIC_CONFIG",
        352 => "GET_SUBSCRIPTIONGROUP_CONFIG",
        353 => "UPDATE_AND_GET_GROUP_FORBIDDEN",
        354 => "CHECK_ROCKSDB_CQ_WRITE_PROGRESS",
        361 => "LITE_PULL_MESSAGE",
        400 => "QUERY_ASSIGNMENT",
        401 => "SET_MESSAGE_REQUEST_MODE",
        402 => "GET_ALL_MESSAGE_REQUEST_MODE",
        513 => "UPDATE_AND_CREATE_STATIC_TOPIC",
        901 => "GET_BROKER_MEMBER_GROUP",
        902 => "ADD_BROKER",
        903 => "REMOVE_BROKER",
        904 => "BROKER_HEARTBEAT",
        905 => "NOTIFY_MIN_BROKER_ID_CHANGE",
        906 => "EXCHANGE_BROKER_HA_INFO",
        907 => "GET_BROKER_HA_STATUS",
        908 => "RESET_MASTER_FLUSH_OFFSET",
        1001 => "CONTROLLER_ALTER_SYNC_STATE_SET",
        1002 => "CONTROLLER_ELECT_MASTER",
        1003 => "CONTROLLER_REGISTER_BROKER",
        1004 => "CONTROLLER_GET_REPLICA_INFO",
        1005 => "CONTROLLER_GET_METADATA_INFO",
        1006 => "CONTROLLER_GET_SYNC_STATE_DATA",
        1007 => "GET_BROKER_EPOCH_CACHE",
        1008 => "NOTIFY_BROKER_ROLE_CHANGED",
        1009 => "UPDATE_CONTROLLER_CONFIG",
        1010 => "GET_CONTROLLER_CONFIG",
        1011 => "CLEAN_BROKER_DATA",
        1012 => "CONTROLLER_GET_NEXT_BROKER_ID",
        1013 => "CONTROLLER_APPLY_BROKER_ID",
        1014 => "BROKER_CLOSE_CHANNEL_REQUEST",
        1015 => "CHECK_NOT_ACTIVE_BROKER_REQUEST",
        1016 => "GET_BROKER_LIVE_INFO_REQUEST",
        1017 => "GET_SYNC_STATE_DATA_REQUEST",
        1018 => "RAFT_BROKER_HEART_BEAT_EVENT_REQUEST",
        2001 => "UPDATE_COLD_DATA_FLOW_CTR_CONFIG",
        2002 => "REMOVE_COLD_DATA_FLOW_CTR_CONFIG",
        2003 => "GET_COLD_DATA_FLOW_CTR_INFO",
        2004 => "SET_COMMITLOG_READ_MODE",
        3001 => "AUTH_CREATE_USER",
        3002 => "AUTH_UPDATE_USER",
        3003 => "AUTH_DELETE_USER",
        3004 => "AUTH_GET_USER",
        3005 => "AUTH_LIST_USER",
        3006 => "AUTH_CREATE_ACL",
        3007 => "AUTH_UPDATE_ACL",
        3008 => "AUTH_DELETE_ACL",
        3009 => "AUTH_GET_ACL",
        3010 => "AUTH_LIST_ACL",
        200050 => "POP_MESSAGE",
        200051 => "ACK_MESSAGE",
        200052 => "PEEK_MESSAGE",
        200053 => "CHANGE_MESSAGE_INVISIBLETIME",
        200054 => "NOTIFICATION",
        200055 => "POLLING_INFO",
        200151 => "BATCH_ACK_MESSAGE",
        _ => return None,
    })
}

/// The status of response code `code`, as DeepFlow reads RocketMQ's codes (4.4 to 5.3): the
/// business answers (`PULL_NOT_FOUND`, `QUERY_NOT_FOUND`, `NO_MESSAGE`, the transaction hints)
/// are ok; a code neither of them knows is a server error (DeepFlow: parse failed).
pub fn response_status(code: i32) -> ResponseStatus {
    use ResponseStatus::{ClientError as C, Ok, ServerError as S};
    match code {
        0 | 19 | 20 | 22 | 200 | 201 | 208 => Ok,
        3
        | 13
        | 15..=18
        | 21
        | 23..=28
        | 204
        | 205
        | 501
        | 604
        | 2001
        | 2003
        | 2005
        | 2008
        | 2010
        | 2011
        | 2013
        | 2014
        | 2016
        | 3001
        | 3002 => C,
        _ => S,
    }
}

/// A client version's name (`V4_9_4`, `V3_2_6_SNAPSHOT`), written by `out`; false for an ordinal
/// past V5_9_9.
pub fn version(ordinal: i32, out: &mut impl std::fmt::Write) -> bool {
    const FIRST: [&str; 16] = [
        "V3_0_0_SNAPSHOT",
        "V3_0_0_ALPHA1",
        "V3_0_0_BETA1",
        "V3_0_0_BETA2",
        "V3_0_0_BETA3",
        "V3_0_0_BETA4",
        "V3_0_0_BETA5",
        "V3_0_0_BETA6_SNAPSHOT",
        "V3_0_0_BETA6",
        "V3_0_0_BETA7_SNAPSHOT",
        "V3_0_0_BETA7",
        "V3_0_0_BETA8_SNAPSHOT",
        "V3_0_0_BETA8",
        "V3_0_0_BETA9_SNAPSHOT",
        "V3_0_0_BETA9",
        "V3_0_0_FINAL",
    ];
    // After those, each minor version's patches in order, each a snapshot then the release:
    // 3.0.1-3.0.15, 3.1.0-3.2.9, 3.3.1-3.9.9 (no x.y.0), 4.0.0-5.9.9.
    let Ok(mut i) = usize::try_from(ordinal) else {
        return false;
    };
    if let Some(name) = FIRST.get(i) {
        return out.write_str(name).is_ok();
    }
    i -= FIRST.len();
    let groups = [(3u8, 0u8, 1u8, 15u8), (3, 1, 0, 9), (3, 2, 0, 9)]
        .into_iter()
        .chain((3..=9).map(|m| (3, m, 1, 9)))
        .chain((4..=5).flat_map(|major| (0..=9).map(move |m| (major, m, 0, 9))));
    for (major, minor, first, last) in groups {
        let n = 2 * usize::from(last - first + 1);
        if i < n {
            let patch = usize::from(first) + i / 2;
            let snapshot = if i % 2 == 0 { "_SNAPSHOT" } else { "" };
            return write!(out, "V{major}_{minor}_{patch}{snapshot}").is_ok();
        }
        i -= n;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ordinals_name_rocketmq_versions() {
        let name = |v: i32| {
            let mut s = String::new();
            version(v, &mut s).then_some(s)
        };
        for (v, want) in [
            (0, "V3_0_0_SNAPSHOT"),
            (15, "V3_0_0_FINAL"),
            (16, "V3_0_1_SNAPSHOT"),
            (45, "V3_0_15"),
            (46, "V3_1_0_SNAPSHOT"),
            (79, "V3_2_6"),
            (100, "V3_3_8_SNAPSHOT"),
            (200, "V3_9_4_SNAPSHOT"),
            (300, "V4_4_4_SNAPSHOT"),
            (397, "V4_9_2"),
            (400, "V4_9_4_SNAPSHOT"),
            (500, "V5_4_4_SNAPSHOT"),
            (600, "V5_9_4_SNAPSHOT"),
            (611, "V5_9_9"),
        ] {
            assert_eq!(name(v).as_deref(), Some(want), "{v}");
        }
        assert_eq!(name(612), None);
        assert_eq!(name(-1), None);
    }

    #[test]
    fn codes() {
        assert_eq!(request_code(310), Some("SEND_MESSAGE_V2"));
        assert_eq!(request_code(200151), Some("BATCH_ACK_MESSAGE"));
        assert_eq!(request_code(9), None);
        assert_eq!(response_status(0), ResponseStatus::Ok);
        assert_eq!(response_status(19), ResponseStatus::Ok);
        assert_eq!(response_status(17), ResponseStatus::ClientError);
        assert_eq!(response_status(1), ResponseStatus::ServerError);
        assert_eq!(response_status(-1006), ResponseStatus::ServerError);
    }
}
