//! The writer of one data record's bytes.

use std::net::IpAddr;

/// Writes fields one after another into a record's slot in the message,
/// without an intermediate buffer (a million records an interval).
pub struct Cursor<'a> {
    buf: &'a mut [u8],
    at: usize,
    overflow: bool,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Cursor {
            buf,
            at: 0,
            overflow: false,
        }
    }

    #[inline(always)]
    pub fn put(&mut self, bytes: &[u8]) {
        let end = self.at + bytes.len();
        match self.buf.get_mut(self.at..end) {
            Some(slot) => slot.copy_from_slice(bytes),
            None => self.overflow = true,
        }
        self.at = end;
    }

    #[inline(always)]
    pub fn put_addr(&mut self, addr: IpAddr) {
        match addr {
            IpAddr::V4(a) => self.put(&a.octets()),
            IpAddr::V6(a) => self.put(&a.octets()),
        }
    }

    /// True when the fields filled the slot exactly.
    pub fn filled(&self) -> bool {
        !self.overflow && self.at == self.buf.len()
    }
}
