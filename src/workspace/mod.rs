//! The workspace APIs (resource servers) mounted behind the provider.

pub mod meet;
