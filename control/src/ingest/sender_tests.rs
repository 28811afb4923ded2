//! The sender's connections against a plain listener: one for every type, one per type when
//! `multiple_sockets_to_ingester` is switched on while running, each carrying its type only.

use std::io::Read;
use std::net::TcpListener;

use tapflow_analyzer::{L7FlowLog, RecordRef};

use super::*;

/// Connections accepted so far, each read to its end on a thread of its own.
struct Accepted {
    readers: Vec<std::thread::JoinHandle<Vec<u8>>>,
}

impl Accepted {
    fn take(&mut self, l: &TcpListener) {
        while let Ok((mut s, _)) = l.accept() {
            s.set_nonblocking(false).expect("blocking");
            self.readers.push(std::thread::spawn(move || {
                let mut all = Vec::new();
                let _ = s.read_to_end(&mut all);
                all
            }));
        }
    }

    /// The message types of each connection's frames.
    fn types(self) -> Vec<Vec<u8>> {
        self.readers
            .into_iter()
            .map(|r| {
                let all = r.join().expect("reader");
                let mut types = Vec::new();
                let mut at = 0;
                while at + 5 <= all.len() {
                    let size = u32::from_be_bytes(all[at..at + 4].try_into().expect("4"));
                    types.push(all[at + 4]);
                    at += size as usize;
                }
                types
            })
            .collect()
    }
}

#[test]
fn one_connection_for_every_type_or_one_per_type_switched_live() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.set_nonblocking(true).expect("nonblocking");
    let mut cfg = SenderConfig::new(l.local_addr().expect("addr").to_string());
    cfg.drain_timeout = Duration::from_secs(5);
    let mut sink = IngesterSink::start(cfg).expect("sender");
    let h = sink.handle();
    let (l4, l7) = (crate::sink::syn_row(40000), L7FlowLog::default());
    let mut accepted = Accepted {
        readers: Vec::new(),
    };
    let send_both = |sink: &mut IngesterSink| {
        sink.write(RecordRef::L4FlowLog(&l4));
        sink.write(RecordRef::L7FlowLog(&l7));
        sink.flush().expect("flush");
    };
    send_both(&mut sink);
    assert_eq!(h.counters().connects.load(Ordering::Relaxed), 1);
    h.set_socket_per_type(true);
    send_both(&mut sink);
    assert_eq!(h.counters().connects.load(Ordering::Relaxed), 3);
    h.set_socket_per_type(false);
    send_both(&mut sink);
    assert_eq!(h.counters().connects.load(Ordering::Relaxed), 4);
    assert_eq!(h.counters().records_sent(), 6);
    drop(sink);
    accepted.take(&l);
    let mut conns = accepted.types();
    conns.sort();
    // l4 is type 4, l7 type 5: the shared connections carry both, the others one each.
    assert_eq!(conns, vec![vec![4], vec![4, 5], vec![4, 5], vec![5]]);
}
