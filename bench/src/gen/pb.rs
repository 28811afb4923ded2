//! Protocol buffers' wire format, written field by field for generated payloads (Pulsar's
//! commands, bRPC's metas).

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A protobuf message built field by field.
#[derive(Default)]
pub(crate) struct Pb(pub(crate) Vec<u8>);

impl Pb {
    pub(crate) fn int(mut self, n: u64, v: u64) -> Self {
        varint(&mut self.0, n << 3);
        varint(&mut self.0, v);
        self
    }

    pub(crate) fn bytes(mut self, n: u64, b: &[u8]) -> Self {
        varint(&mut self.0, (n << 3) | 2);
        varint(&mut self.0, b.len() as u64);
        self.0.extend(b);
        self
    }
}
