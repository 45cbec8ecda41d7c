//! `multipart/form-data` (RFC 7578) — work in progress.
