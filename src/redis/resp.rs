//! RESP2, the Redis serialization protocol, by hand: a command out, a reply in.
//!
//! A command is an array of bulk strings, each one prefixed by its length, so any byte can be
//! in an argument and nothing needs escaping (RESP spec, "Sending commands to a Redis server"):
//!
//! ```text
//! *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n      SET k hello
//! ```
//!
//! A reply starts with one byte that says its type: `+` a simple string, `-` an error, `:` an
//! integer, `$` a bulk string (`$-1` is nil), `*` an array of replies (`*-1` is nil). Every
//! length is read before the bytes it counts, so a reply's size is known before it is stored,
//! and a reply larger than the limits below is refused before a byte of it is kept: the
//! server we talk to is trusted less than blindly, like any peer.

use std::io::{self, BufRead, ErrorKind, Read};

// ANCHOR: resp_limits
/// Longest line of a reply before its CR LF: a type byte and a length, or a simple string
/// or an error message.
pub const MAX_REPLY_LINE_BYTES: usize = 4 * 1024;
/// Largest bulk string in a reply. A chat message is at most 4 KiB of text and a name.
pub const MAX_BULK_BYTES: usize = 64 * 1024;
/// Most items in one array of a reply. `XREAD ... COUNT 256` answers at most 256 entries of
/// a few fields each.
pub const MAX_ARRAY_ITEMS: usize = 1024;
/// Deepest nesting of arrays. An `XREAD` reply is four deep.
pub const MAX_DEPTH: usize = 8;
/// Most a whole reply may take in memory: its bulk strings' bytes, and `VALUE_COST` for
/// each value besides. The limits above bound each part; without this, arrays of arrays
/// could multiply them (1024 to the power of 8). An `XREAD … COUNT 256` of the largest
/// messages (4 KiB of text, a name, a time) takes about 1.1 MiB.
pub const MAX_REPLY_BYTES: usize = 2 * 1024 * 1024;
/// What one value counts against `MAX_REPLY_BYTES` besides its bytes: about what a `Value`
/// takes in memory.
pub const VALUE_COST: usize = 32;
// ANCHOR_END: resp_limits

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+OK`
    Simple(String),
    /// `-ERR unknown command`: a reply, not a broken connection.
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$5 hello`
    Bulk(Vec<u8>),
    /// `$-1`: no string there (`GET` of a missing key).
    Nil,
    /// `*-1`: no array there (an `XREAD` whose block ran out).
    NilArray,
    /// `*2 ...`
    Array(Vec<Value>),
}

impl Value {
    /// The text of a simple or bulk string.
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Simple(text) => Some(text),
            Value::Bulk(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    /// An integer, or a string of digits (`GET` of a counter answers a bulk string).
    pub fn integer(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            other => other.text().and_then(|text| text.parse().ok()),
        }
    }
}

// ANCHOR: encode
/// A command as RESP: `*N` then each argument as `$LEN` and its bytes.
pub fn encode(arguments: &[&[u8]]) -> Vec<u8> {
    let size: usize = arguments.iter().map(|a| a.len() + 16).sum();
    let mut out = Vec::with_capacity(size + 16);
    out.extend_from_slice(format!("*{}\r\n", arguments.len()).as_bytes());
    for argument in arguments {
        out.extend_from_slice(format!("${}\r\n", argument.len()).as_bytes());
        out.extend_from_slice(argument);
        out.extend_from_slice(b"\r\n");
    }
    out
}
// ANCHOR_END: encode

/// A reply as the server wrote it: what `--trace` shows of a reply already read. RESP2 has
/// one way to write each value, so this gives back the bytes that came.
pub fn encode_reply(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_reply(value, &mut out);
    out
}

fn write_reply(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Simple(text) => out.extend_from_slice(format!("+{text}\r\n").as_bytes()),
        Value::Error(text) => out.extend_from_slice(format!("-{text}\r\n").as_bytes()),
        Value::Integer(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
        Value::Nil => out.extend_from_slice(b"$-1\r\n"),
        Value::NilArray => out.extend_from_slice(b"*-1\r\n"),
        Value::Bulk(bytes) => {
            out.extend_from_slice(format!("${}\r\n", bytes.len()).as_bytes());
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        Value::Array(items) => {
            out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
            for item in items {
                write_reply(item, out);
            }
        }
    }
}

// ANCHOR: decode
/// Reads one whole reply. An `InvalidData` error means the bytes are not RESP or pass a
/// limit: the connection cannot be trusted for another reply and must be closed.
pub fn read_reply(input: &mut impl BufRead) -> io::Result<Value> {
    let mut budget = MAX_REPLY_BYTES;
    read_value(input, 0, &mut budget)
}

/// Takes `cost` from what the reply may still take, or refuses it.
fn spend(budget: &mut usize, cost: usize) -> io::Result<()> {
    *budget = budget
        .checked_sub(cost)
        .ok_or_else(|| bad("a reply larger than MAX_REPLY_BYTES"))?;
    Ok(())
}

fn read_value(input: &mut impl BufRead, depth: usize, budget: &mut usize) -> io::Result<Value> {
    spend(budget, VALUE_COST)?;
    let line = read_line(input)?;
    let (kind, rest) = match line.split_first() {
        Some((kind, rest)) => (*kind, rest),
        None => return Err(bad("an empty line where a reply should start")),
    };
    let text = || String::from_utf8_lossy(rest).into_owned();
    match kind {
        b'+' => Ok(Value::Simple(text())),
        b'-' => Ok(Value::Error(text())),
        b':' => Ok(Value::Integer(number(rest)?)),
        b'$' => match number(rest)? {
            -1 => Ok(Value::Nil),
            length => {
                let length = size(length, MAX_BULK_BYTES, "a bulk string")?;
                spend(budget, length)?;
                let mut bytes = vec![0; length + 2];
                input.read_exact(&mut bytes)?;
                if !bytes.ends_with(b"\r\n") {
                    return Err(bad("a bulk string not followed by CR LF"));
                }
                bytes.truncate(length);
                Ok(Value::Bulk(bytes))
            }
        },
        b'*' => match number(rest)? {
            -1 => Ok(Value::NilArray),
            count => {
                let count = size(count, MAX_ARRAY_ITEMS, "an array")?;
                if depth == MAX_DEPTH {
                    return Err(bad("arrays nested deeper than MAX_DEPTH"));
                }
                let mut items = Vec::new();
                for _ in 0..count {
                    items.push(read_value(input, depth + 1, budget)?);
                }
                Ok(Value::Array(items))
            }
        },
        other => Err(bad(&format!(
            "a reply starting with {:?}, which is no RESP2 type",
            other as char
        ))),
    }
}

/// A line up to CR LF (both required, RESP spec "RESP protocol description"), without them.
fn read_line(input: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let limit = (MAX_REPLY_LINE_BYTES + 2) as u64;
    input.take(limit).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(ErrorKind::UnexpectedEof.into());
    }
    if !line.ends_with(b"\r\n") {
        return Err(if line.len() as u64 == limit {
            bad("a reply line longer than MAX_REPLY_LINE_BYTES")
        } else if line.ends_with(b"\n") {
            bad("a reply line ended by LF alone")
        } else {
            ErrorKind::UnexpectedEof.into()
        });
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

/// A length or an integer: an optional minus and digits, nothing else.
fn number(digits: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(digits)
        .ok()
        .filter(|d| {
            !d.is_empty()
                && d.trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
        })
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| bad("a length or integer that is not a number"))
}

fn size(length: i64, max: usize, what: &str) -> io::Result<usize> {
    match usize::try_from(length) {
        Ok(n) if n <= max => Ok(n),
        Ok(n) => Err(bad(&format!("{what} of {n}, over the limit of {max}"))),
        Err(_) => Err(bad(&format!("{what} of negative length {length}"))),
    }
}

fn bad(why: &str) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, format!("not a Redis reply: {why}"))
}
// ANCHOR_END: decode

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(bytes: &[u8]) -> io::Result<Value> {
        read_reply(&mut &bytes[..])
    }

    #[test]
    fn a_command_is_an_array_of_bulk_strings() {
        assert_eq!(encode(&[b"PING"]), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            encode(&[b"SET", b"k", b"two\r\nlines"]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\ntwo\r\nlines\r\n"
        );
        assert_eq!(encode(&[b"GET", b""]), b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
    }

    /// Replies as redis-server 7.0.15 (Debian 12) sent them, recorded over a plain socket
    /// (`:-2` is `TTL` of a missing key, `$2 12` a `GET` of a counter).
    #[test]
    fn every_reply_type_as_redis_sends_it() {
        assert_eq!(reply(b"+PONG\r\n").unwrap(), Value::Simple("PONG".into()));
        assert_eq!(
            reply(b"-ERR unknown command 'FOO', with args beginning with: \r\n").unwrap(),
            Value::Error("ERR unknown command 'FOO', with args beginning with: ".into())
        );
        assert_eq!(reply(b":7\r\n").unwrap(), Value::Integer(7));
        assert_eq!(reply(b":-2\r\n").unwrap(), Value::Integer(-2));
        assert_eq!(reply(b"$2\r\n12\r\n").unwrap().integer(), Some(12));
        assert_eq!(reply(b"$-1\r\n").unwrap(), Value::Nil);
        assert_eq!(reply(b"*-1\r\n").unwrap(), Value::NilArray);
        assert_eq!(reply(b"*0\r\n").unwrap(), Value::Array(vec![]));
        // XREAD BLOCK 0 COUNT 1 STREAMS room 0-0, with one entry 1-0 from=ann text=hi.
        let xread = b"*1\r\n*2\r\n$4\r\nroom\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*4\r\n\
                      $4\r\nfrom\r\n$3\r\nann\r\n$4\r\ntext\r\n$2\r\nhi\r\n";
        let bulk = |s: &str| Value::Bulk(s.as_bytes().to_vec());
        assert_eq!(
            reply(xread).unwrap(),
            Value::Array(vec![Value::Array(vec![
                bulk("room"),
                Value::Array(vec![Value::Array(vec![
                    bulk("1-0"),
                    Value::Array(vec![bulk("from"), bulk("ann"), bulk("text"), bulk("hi")]),
                ])]),
            ])])
        );
    }

    #[test]
    fn a_reply_written_back_is_the_bytes_that_came() {
        for bytes in [
            &b"+PONG\r\n"[..],
            b"-ERR x\r\n",
            b":-2\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"$2\r\n\r\n\r\n",
            b"*2\r\n*1\r\n:1\r\n$0\r\n\r\n",
        ] {
            assert_eq!(encode_reply(&reply(bytes).unwrap()), bytes);
        }
    }

    #[test]
    fn a_bulk_string_may_hold_any_byte() {
        assert_eq!(
            reply(b"$4\r\n\r\n\x00\xff\r\n").unwrap(),
            Value::Bulk(b"\r\n\x00\xff".to_vec())
        );
    }

    #[test]
    fn what_is_not_resp_or_too_big_is_refused() {
        for (bytes, why) in [
            (&b"?\r\n"[..], "no RESP2 type"),
            (b"+OK\n", "LF alone"),
            (b":12a\r\n", "not a number"),
            (b"$3\r\nabcd\r\n", "not followed by CR LF"),
            (b"$-2\r\n", "negative length"),
            (b"$65537\r\n", "over the limit"),
            (b"*1025\r\n", "over the limit"),
            (b"\r\n", "an empty line"),
        ] {
            let error = reply(bytes).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidData, "{bytes:?}");
            assert!(error.to_string().contains(why), "{bytes:?}: {error}");
        }
        let long = format!("+{}\r\n", "x".repeat(MAX_REPLY_LINE_BYTES + 1));
        assert!(
            reply(long.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("longer")
        );
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1) + ":1\r\n";
        assert!(
            reply(deep.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("deeper")
        );
        let deepest = "*1\r\n".repeat(MAX_DEPTH) + ":1\r\n";
        assert!(reply(deepest.as_bytes()).is_ok());
        // Each array within its limit, the whole far past the budget: refused as it comes,
        // long before it is all read.
        let inner = "*1024\r\n".to_string() + &"$1\r\nx\r\n".repeat(1024);
        let wide = "*1024\r\n".to_string() + &inner.repeat(1024);
        let Err(error) = reply(wide.as_bytes()) else {
            panic!("a reply of a million values was taken whole")
        };
        assert!(error.to_string().contains("MAX_REPLY_BYTES"), "{error}");
    }

    #[test]
    fn a_reply_cut_short_is_an_early_end() {
        for bytes in [&b""[..], b"+PON", b"$5\r\nhel", b"*2\r\n:1\r\n"] {
            assert_eq!(
                reply(bytes).unwrap_err().kind(),
                ErrorKind::UnexpectedEof,
                "{bytes:?}"
            );
        }
    }
}
