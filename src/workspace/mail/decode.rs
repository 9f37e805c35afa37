//! Content-Transfer-Encodings undone a piece at a time, as an attachment's bytes arrive from
//! IMAP in chunks: what is held between two pieces is a few bytes (base64) or the end of a
//! line (quoted-printable, at most [`LONGEST_CARRY`]), whatever the attachment's size.
//!
//! Both are lenient, as a mail reader is (RFC 2045 §6.7, §6.8): what is not base64 is skipped,
//! a quoted-printable escape that is not one is kept as written. Hostile mail decodes to
//! something; it never ends the download midway.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use quoted_printable::ParseMode;

use super::parts::TransferEncoding;

/// A quoted-printable line longer than this (RFC 2045 allows 76 characters) is decoded before
/// its end is seen.
const LONGEST_CARRY: usize = 64 * 1024;

/// Base64 that takes the last group without its `=` padding and with spare bits set.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Undoes one part's transfer encoding, a chunk at a time.
pub struct Decoder {
    encoding: TransferEncoding,
    /// What the last chunk ended with that cannot be decoded without the next.
    carry: Vec<u8>,
}

impl Decoder {
    pub fn new(encoding: TransferEncoding) -> Self {
        Self {
            encoding,
            carry: Vec::new(),
        }
    }

    /// The content `chunk` holds, once what came before it is taken into account.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        match self.encoding {
            TransferEncoding::Identity => chunk.to_vec(),
            TransferEncoding::Base64 => {
                // '=' is padding, only ever at the end: skipped like line breaks.
                self.carry.extend(
                    chunk
                        .iter()
                        .copied()
                        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/'),
                );
                let whole = self.carry.len() / 4 * 4;
                let decoded = base64(&self.carry[..whole]);
                self.carry.drain(..whole);
                decoded
            }
            TransferEncoding::QuotedPrintable => {
                self.carry.extend_from_slice(chunk);
                let cut = match self.carry.iter().rposition(|b| *b == b'\n') {
                    Some(newline) => newline + 1,
                    None if self.carry.len() > LONGEST_CARRY => safe_cut(&self.carry),
                    None => return Vec::new(),
                };
                let decoded = quoted(&self.carry[..cut]);
                self.carry.drain(..cut);
                decoded
            }
        }
    }

    /// The content the last chunk left over.
    pub fn finish(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.carry);
        match self.encoding {
            TransferEncoding::Identity => rest,
            TransferEncoding::Base64 => base64(&rest),
            TransferEncoding::QuotedPrintable => quoted(&rest),
        }
    }
}

fn base64(group: &[u8]) -> Vec<u8> {
    // A single character left at the end carries no whole byte.
    let usable = if group.len() % 4 == 1 {
        &group[..group.len() - 1]
    } else {
        group
    };
    LENIENT.decode(usable).unwrap_or_default()
}

fn quoted(text: &[u8]) -> Vec<u8> {
    quoted_printable::decode(text, ParseMode::Robust).unwrap_or_else(|_| text.to_vec())
}

/// Where a long line may be cut: not inside an `=XX` escape, and not after blanks, which the
/// decoder drops at a line's end.
fn safe_cut(text: &[u8]) -> usize {
    let mut cut = text.len();
    if let Some(escape) = text[cut.saturating_sub(2)..]
        .iter()
        .position(|b| *b == b'=')
    {
        cut = cut.saturating_sub(2) + escape;
    }
    while cut > 0 && matches!(text[cut - 1], b' ' | b'\t') {
        cut -= 1;
    }
    cut
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn in_chunks(encoding: TransferEncoding, encoded: &[u8], size: usize) -> Vec<u8> {
        let mut decoder = Decoder::new(encoding);
        let mut out = Vec::new();
        for chunk in encoded.chunks(size) {
            out.extend(decoder.push(chunk));
        }
        out.extend(decoder.finish());
        out
    }

    fn content() -> Vec<u8> {
        (0..10_000u32).map(|i| (i * 7919 % 251) as u8).collect()
    }

    #[test]
    fn base64_in_any_chunks_decodes_as_a_whole() {
        for len in [0, 1, 2, 3, 4, 57, 58, 10_000] {
            let content = &content()[..len];
            // In MIME's lines of 76 characters, as mail has it.
            let encoded = STANDARD
                .encode(content)
                .into_bytes()
                .chunks(76)
                .flat_map(|line| [line, b"\r\n"].concat())
                .collect::<Vec<u8>>();
            for size in [1, 3, 4, 77, 78, 1000, 1 << 20] {
                assert_eq!(
                    in_chunks(TransferEncoding::Base64, &encoded, size),
                    content,
                    "{len} bytes in chunks of {size}"
                );
            }
        }
        // Junk between the characters, no padding, spare bits: read as a mail reader would.
        assert_eq!(
            in_chunks(TransferEncoding::Base64, b"aGV\x00sb*G8gd29y\r\nbGQ", 2),
            b"hello world"
        );
    }

    #[test]
    fn quoted_printable_in_any_chunks_decodes_as_a_whole() {
        let text = "Grüße aus Köln = 100 % \t\r\nnext line with a trailing blank \r\n".repeat(300);
        let encoded = quoted_printable::encode(text.as_bytes());
        assert_eq!(quoted(&encoded), text.as_bytes());
        for size in [1, 2, 3, 75, 76, 77, 4096] {
            assert_eq!(
                in_chunks(TransferEncoding::QuotedPrintable, &encoded, size),
                text.as_bytes(),
                "chunks of {size}"
            );
        }
        // A line of 200 000 characters is decoded as it comes, not held whole.
        let long = "=C3=BC".repeat(40_000);
        let mut decoder = Decoder::new(TransferEncoding::QuotedPrintable);
        let mut out = Vec::new();
        for chunk in long.as_bytes().chunks(1001) {
            out.extend(decoder.push(chunk));
            assert!(decoder.carry.len() <= LONGEST_CARRY + 1001);
        }
        out.extend(decoder.finish());
        assert_eq!(out, "ü".repeat(40_000).as_bytes());
    }

    #[test]
    fn identity_is_the_bytes() {
        assert_eq!(
            in_chunks(TransferEncoding::Identity, b"a=b\r\nc", 2),
            b"a=b\r\nc"
        );
    }
}
