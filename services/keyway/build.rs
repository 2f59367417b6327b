//! Release builds on Linux lay out the code that runs first: the functions
//! listed in `code-order.txt` (what start-up and serving execute, recorded by
//! `scripts/code-order.sh`) go into output sections ahead of `.text`, one per
//! group of the list: what the gateway runs, then what the other services add.
//!
//! Why: the kernel maps a binary's code 64 KiB at a time as it is touched,
//! and the code a process runs is spread over the whole 24 MB `.text`, so a
//! gateway kept about 15 MiB of code resident for a working set of about
//! 4.5 MB. Grouped, about 5 MiB stays resident (docs/benchmarks.md).
//!
//! The list holds symbol names without their hashes, as linker-script
//! globs, so that a dependency bump (which changes every hash) does not make
//! it stale. A function missing from the list still links, in `.text`; a
//! name in the list that no longer exists matches nothing. `KEYWAY_CODE_ORDER=off`
//! leaves the layout to the linker, for linkers without linker scripts.
//! Generic instances are the exception (see scripts/code_order.py).

use std::{env, error::Error, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=code-order.txt");
    println!("cargo:rerun-if-env-changed=KEYWAY_CODE_ORDER");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let off = env::var("KEYWAY_CODE_ORDER").is_ok_and(|v| v == "off");
    if !release || !linux {
        return Ok(());
    }
    // Relative relocations packed (DT_RELR, glibc 2.36+, Debian 12): the
    // loader reads the table once at start, and it was 1.1 MiB of the
    // process's resident pages; packed, it is a few KiB.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    if off {
        return Ok(());
    }
    if let Some(script) = linker_script(&fs::read_to_string("code-order.txt")?) {
        let path = PathBuf::from(env::var("OUT_DIR")?).join("code-order.ld");
        fs::write(&path, script)?;
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", path.display());
    }
    Ok(())
}

/// One output section per `[group]` of the list, in the list's order, each
/// holding the functions whose names start with one of the group's lines.
/// A group is one input description: the linker tests each input section
/// once against all of its names.
fn linker_script(list: &str) -> Option<String> {
    // Names before the first `[group]` line go to a group of their own.
    let mut groups: Vec<(&str, Vec<&str>)> = vec![("hot", Vec::new())];
    for line in list.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some(group) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            groups.push((group, Vec::new()));
        } else if let Some((_, names)) = groups.last_mut() {
            names.push(line);
        }
    }
    groups.retain(|(_, names)| !names.is_empty());
    if groups.is_empty() {
        return None;
    }
    let mut script = String::from("SECTIONS {\n");
    for (group, names) in groups {
        script.push_str(&format!("  .text.{group} : {{ *(\n"));
        for name in names {
            // LLVM puts a function it deems cold (a `#[cold]` one, a slow
            // path) in `.text.unlikely.<name>`.
            script.push_str(&format!("    .text.{name}* .text.unlikely.{name}*\n"));
        }
        script.push_str("  ) }\n");
    }
    script.push_str("}\nINSERT BEFORE .text;\n");
    Some(script)
}
