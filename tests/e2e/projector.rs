//! The billing projector against real NATS and Postgres: real `UsageEvent`
//! protobufs published to JetStream as the gateway does, folded exactly once
//! (duplicates, several instances, a killed instance), rebuilt, exported,
//! scoped by tenant and role, pruned only behind registered cursors. Each test
//! runs its own projector instances on the stack's durable consumer, which
//! stays correct when the stack runs one of its own too.

mod api;
mod batches;
mod cursors;
mod folding;
mod nul;
mod positions;
mod resilience;
mod scale_out;
mod sigkill;
mod support;
mod webhooks;
