//! Bounded memory and I/O on the usage path, through the real binary: an
//! upstream that never frames an SSE event, and a spool damaged on disk.

mod spool_faults;
mod unframed_sse;

/// A figure from `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in KiB.
pub(crate) fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}
