//! The RTP port pool: even ports from the configured range (RTP even, RTCP odd; RFC 3550 §11).
//!
//! The engine allocates ports itself, so it can write SDP at once; the media worker binds
//! them and reports a failure as `MediaEvent::OpenFailed`. Released ports go to the back of
//! the queue, so a port is not reused while late packets of its last call may still arrive.

use std::collections::VecDeque;

/// Free even ports.
#[derive(Debug, Clone)]
pub struct PortPool {
    free: VecDeque<u16>,
    min: u16,
    max: u16,
}

impl PortPool {
    /// All even ports `p` with `min <= p` and `p + 1 <= max`.
    pub fn new(min: u16, max: u16) -> Self {
        let start = min + (min % 2);
        let free = (start..max).step_by(2).collect();
        Self { free, min, max }
    }

    /// Takes the least recently used free port.
    pub fn take(&mut self) -> Option<u16> {
        self.free.pop_front()
    }

    /// Returns a port.
    pub fn give(&mut self, port: u16) {
        if port >= self.min && port < self.max && port % 2 == 0 {
            self.free.push_back(port);
        }
    }

    /// Ports available now.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_with_room_for_rtcp_and_lru_reuse() {
        let mut p = PortPool::new(10_001, 10_008);
        assert_eq!(p.available(), 3);
        assert_eq!(p.take(), Some(10_002));
        assert_eq!(p.take(), Some(10_004));
        p.give(10_002);
        assert_eq!(p.take(), Some(10_006));
        assert_eq!(p.take(), Some(10_002));
        assert_eq!(p.take(), None);
        p.give(3);
        assert_eq!(p.available(), 0);
    }
}
