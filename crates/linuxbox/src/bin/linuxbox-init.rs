//! The in-sandbox supervisor; see `linuxbox::init`.

fn main() -> std::process::ExitCode {
    linuxbox::init::main()
}
