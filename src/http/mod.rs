//! HTTP/1.1 by hand: parsing requests, reading bodies, writing responses.
//! `docs/01-http-by-hand.md` walks through all of it.

pub mod body;
pub mod error;
pub mod method;
pub mod multipart;
pub mod query;
pub mod request;
pub mod response;
pub mod target;
