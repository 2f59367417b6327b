//! The `keyway` binary. All logic lives in the library and the services.

mod cli;

/// The proxy path allocates per request (headers, JSON, the usage event);
/// mimalloc's thread-local free lists make that markedly cheaper than
/// glibc malloc under load (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
