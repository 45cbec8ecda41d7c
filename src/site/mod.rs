//! The chapters as a site: `docs/*.md` rendered to HTML by the server.

pub mod markdown;
