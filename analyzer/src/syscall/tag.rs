//! Fills the process and syscall fields of the rows a traced socket completes, on their way to
//! the output.

use super::sockets::{Infos, SocketInfo};
use super::SyscallCounters;
use crate::mirror::tap_side_name;
use crate::record::l7::{SyscallFields, SIGNAL_SOURCE_EBPF, TYPE_REQUEST, TYPE_RESPONSE};
use crate::record::{L7FlowLog, RecordBatch, RecordRef, RecordSink};

/// DeepFlow's tap_side of a row seen in the client's / server's process.
pub(crate) const TAP_SIDE_CLIENT_PROCESS: u8 = 41;
pub(crate) const TAP_SIDE_SERVER_PROCESS: u8 = 42;

/// A sink in front of the output that tags l7 rows of traced sockets.
pub(super) struct ProcessTagger<'a> {
    inner: &'a mut dyn RecordSink,
    infos: &'a Infos,
    counters: &'a mut SyscallCounters,
    trace_ids: bool,
}

impl<'a> ProcessTagger<'a> {
    pub(super) fn new(
        inner: &'a mut dyn RecordSink,
        infos: &'a Infos,
        counters: &'a mut SyscallCounters,
        trace_ids: bool,
    ) -> Self {
        ProcessTagger {
            inner,
            infos,
            counters,
            trace_ids,
        }
    }
}

/// Tags `row`, a row of the socket `info` describes. Returns whether the other end's process
/// was known.
pub(super) fn tag(row: &mut L7FlowLog, info: &SocketInfo, infos: &Infos, trace_ids: bool) -> bool {
    let local_ip = crate::record::ip_from_bytes(&info.local.ip, !row.peers.is_ipv4);
    let local_is_client = row.peers.client_port == info.local.port && row.peers.ip_0 == local_ip;
    let peer = infos
        .by_tuple
        .get(&(info.remote, info.local))
        .map(|e| e.owner);
    let me = (info.pid, info.comm);
    let (client, server) = if local_is_client {
        (Some(me), peer)
    } else {
        (peer, Some(me))
    };
    // Flow side 0 is what the process wrote: the request when it is the client.
    let (req, resp) = if local_is_client {
        (info.turns[0], info.turns[1])
    } else {
        (info.turns[1], info.turns[0])
    };
    let (mut req, mut resp) = (req, resp);
    if !trace_ids {
        req.trace_id = 0;
        resp.trace_id = 0;
    }
    let mut f = SyscallFields::default();
    if let Some((pid, comm)) = client {
        f.process_id_0 = pid;
        f.process_kname_0 = comm;
    }
    if let Some((pid, comm)) = server {
        f.process_id_1 = pid;
        f.process_kname_1 = comm;
    }
    if row.row_type != TYPE_RESPONSE {
        f.syscall_trace_id_request = req.trace_id;
        f.syscall_thread_0 = req.tid;
        f.syscall_cap_seq_0 = req.cap_seq;
    }
    if row.row_type != TYPE_REQUEST {
        f.syscall_trace_id_response = resp.trace_id;
        f.syscall_thread_1 = resp.tid;
        f.syscall_cap_seq_1 = resp.cap_seq;
    }
    row.syscall = f;
    row.is_tls |= info.tls;
    row.signal_source = SIGNAL_SOURCE_EBPF;
    row.tap_side = if local_is_client {
        TAP_SIDE_CLIENT_PROCESS
    } else {
        TAP_SIDE_SERVER_PROCESS
    };
    row.observation_point = tap_side_name(row.tap_side);
    peer.is_some()
}

impl RecordSink for ProcessTagger<'_> {
    fn record(&mut self, rec: RecordRef<'_>) {
        if let RecordRef::L7FlowLog(r) = rec {
            if let Some(info) = self.infos.by_flow.get(&r.flow_id) {
                let mut row = r.clone();
                if tag(&mut row, info, self.infos, self.trace_ids) {
                    self.counters.rows_with_peer_process += 1;
                }
                self.inner.record(RecordRef::L7FlowLog(&row));
                return;
            }
        }
        self.inner.record(rec);
    }

    fn record_batch(&mut self, batch: &RecordBatch) {
        batch.for_each(|r| self.record(r));
    }

    fn flush_batches(&mut self) {
        self.inner.flush_batches();
    }

    fn tick(&mut self, now_ns: u64) {
        self.inner.tick(now_ns);
    }
}
