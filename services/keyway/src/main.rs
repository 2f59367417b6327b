//! The `keyway` binary. All logic lives in the library and the services.

mod cli;

/// The proxy path allocates per request (headers, JSON, the usage event);
/// mimalloc's thread-local free lists make that markedly cheaper than
/// glibc malloc under load (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    small_pages();
    cli::main()
}

/// Transparent huge pages off for this process, before any thread starts:
/// with THP, mimalloc's mostly-empty segments and each worker's arena are
/// backed by whole 2 MiB pages, which at 1,000 open streams made the peak
/// RSS about a quarter larger (docs/scaling.md). `MIMALLOC_ALLOW_THP=1`
/// keeps them, for an operator who measures otherwise.
fn small_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some_and(|v| v == "1") {
        return;
    }
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        // Only a memory footprint is at stake; say so and go on.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "keyway: could not turn transparent huge pages off: {e}"
        );
    }
}
