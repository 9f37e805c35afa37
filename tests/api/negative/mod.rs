//! Refused requests: each test shows the refusal in the protocol's own words, and that the
//! refusal changed nothing (the code still works, no token was issued, the session lives on,
//! the browser was not sent anywhere).

mod anonymous;
mod client_auth;
mod codes;
mod forged_tokens;
mod forms;
mod helpers;
mod input;
mod redirects;
mod refresh;
mod refusals;
mod token_kinds;
