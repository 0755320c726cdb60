//! The `modrepro` binary: all of it lives in the library; see `cli.rs`.

fn main() -> std::process::ExitCode {
    modrepro::cli::main()
}
