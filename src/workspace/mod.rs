//! The workspace APIs: resource servers behind the provider. Each area (meet, docs, calendar,
//! mail) is a folder with its routes, its domain logic and its client for the downstream service.

pub mod meet;
