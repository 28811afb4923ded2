//! The topic array of a Metadata response (v10+, always a flexible version) read as it streams
//! by: a response longer than what the stream holds for the parser (a cluster's many topics and
//! partitions) still teaches every topic's name and id, not only those of its first bytes.
//!
//! The walk keeps its place in a few counters, never the bytes: it reads whole elements (a varint,
//! a fixed field, a topic's name with its id) and stops before one the bytes it is given end in.
//! The caller offers those bytes again with what follows (the stream holds them, as it holds a cut
//! message head); what needs no reading (the partitions' replica lists, tagged fields' data, a
//! name too long to remember) is counted down across calls. Every call reads at most the bytes it
//! is given and each element takes some, so a hostile count costs only its bytes.

use super::body::metadata_topics_at;
use super::topic_names::NAME_MAX;

/// Where the walk is in the topic array.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Step {
    /// The topic array's length.
    #[default]
    Topics,
    /// A topic's error code, or the end of the array.
    Topic,
    /// A topic's name and id.
    NameId,
    /// The partition array's length.
    Partitions,
    /// A partition's fixed fields, or the end of the partition array.
    Partition,
    /// The length of replica list `n` of a partition (replicas, in-sync, offline).
    List(u8),
    /// The tagged-field section's count (of a partition when `in_partition`, else of a topic).
    Tags,
    /// A tagged field's tag and size, or the end of the section.
    Tag,
    /// Every topic was read (or the bytes did not read as a Metadata response).
    Done,
}

/// A Metadata response's topic array, read across calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicWalk {
    step: Step,
    in_partition: bool,
    /// Bytes to pass over before the step is taken.
    skip: u64,
    topics_left: u32,
    partitions_left: u32,
    tags_left: u32,
    /// The bytes read did not follow the format.
    malformed: bool,
}

/// An unsigned varint of at most 5 bytes at the start of `b`: (value, bytes) when whole, None
/// while `b` ends inside it, Some((None, 0)) when it runs past 5 bytes.
fn uvarint(b: &[u8]) -> Option<(Option<u32>, usize)> {
    let mut v = 0u32;
    for i in 0..5 {
        let c = *b.get(i)?;
        v |= u32::from(c & 0x7f) << (7 * i);
        if c & 0x80 == 0 {
            return Some((Some(v), i + 1));
        }
    }
    Some((None, 0))
}

impl TopicWalk {
    /// Reads the topics of Metadata response `b` (v10+, the message from its size prefix as far
    /// as captured; `at` the body's offset): the walk after `b` and the bytes of `b` it used.
    /// None before v10 or when `b` ends before the topic array.
    pub fn start(
        version: i16,
        b: &[u8],
        at: usize,
        learn: impl FnMut([u8; 16], &[u8]),
    ) -> Option<(TopicWalk, usize)> {
        let from = metadata_topics_at(version, b, at)?;
        let mut walk = TopicWalk::default();
        let used = walk.feed(&b[from..], learn);
        Some((walk, from + used))
    }

    /// Every topic was read, or the walk gave up on bytes that did not read.
    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// The bytes did not follow the Metadata format.
    pub fn is_malformed(&self) -> bool {
        self.malformed
    }

    fn fail(&mut self) {
        self.malformed = true;
        self.step = Step::Done;
    }

    /// The varint at the start of `b` and its length; None while `b` ends inside it, or when it
    /// runs past 5 bytes (the walk is then malformed and done).
    fn varint(&mut self, b: &[u8]) -> Option<(u32, usize)> {
        match uvarint(b)? {
            (Some(v), n) => Some((v, n)),
            (None, _) => {
                self.fail();
                None
            }
        }
    }

    /// Reads `b`, the next bytes of the response; `learn` gets each topic's id and name (a name
    /// longer than [`NAME_MAX`] is passed over). Returns the bytes used: all of `b`, or fewer when
    /// the walk is done or `b` ends inside an element, whose bytes are to be offered again with
    /// what follows.
    pub fn feed(&mut self, b: &[u8], mut learn: impl FnMut([u8; 16], &[u8])) -> usize {
        let mut at = 0;
        loop {
            if self.skip > 0 {
                let n = self.skip.min((b.len() - at) as u64);
                self.skip -= n;
                at += n as usize;
                if self.skip > 0 {
                    return at;
                }
            }
            let rest = &b[at..];
            // Steps that read a varint first.
            let varint = match self.step {
                Step::Done => return at,
                Step::Topic | Step::Partition | Step::Tag => None,
                Step::Topics | Step::Partitions | Step::List(_) | Step::Tags | Step::NameId => {
                    match self.varint(rest) {
                        Some(v) => Some(v),
                        None => return at,
                    }
                }
            };
            match (self.step, varint) {
                (Step::Topics, Some((n, len))) => {
                    at += len;
                    self.topics_left = n.saturating_sub(1);
                    self.step = Step::Topic;
                }
                (Step::Topic, _) => {
                    if self.topics_left == 0 {
                        // What follows (cluster operations, tagged fields) names no topic.
                        self.step = Step::Done;
                        return at;
                    }
                    self.topics_left -= 1;
                    self.skip = 2; // error_code
                    self.step = Step::NameId;
                }
                (Step::NameId, Some((n, len))) => {
                    // A compact nullable string, then the 16-byte id and is_internal.
                    let name_len = n.saturating_sub(1) as usize;
                    if name_len > NAME_MAX {
                        at += len;
                        self.skip = name_len as u64 + 16 + 1;
                    } else {
                        let Some(whole) = rest.get(len..len + name_len + 16) else {
                            return at;
                        };
                        let (name, id) = whole.split_at(name_len);
                        let mut key = [0u8; 16];
                        key.copy_from_slice(id);
                        learn(key, name);
                        at += len + name_len + 16;
                        self.skip = 1;
                    }
                    self.step = Step::Partitions;
                }
                (Step::Partitions, Some((n, len))) => {
                    at += len;
                    self.partitions_left = n.saturating_sub(1);
                    self.step = Step::Partition;
                }
                (Step::Partition, _) => {
                    if self.partitions_left == 0 {
                        self.skip = 4; // topic_authorized_operations
                        self.in_partition = false;
                        self.step = Step::Tags;
                    } else {
                        self.partitions_left -= 1;
                        // error_code, partition_index, leader_id, leader_epoch
                        self.skip = 2 + 4 + 4 + 4;
                        self.step = Step::List(0);
                    }
                }
                (Step::List(i), Some((n, len))) => {
                    at += len;
                    self.skip = u64::from(n.saturating_sub(1)) * 4;
                    if i < 2 {
                        self.step = Step::List(i + 1);
                    } else {
                        self.in_partition = true;
                        self.step = Step::Tags;
                    }
                }
                (Step::Tags, Some((n, len))) => {
                    at += len;
                    self.tags_left = n;
                    self.step = Step::Tag;
                }
                (Step::Tag, _) => {
                    if self.tags_left == 0 {
                        self.step = if self.in_partition {
                            Step::Partition
                        } else {
                            Step::Topic
                        };
                        continue;
                    }
                    // The tag, then the size of its data.
                    let Some((_, tag_len)) = self.varint(rest) else {
                        return at;
                    };
                    let Some((size, size_len)) = self.varint(&rest[tag_len..]) else {
                        return at;
                    };
                    at += tag_len + size_len;
                    self.tags_left -= 1;
                    self.skip = u64::from(size);
                }
                // Every varint step was matched with its varint above.
                _ => {
                    self.fail();
                    return at;
                }
            }
        }
    }
}
