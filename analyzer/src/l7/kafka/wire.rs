//! Kafka's wire format (<https://kafka.apache.org/protocol>): the size-prefixed request and
//! response headers, API key names, the first flexible version of each key (tagged fields and
//! compact strings from there on), and a bounded reader for the primitive types. Nothing here
//! allocates or panics: every read is checked against the bytes at hand.

/// The 4-byte size prefix.
pub const SIZE_LEN: usize = 4;
/// Size prefix + api_key + api_version + correlation_id + client_id length.
pub const REQUEST_HEAD_MIN: usize = SIZE_LEN + 10;
/// Largest message accepted as Kafka (the broker's `socket.request.max.bytes` is 100 MiB).
pub const MAX_MESSAGE: u32 = 100 << 20;

/// API key names (index = key) as Kafka's protocol guide spells them.
const API_NAMES: [&str; 93] = [
    "Produce",
    "Fetch",
    "ListOffsets",
    "Metadata",
    "LeaderAndIsr",
    "StopReplica",
    "UpdateMetadata",
    "ControlledShutdown",
    "OffsetCommit",
    "OffsetFetch",
    "FindCoordinator",
    "JoinGroup",
    "Heartbeat",
    "LeaveGroup",
    "SyncGroup",
    "DescribeGroups",
    "ListGroups",
    "SaslHandshake",
    "ApiVersions",
    "CreateTopics",
    "DeleteTopics",
    "DeleteRecords",
    "InitProducerId",
    "OffsetForLeaderEpoch",
    "AddPartitionsToTxn",
    "AddOffsetsToTxn",
    "EndTxn",
    "WriteTxnMarkers",
    "TxnOffsetCommit",
    "DescribeAcls",
    "CreateAcls",
    "DeleteAcls",
    "DescribeConfigs",
    "AlterConfigs",
    "AlterReplicaLogDirs",
    "DescribeLogDirs",
    "SaslAuthenticate",
    "CreatePartitions",
    "CreateDelegationToken",
    "RenewDelegationToken",
    "ExpireDelegationToken",
    "DescribeDelegationToken",
    "DeleteGroups",
    "ElectLeaders",
    "IncrementalAlterConfigs",
    "AlterPartitionReassignments",
    "ListPartitionReassignments",
    "OffsetDelete",
    "DescribeClientQuotas",
    "AlterClientQuotas",
    "DescribeUserScramCredentials",
    "AlterUserScramCredentials",
    "Vote",
    "BeginQuorumEpoch",
    "EndQuorumEpoch",
    "DescribeQuorum",
    "AlterPartition",
    "UpdateFeatures",
    "Envelope",
    "FetchSnapshot",
    "DescribeCluster",
    "DescribeProducers",
    "BrokerRegistration",
    "BrokerHeartbeat",
    "UnregisterBroker",
    "DescribeTransactions",
    "ListTransactions",
    "AllocateProducerIds",
    "ConsumerGroupHeartbeat",
    "ConsumerGroupDescribe",
    "ControllerRegistration",
    "GetTelemetrySubscriptions",
    "PushTelemetry",
    "AssignReplicasToDirs",
    "ListConfigResources",
    "DescribeTopicPartitions",
    "ShareGroupHeartbeat",
    "ShareGroupDescribe",
    "ShareFetch",
    "ShareAcknowledge",
    "AddRaftVoter",
    "RemoveRaftVoter",
    "UpdateRaftVoter",
    "InitializeShareGroupState",
    "ReadShareGroupState",
    "WriteShareGroupState",
    "DeleteShareGroupState",
    "ReadShareGroupStateSummary",
    "",
    "",
    "DescribeShareGroupOffsets",
    "AlterShareGroupOffsets",
    "DeleteShareGroupOffsets",
];

/// Per key: (highest version known, first flexible version; `NONE` = never flexible). From the
/// message definitions of Kafka 4.1
/// (`clients/src/main/resources/common/message/*.json`; keys 4-7 from 3.x, removed in 4.0);
/// unassigned keys have version -1.
const NONE: i16 = i16::MAX;
const VERSIONS: [(i16, i16); 93] = [
    (13, 9),    // Produce
    (18, 12),   // Fetch
    (10, 6),    // ListOffsets
    (13, 9),    // Metadata
    (7, 4),     // LeaderAndIsr
    (4, 2),     // StopReplica
    (8, 6),     // UpdateMetadata
    (3, 3),     // ControlledShutdown
    (10, 8),    // OffsetCommit
    (10, 6),    // OffsetFetch
    (6, 3),     // FindCoordinator
    (9, 6),     // JoinGroup
    (4, 4),     // Heartbeat
    (5, 4),     // LeaveGroup
    (5, 4),     // SyncGroup
    (6, 5),     // DescribeGroups
    (5, 3),     // ListGroups
    (1, NONE),  // SaslHandshake
    (4, 3),     // ApiVersions
    (7, 5),     // CreateTopics
    (6, 4),     // DeleteTopics
    (2, 2),     // DeleteRecords
    (6, 2),     // InitProducerId
    (4, 4),     // OffsetForLeaderEpoch
    (5, 3),     // AddPartitionsToTxn
    (4, 3),     // AddOffsetsToTxn
    (5, 3),     // EndTxn
    (1, 1),     // WriteTxnMarkers
    (5, 3),     // TxnOffsetCommit
    (3, 2),     // DescribeAcls
    (3, 2),     // CreateAcls
    (3, 2),     // DeleteAcls
    (4, 4),     // DescribeConfigs
    (2, 2),     // AlterConfigs
    (2, 2),     // AlterReplicaLogDirs
    (4, 2),     // DescribeLogDirs
    (2, 2),     // SaslAuthenticate
    (3, 2),     // CreatePartitions
    (3, 2),     // CreateDelegationToken
    (2, 2),     // RenewDelegationToken
    (2, 2),     // ExpireDelegationToken
    (3, 2),     // DescribeDelegationToken
    (2, 2),     // DeleteGroups
    (2, 2),     // ElectLeaders
    (1, 1),     // IncrementalAlterConfigs
    (1, 0),     // AlterPartitionReassignments
    (0, 0),     // ListPartitionReassignments
    (0, NONE),  // OffsetDelete
    (1, 1),     // DescribeClientQuotas
    (1, 1),     // AlterClientQuotas
    (0, 0),     // DescribeUserScramCredentials
    (0, 0),     // AlterUserScramCredentials
    (2, 0),     // Vote
    (1, 1),     // BeginQuorumEpoch
    (1, 1),     // EndQuorumEpoch
    (2, 0),     // DescribeQuorum
    (3, 2),     // AlterPartition
    (2, 0),     // UpdateFeatures
    (0, 0),     // Envelope
    (1, 0),     // FetchSnapshot
    (2, 0),     // DescribeCluster
    (0, 0),     // DescribeProducers
    (4, 0),     // BrokerRegistration
    (1, 0),     // BrokerHeartbeat
    (0, 0),     // UnregisterBroker
    (0, 0),     // DescribeTransactions
    (2, 0),     // ListTransactions
    (0, 0),     // AllocateProducerIds
    (1, 0),     // ConsumerGroupHeartbeat
    (1, 0),     // ConsumerGroupDescribe
    (0, 0),     // ControllerRegistration
    (0, 0),     // GetTelemetrySubscriptions
    (0, 0),     // PushTelemetry
    (0, 0),     // AssignReplicasToDirs
    (1, 0),     // ListConfigResources
    (0, 0),     // DescribeTopicPartitions
    (1, 1),     // ShareGroupHeartbeat
    (1, 1),     // ShareGroupDescribe
    (1, 1),     // ShareFetch
    (1, 1),     // ShareAcknowledge
    (0, 0),     // AddRaftVoter
    (0, 0),     // RemoveRaftVoter
    (0, 0),     // UpdateRaftVoter
    (0, 0),     // InitializeShareGroupState
    (0, 0),     // ReadShareGroupState
    (0, 0),     // WriteShareGroupState
    (0, 0),     // DeleteShareGroupState
    (0, 0),     // ReadShareGroupStateSummary
    (-1, NONE), // unassigned
    (-1, NONE), // unassigned
    (0, 0),     // DescribeShareGroupOffsets
    (0, 0),     // AlterShareGroupOffsets
    (0, 0),     // DeleteShareGroupOffsets
];

pub const API_PRODUCE: i16 = 0;
pub const API_FETCH: i16 = 1;
pub const API_METADATA: i16 = 3;
pub const API_API_VERSIONS: i16 = 18;

/// The name of API key `key`.
pub fn api_name(key: i16) -> Option<&'static str> {
    usize::try_from(key)
        .ok()
        .and_then(|k| API_NAMES.get(k))
        .copied()
        .filter(|n| !n.is_empty())
}

/// A known key at a version not beyond the newest known one (plus a margin for brokers newer
/// than the table).
pub fn known_version(key: i16, version: i16) -> bool {
    usize::try_from(key)
        .ok()
        .and_then(|k| VERSIONS.get(k))
        .is_some_and(|&(max, _)| max >= 0 && (0..=max.saturating_add(3)).contains(&version))
}

/// Does `key` at `version` use flexible encoding (compact strings and arrays, tagged fields)?
pub fn is_flexible(key: i16, version: i16) -> bool {
    usize::try_from(key)
        .ok()
        .and_then(|k| VERSIONS.get(k))
        .is_some_and(|&(_, flex)| version >= flex)
}

/// The head of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader<'a> {
    /// Bytes after the size prefix.
    pub size: u32,
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: u32,
    pub client_id: &'a [u8],
    /// Offset of the body in the message (size prefix included).
    pub body_at: usize,
}

impl<'a> RequestHeader<'a> {
    /// Parses a request head from `b` (size prefix first); None when the bytes are not a
    /// plausible Kafka request or its head is not all in `b`.
    pub fn parse(b: &'a [u8]) -> Option<Self> {
        let mut r = Reader::new(b);
        let size = r.u32()?;
        let api_key = r.i16()?;
        let api_version = r.i16()?;
        let correlation_id = r.u32()?;
        if !(8..=MAX_MESSAGE).contains(&size) || !known_version(api_key, api_version) {
            return None;
        }
        // client_id is a nullable (never compact) string in every header version.
        let client_id = r.nullable_string()?;
        if !client_id.iter().all(|c| (0x20..0x7f).contains(c)) {
            return None;
        }
        if is_flexible(api_key, api_version) {
            r.tagged_fields()?;
        }
        if r.at > SIZE_LEN + size as usize {
            return None;
        }
        Some(RequestHeader {
            size,
            api_key,
            api_version,
            correlation_id,
            client_id,
            body_at: r.at,
        })
    }

    /// Like [`Self::parse`] for a flow's first bytes: `Err(true)` when `b` ends inside a head
    /// that is plausible so far, `Err(false)` when it is not Kafka.
    pub fn judge(b: &'a [u8]) -> Result<Self, bool> {
        if let Some(h) = Self::parse(b) {
            return Ok(h);
        }
        let mut r = Reader::new(b);
        let (Some(size), Some(key), Some(version)) = (r.u32(), r.i16(), r.i16()) else {
            return Err(b.first().is_none_or(|&c| c == 0));
        };
        if !(8..=MAX_MESSAGE).contains(&size) || !known_version(key, version) {
            return Err(false);
        }
        if r.u32().is_none() {
            return Err(true);
        }
        let Some(n) = r.i16() else {
            return Err(true);
        };
        let room = (size as usize).saturating_sub(10);
        if n < -1 || n > 0 && n as usize > room {
            return Err(false);
        }
        // The client id is cut by the end of `b`: what there is of it must be printable.
        let rest = &b[r.at..];
        Err(b.len() < SIZE_LEN + size as usize && rest.iter().all(|c| (0x20..0x7f).contains(c)))
    }

    /// The whole message's length (size prefix included).
    pub fn total_len(&self) -> usize {
        SIZE_LEN + self.size as usize
    }
}

/// Does the response to `key` at `version` have a flexible header (tagged fields after the
/// correlation id)? ApiVersions responses never do, so a client can read them before it knows
/// the broker's versions.
pub fn response_header_flexible(key: i16, version: i16) -> bool {
    key != API_API_VERSIONS && is_flexible(key, version)
}

/// A bounded big-endian reader over Kafka's primitive types.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    b: &'a [u8],
    pub at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, at: 0 }
    }

    pub fn at(b: &'a [u8], at: usize) -> Self {
        Reader { b, at }
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let v = self.b.get(self.at..end)?;
        self.at = end;
        Some(v)
    }

    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.bytes(n).map(|_| ())
    }

    pub fn i8(&mut self) -> Option<i8> {
        self.bytes(1).map(|v| v[0] as i8)
    }

    pub fn i16(&mut self) -> Option<i16> {
        self.bytes(2).map(|v| i16::from_be_bytes([v[0], v[1]]))
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.bytes(4)
            .map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
    }

    pub fn i32(&mut self) -> Option<i32> {
        self.u32().map(|v| v as i32)
    }

    pub fn i64(&mut self) -> Option<i64> {
        let v = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(v);
        Some(i64::from_be_bytes(a))
    }

    /// An unsigned LEB128 varint of at most 5 bytes (32 bits).
    pub fn uvarint(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for i in 0..5 {
            let c = *self.b.get(self.at)?;
            self.at += 1;
            v |= u32::from(c & 0x7f) << (7 * i);
            if c & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A zig-zag varint (records' lengths and deltas); 64-bit values are read with the same
    /// 10-byte bound.
    pub fn varint(&mut self) -> Option<i64> {
        let mut v = 0u64;
        for i in 0..10 {
            let c = *self.b.get(self.at)?;
            self.at += 1;
            v |= u64::from(c & 0x7f) << (7 * i);
            if c & 0x80 == 0 {
                return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
            }
        }
        None
    }

    /// A nullable string with an int16 length (null reads as empty).
    pub fn nullable_string(&mut self) -> Option<&'a [u8]> {
        match self.i16()? {
            -1 => Some(&[]),
            n if n >= 0 => self.bytes(n as usize),
            _ => None,
        }
    }

    /// A (nullable) string: compact (uvarint length + 1) when `flexible`.
    pub fn string(&mut self, flexible: bool) -> Option<&'a [u8]> {
        if !flexible {
            return self.nullable_string();
        }
        match self.uvarint()? {
            0 => Some(&[]),
            n => self.bytes(n as usize - 1),
        }
    }

    /// Bytes with an int32 length (or compact when `flexible`); null reads as empty.
    pub fn bytes_field(&mut self, flexible: bool) -> Option<&'a [u8]> {
        if flexible {
            return match self.uvarint()? {
                0 => Some(&[]),
                n => self.bytes(n as usize - 1),
            };
        }
        match self.i32()? {
            -1 => Some(&[]),
            n if n >= 0 => self.bytes(n as usize),
            _ => None,
        }
    }

    /// What was captured of bytes with an int32 length (compact when `flexible`): the field
    /// may run past the end of the captured message.
    pub fn bytes_prefix(&mut self, flexible: bool) -> Option<&'a [u8]> {
        let n = if flexible {
            self.uvarint()?.saturating_sub(1) as usize
        } else {
            usize::try_from(self.i32()?.max(0)).ok()?
        };
        let end = self.at.saturating_add(n).min(self.b.len());
        let v = &self.b[self.at.min(end)..end];
        self.at = end;
        Some(v)
    }

    /// An array's element count (compact when `flexible`; null reads as 0).
    pub fn array_len(&mut self, flexible: bool) -> Option<u32> {
        if flexible {
            return Some(self.uvarint()?.saturating_sub(1));
        }
        match self.i32()? {
            -1 => Some(0),
            n if n >= 0 => Some(n as u32),
            _ => None,
        }
    }

    /// Skips a tagged-field section.
    pub fn tagged_fields(&mut self) -> Option<()> {
        let n = self.uvarint()?;
        for _ in 0..n {
            self.uvarint()?;
            let len = self.uvarint()?;
            self.skip(len as usize)?;
        }
        Some(())
    }
}
