//! The `keyway` binary. All logic lives in the library and the services.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
