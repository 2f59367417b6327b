//! Following Keycloak identities (issue 11) through real stacks: the key
//! service's follower polls a Keycloak test double (real Keycloak cannot run
//! here; see `keycloak_double`), and what it records reaches the gateway in
//! this process, in another process, and the key service's own API.
//!
//! Deadlines are generous (`eventually`): these tests prove the effect and
//! its direction, not wall-clock figures; `bench/identity-follow.sh`
//! measures the delay.

mod bench;
mod deletion;
mod disable;
mod keycloak_double;
mod stale;
mod support;
mod webhook;
