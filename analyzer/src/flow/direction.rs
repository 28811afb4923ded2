//! Which endpoint of a flow is the server.
//!
//! Evidence is ranked by a score, DeepFlow-style (`direction_score`): a stronger piece of
//! evidence replaces a weaker one, never the reverse. DeepFlow's fixed scores are kept (255
//! SYN-ACK sender, 254 L7, 253 configured `server_ports`); below them tapflow uses:
//! 252 SYN (or ICMP echo request) receiver, 2 the one port below 32768 when the other is
//! ephemeral (DeepFlow's heuristic), 1 the one port below 1024 (tapflow addition), 0 the first
//! packet's destination. A later issue adds the learned per-service score table between 252 and 2.

use crate::ports::PortSet;

pub const SCORE_SYN_ACK: u8 = 255;
pub const SCORE_L7: u8 = 254;
pub const SCORE_SERVER_PORT: u8 = 253;
pub const SCORE_SYN: u8 = 252;
pub const SCORE_EPHEMERAL: u8 = 2;
pub const SCORE_WELL_KNOWN: u8 = 1;
pub const SCORE_FIRST_PACKET: u8 = 0;

const EPHEMERAL_MIN: u16 = 32768;
const WELL_KNOWN_MAX: u16 = 1024;

/// The current belief about the server endpoint (0 = first sender, 1 = its peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Direction {
    pub server: u8,
    pub score: u8,
}

impl Direction {
    /// Evidence available from the first packet's ports: endpoint 0 sent it.
    pub fn from_ports(port0: u16, port1: u16, has_ports: bool, server_ports: &PortSet) -> Self {
        match Self::server_by_ports(port0, port1, server_ports) {
            Some(d) if has_ports => d,
            _ => Direction {
                server: 1,
                score: SCORE_FIRST_PACKET,
            },
        }
    }

    /// Which of two ports looks like the server's from the ports alone (a configured server
    /// port, the one below 32768 beside an ephemeral one, the one below 1024), and how strongly;
    /// None when the ports do not tell. Symmetric: swapping the ports swaps the answer.
    pub fn server_by_ports(port0: u16, port1: u16, server_ports: &PortSet) -> Option<Self> {
        let pick = |server_is_0: bool, score| Direction {
            server: u8::from(!server_is_0),
            score,
        };
        let (s0, s1) = (server_ports.contains(port0), server_ports.contains(port1));
        if s0 != s1 {
            return Some(pick(s0, SCORE_SERVER_PORT));
        }
        let (e0, e1) = (port0 >= EPHEMERAL_MIN, port1 >= EPHEMERAL_MIN);
        if e0 != e1 {
            return Some(pick(e1, SCORE_EPHEMERAL));
        }
        let (w0, w1) = (port0 < WELL_KNOWN_MAX, port1 < WELL_KNOWN_MAX);
        if w0 != w1 {
            return Some(pick(w0, SCORE_WELL_KNOWN));
        }
        None
    }

    /// Applies evidence that `server` is the server, with strength `score`.
    #[inline]
    pub fn observe(&mut self, server: u8, score: u8) {
        if score > self.score || (score == self.score && score >= SCORE_SYN) {
            self.server = server & 1;
            self.score = score;
        }
    }

    #[inline]
    pub fn client(&self) -> u8 {
        self.server ^ 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking() {
        let mut ports = PortSet::new();
        ports.insert(8080);
        // First packet from the server's port 8080 to an ephemeral port.
        let mut d = Direction::from_ports(8080, 50000, true, &ports);
        assert_eq!((d.server, d.score), (0, SCORE_SERVER_PORT));
        d.observe(1, SCORE_SYN); // weaker than the config: ignored
        assert_eq!(d.server, 0);
        d.observe(1, SCORE_SYN_ACK);
        assert_eq!((d.server, d.score), (1, SCORE_SYN_ACK));
        let d = Direction::from_ports(40000, 3306, true, &PortSet::new());
        assert_eq!((d.server, d.score), (1, SCORE_EPHEMERAL));
        let d = Direction::from_ports(80, 3267, true, &PortSet::new());
        assert_eq!((d.server, d.score), (0, SCORE_WELL_KNOWN));
        let d = Direction::from_ports(5000, 6000, true, &PortSet::new());
        assert_eq!((d.server, d.score), (1, SCORE_FIRST_PACKET));
    }
}
